"""Rules for recording a consent, and a consent's status at an instant (pure; LEGAL.md).

A consent must be scoped (recipient zone or unit, categories, purposes, period) and
not overly general; written consent needs the signed form as evidence; a minor's own
consent counts only with a recorded maturity assessment (OSL 12:2, 12:3; FB 6:11).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from .model import Consent, Zone

Status = Literal["pending", "active", "expired", "revoked"]


@dataclass(frozen=True, slots=True)
class ConsentDraft:
    """A consent as staff ask to record it, before it is checked."""

    from_zone: Zone
    to_zone: Zone
    valid_from: datetime
    valid_until: datetime
    given_by: str
    form: str
    maturity_assessed: bool
    has_evidence: bool  # an active consent_form document of the same client was named
    recorder_zone: Zone


@dataclass(frozen=True, slots=True)
class RuleViolation:
    code: str
    field: str
    message: str


def check_draft(draft: ConsentDraft, *, client_is_minor: bool, max_days: int) -> list[RuleViolation]:
    """Every rule the draft breaks, in a stable order (empty when it may be recorded)."""
    problems = []
    if draft.from_zone == draft.to_zone:
        problems.append(RuleViolation("same_zone", "to", "from and to are the same zone; inside a zone no consent is needed"))
    if draft.recorder_zone not in (draft.from_zone, draft.to_zone):
        problems.append(RuleViolation("validation_failed", "from", "the recording unit's zone must be the from or the to zone"))
    if draft.valid_until <= draft.valid_from:
        problems.append(RuleViolation("invalid_period", "valid_until", "must be after valid_from"))
    elif draft.valid_until - draft.valid_from > timedelta(days=max_days):
        # Not overly general: a consent is limited in time (Socialstyrelsen's guidance on samtycke).
        problems.append(RuleViolation("invalid_period", "valid_until", f"a consent may last at most {max_days} days"))
    if draft.form == "written" and not draft.has_evidence:
        problems.append(RuleViolation("evidence_required", "evidence_document_id",
                                      "written consent needs the signed form: a consent_form document of this client"))
    # OSL 12:3, FB 6:11: a child's own consent only with an assessment of maturity, otherwise the guardian's.
    if client_is_minor and draft.given_by == "client" and not draft.maturity_assessed:
        problems.append(RuleViolation("minor_requires_guardian_or_maturity", "given_by",
                                      "the client is under 18: the guardian consents, or record a maturity assessment"))
    return problems


def status(consent: Consent, *, now: datetime) -> Status:
    """pending before valid_from, revoked once revoked, expired from valid_until, else active."""
    if consent.revoked_at is not None and consent.revoked_at <= now:
        return "revoked"
    if now < consent.valid_from:
        return "pending"
    if now >= consent.valid_until:
        return "expired"
    return "active"
