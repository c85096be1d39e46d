"""Turning a denied Decision into the error the contract prescribes."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NoReturn
from uuid import UUID

from policies.decision import Decision, Reason

from .. import audit
from ..audit import Action, Caller
from ..errors import BryggaError, Forbidden, Gone, NoOrganisation, NotFound, NotOwningUnit, OwnEmergency
from ..runtime import Runtime
from ..store import audit_review as review_store

Answers = Mapping[Reason, Callable[[], BryggaError]]


def raise_if_denied(decision: Decision, answers: Answers | None = None) -> None:
    """403 for a role (organisation, owning-unit) refusal, 410 for shredded content, else 404: existence is not revealed.

    `answers`: the errors of reasons that only the caller's own rules give (a 403, 409 or 422 of one
    endpoint), checked first. Reasons that other decisions give too (a consent revoked, emergency not
    permitted) stay 404 everywhere else, where they would reveal what the caller may not see.
    """
    if decision:
        return
    for reason in decision.reason_codes:
        if answers and reason in answers:
            raise answers[reason]()
    if Reason.FORBIDDEN_ROLE in decision.reason_codes:
        raise Forbidden("your roles do not allow this")
    if Reason.NO_ORGANISATION in decision.reason_codes:
        raise NoOrganisation("an auditor's token must name the organisations audited (claim organisations)")
    if Reason.OWN_EMERGENCY in decision.reason_codes:
        raise OwnEmergency("no one reviews their own emergency access")
    if Reason.NOT_OWNING_UNIT in decision.reason_codes:
        raise NotOwningUnit("only the owning unit may do this")
    if Reason.SHREDDED in decision.reason_codes:
        raise Gone("the document was shredded; its content no longer exists")
    raise NotFound()


async def refuse(rt: Runtime, caller: Caller, decision: Decision, action: Action | None, *,
                 client_id: UUID | None = None, document_id: UUID | None = None,
                 consent_id: UUID | None = None, grant_id: UUID | None = None) -> NoReturn:
    """Record a refusal made before anything was read (the role gate) under `action`, then raise its error.

    The event names the ids of the request's path, and an emergency grant's client (as a verdict's event does).
    No action: the call has no audited action (units), and the refusal is only answered.
    """
    if action is not None:
        async with rt.pool.acquire() as conn, conn.transaction():
            if grant_id is not None and client_id is None:
                grant = await review_store.grant(conn, grant_id)
                client_id = grant["client_id"] if grant is not None else None
            await audit.record(conn, action, caller=caller, decision=decision, client_id=client_id,
                               document_id=document_id, consent_id=consent_id)
    raise_if_denied(decision)
    raise AssertionError("refuse() takes a denial")  # pragma: no cover - an allowed decision is a caller's bug
