"""Lifting the client's blocks (spärr) for a while (PDL 4:4; Act 2022:913; the national block service's practice).

A block keeps a unit's information from every other unit. The client may let it be lifted for a time: for the
person who asks, or for their whole unit, at most 7 days, on the client's consent (given now, recorded as a
consent is: its form, and for a written one the signed form); or, in health care, when the client cannot consent
and the information may matter for care they urgently need, by emergency (a reason, at most the emergency hours,
flagged for review like emergency access). A lifting opens nothing by itself: every other rule still applies
(decide.running_lifting). The unit that opened it may end it early.
"""
from __future__ import annotations

from dataclasses import dataclass

from .decide import Facts, PolicyConfig, Request, decide, may_open_emergency
from .decision import Decision, Reason, allow, deny
from .model import BlockLifting, Principal
from .roles import Permission, role_gate

LAW = "PDL 4:4; Lag (2022:913)"
MAX_HOURS = 168  # 7 days, the national block service's longest temporary lifting
_EMERGENCY_REASON_MIN = 20


@dataclass(frozen=True, slots=True)
class LiftingDraft:
    """A lifting as staff ask for it."""

    id: str
    basis: str  # consent | emergency
    scope: str  # self | unit
    hours: int
    reason: str
    form: str | None  # the consent's form (consent only)
    has_evidence: bool  # an active consent_form document of the client was named


@dataclass(frozen=True, slots=True)
class Violation:
    field: str
    message: str


def lifting_violations(draft: LiftingDraft, *, emergency_hours: int) -> list[Violation]:
    """The terms of the lifting that break a rule (empty when none), in a stable order."""
    problems = []
    if not 1 <= draft.hours <= MAX_HOURS:
        problems.append(Violation("hours", f"from 1 to {MAX_HOURS}"))
    if draft.basis == "consent" and draft.form is None:
        problems.append(Violation("form", "a lifting on the client's consent says how it was given"))
    if draft.basis == "emergency":
        if draft.form is not None:
            problems.append(Violation("form", "an emergency lifting is made without the client's consent: no form"))
        if len(draft.reason.strip()) < _EMERGENCY_REASON_MIN:
            problems.append(Violation("reason", f"an emergency lifting needs a reason of at least {_EMERGENCY_REASON_MIN} characters"))
        if draft.hours > emergency_hours:
            problems.append(Violation("hours", f"an emergency lifting lasts at most {emergency_hours} hours"))
    return problems


def decide_lifting(request: Request, facts: Facts, draft: LiftingDraft, *, emergency_hours: int,
                   config: PolicyConfig | None = None) -> Decision:
    """Whether the caller may open the lifting; allowed under `lifting:<id>` (flagged for an emergency one).

    The caller's decide() first (role, unit, client, relation); then emergency only from a unit of a domain
    that may open emergency access (emergency_not_permitted); then the terms (lifting_not_allowed) and, for a
    written consent, the signed form (evidence_required).
    """
    if request.permission is not Permission.BLOCK_LIFT:
        raise ValueError(f"decide_lifting decides {Permission.BLOCK_LIFT}, not {request.permission}")
    config = config or PolicyConfig()
    decision = decide(request, facts, config)
    if not decision:
        return decision
    if draft.basis == "emergency" and not may_open_emergency(request.principal, config):
        return deny(Reason.EMERGENCY_NOT_PERMITTED, legal_basis=LAW)
    if lifting_violations(draft, emergency_hours=emergency_hours):
        return deny(Reason.LIFTING_NOT_ALLOWED, legal_basis=LAW)
    if draft.basis == "consent" and draft.form == "written" and not draft.has_evidence:
        return deny(Reason.EVIDENCE_REQUIRED, legal_basis="OSL 12:2; PDL 4:4")
    return allow(f"lifting:{draft.id}", legal_basis=LAW, flagged=draft.basis == "emergency")


def decide_lifting_end(request: Request, facts: Facts | None, lifting: BlockLifting | None,
                       config: PolicyConfig | None = None) -> Decision:
    """Ending a lifting early: the caller's decide() on its client, and only the unit that opened it (another
    unit's, or none at all, is unknown_lifting: a 404 that says nothing of other units' liftings)."""
    if lifting is None or facts is None:  # no client to decide on: the role gate, then unknown
        gate = role_gate(request.principal.roles, request.permission)
        return gate if not gate else deny(Reason.UNKNOWN_LIFTING, legal_basis=LAW)
    decision = decide(request, facts, config or PolicyConfig())
    if not decision:
        return decision
    who: Principal = request.principal
    if lifting.unit != who.unit:
        return deny(Reason.UNKNOWN_LIFTING, legal_basis=LAW)
    return allow(f"lifting:{lifting.id}", legal_basis=LAW)
