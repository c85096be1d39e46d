"""Rules for recording a consent, and a consent's status at an instant (pure; LEGAL.md).

A consent must be scoped (recipient zone or unit, categories, purposes, period) and
not overly general; written consent needs the signed form as evidence; a minor's own
consent counts only with a recorded maturity assessment (OSL 12:2, 12:3; FB 6:11).

Secrecy is the holding zone's (OSL 25:1, 26:1), so the holding (from) zone stands
behind every consent that opens its records: one its own unit records is confirmed
at once; one the receiving (to) zone records waits, `awaiting_confirmation`, opening
nothing, until a unit of the holding zone confirms it. A consent the client gives
themself (the client's own view, OSL 12:1, not built yet) needs no one's confirmation.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from .model import Consent, Zone

Status = Literal["awaiting_confirmation", "pending", "active", "expired", "revoked"]


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
    recorder_zone: Zone | None  # the recording unit's zone; None only when the client records it
    # The client gives it themself, in their own view (API-1.1 "The client's own view"; not built yet):
    # no staff member records it, and no zone needs to confirm it.
    recorded_by_client: bool = False


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
    if not draft.recorded_by_client and draft.recorder_zone not in (draft.from_zone, draft.to_zone):
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


def confirmed_on_recording(draft: ConsentDraft) -> bool:
    """Whether the consent is confirmed as it is recorded: by a unit of the holding (from) zone, or by the client.

    One recorded by the receiving (to) zone is not: the zone that holds the records has not stood behind it.
    """
    return draft.recorded_by_client or draft.recorder_zone == draft.from_zone


def is_confirmed(consent: Consent, *, now: datetime) -> bool:
    """Whether the holding zone (or the client) stood behind the consent by `now`."""
    return consent.confirmed_at is not None and consent.confirmed_at <= now


def in_force(consent: Consent, *, now: datetime) -> bool:
    """Whether the consent can open anything at `now`: not revoked, and `now` within its period.

    The others can only tell a denial why (revoked, pending, expired: decide's reason codes), so a decision's
    facts carry only the consents in force (service/store/facts.py says the same in SQL), and the whole history
    is loaded when a decision denies (#13: a request must not cost by the client's consent history). A
    consent not in force never opens (covers returns a reason first), so decide() allows the same with these
    alone (tests/unit/test_decide_properties.py).
    """
    return (consent.revoked_at is None or consent.revoked_at > now) and consent.valid_from <= now < consent.valid_until


def status(consent: Consent, *, now: datetime) -> Status:
    """revoked once revoked; expired from valid_until; awaiting_confirmation until the holding zone confirms it;
    pending before valid_from; else active.

    An unconfirmed consent that was revoked or expired says so (it can no longer be confirmed); one that
    waits for confirmation says so before valid_from too, so the holding zone finds it.
    """
    if consent.revoked_at is not None and consent.revoked_at <= now:
        return "revoked"
    if now >= consent.valid_until:
        return "expired"
    if not is_confirmed(consent, now=now):
        return "awaiting_confirmation"
    if now < consent.valid_from:
        return "pending"
    return "active"
