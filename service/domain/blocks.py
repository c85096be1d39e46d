"""Lifting the client's blocks for a while, on the client's consent or in a health-care emergency (PDL 4:4;
policies/blocks.py), and ending a lifting early. Reads under a lifting are decide()'s (decide.running_lifting).
"""
from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import asyncpg

from policies.blocks import LiftingDraft, decide_lifting, decide_lifting_end, lifting_violations
from policies.decide import Request
from policies.decision import Reason
from policies.roles import Permission

from ..audit import Action, Caller
from ..errors import EmergencyNotPermitted, EvidenceRequired, InvalidLifting
from ..runtime import Runtime
from ..store import block_liftings as liftings_store
from ..store import facts as facts_store
from .access import Judged, access
from .commands import NewLifting
from .consents import signed_form

_RECORD = "block_lifting"


def lifting_json(row: Any) -> dict[str, Any]:
    """The contract's lifting object."""
    return {"id": row["id"], "client_id": row["client_id"], "unit": row["unit_id"], "user": row["sub"],
            "basis": row["basis"], "scope": row["scope"], "opened_at": row["opened_at"],
            "expires_at": row["expires_at"], "ended_at": row["ended_at"]}


async def lift(rt: Runtime, caller: Caller, client_id: UUID, command: NewLifting) -> dict[str, Any]:
    """Open a lifting; raises Forbidden, NotFound, EmergencyNotPermitted (403), ValidationFailed, EvidenceRequired.
    A refused lifting leaves no row and its denied event."""
    principal, lifting_id = caller.principal, uuid4()
    hours = rt.settings.emergency_hours

    async def judge(conn: asyncpg.Connection) -> Judged:
        facts = await facts_store.for_client(conn, client_id, principal=principal)
        evidence = command.evidence_document_id
        draft = LiftingDraft(id=str(lifting_id), basis=command.basis, scope=command.scope, hours=command.hours,
                             reason=command.reason, form=command.form,
                             has_evidence=evidence is not None
                             and await signed_form(rt, conn, caller, evidence, client_id=client_id))
        decision = decide_lifting(Request(principal, Permission.BLOCK_LIFT), facts, draft, emergency_hours=hours,
                                  config=rt.policy)
        return Judged(decision, facts, draft, client_id)

    def broken() -> InvalidLifting:
        draft = LiftingDraft(id="", basis=command.basis, scope=command.scope, hours=command.hours,
                             reason=command.reason, form=command.form, has_evidence=False)
        problems = lifting_violations(draft, emergency_hours=hours)
        return InvalidLifting([{"field": p.field, "message": p.message} for p in problems])

    permitted = ", ".join(sorted(rt.policy.emergency_domains)) or "none"
    answers = {
        Reason.EMERGENCY_NOT_PERMITTED: lambda: EmergencyNotPermitted(
            f"units of your domain may not lift a block in an emergency (permitted: {permitted})"),
        Reason.LIFTING_NOT_ALLOWED: broken,
        Reason.EVIDENCE_REQUIRED: lambda: EvidenceRequired([{
            "field": "evidence_document_id",
            "message": "written consent needs the signed form: a consent_form document of this client"}]),
    }
    async with access(rt, caller, Action.BLOCK_LIFT, judge, client_id=client_id, answers=answers) as act:
        assert principal.unit is not None and principal.zone is not None  # allowed: decide() saw a unit and zone
        act.row = await liftings_store.insert(
            act.conn, lifting_id=lifting_id, client_id=client_id, unit=principal.unit, zone=principal.zone,
            sub=principal.sub, sub_name=principal.name, basis=command.basis, scope=command.scope, form=command.form,
            evidence_document_id=command.evidence_document_id, hours=command.hours,
            reason_sealed=rt.field_sealer.seal(command.reason, record=_RECORD, record_id=str(lifting_id),
                                               field="reason"))
    return lifting_json(act.row)


async def end(rt: Runtime, caller: Caller, lifting_id: UUID) -> dict[str, Any]:
    """End a lifting early (the unit that opened it); raises Forbidden, NotFound."""
    principal = caller.principal

    async def judge(conn: asyncpg.Connection) -> Judged:
        row = await liftings_store.get(conn, lifting_id, lock=True)
        request = Request(principal, Permission.BLOCK_LIFT)
        if row is None:
            return Judged(decide_lifting_end(request, None, None, rt.policy))
        facts = await facts_store.for_client(conn, row["client_id"], principal=principal)
        return Judged(decide_lifting_end(request, facts, liftings_store.model(row), rt.policy), facts, row,
                      row["client_id"])

    async with access(rt, caller, Action.BLOCK_LIFT_END, judge) as act:
        act.row = await liftings_store.end(act.conn, lifting_id, by=principal.sub)
    return lifting_json(act.row)

