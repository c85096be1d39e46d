"""Disclosure without consent (OSL 25:12, 26:9): the holding unit hands named documents to a unit of the other
domain, with ground, need, decider and date; the receiver reads exactly those (policies/decide.py `disclosed`).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from policies.decide import Request
from policies.decision import Reason
from policies.disclosures import DisclosureDraft, decide_disclosure, decide_disclosure_list
from policies.roles import Permission

from ..audit import Action, Caller
from ..errors import GroundNotMet, SameDomain
from ..runtime import SWEDEN, Runtime
from ..store import disclosures as disclosures_store
from ..store import facts as facts_store
from .access import Judged, access
from .commands import NewDisclosure
from .paging import Paged, paged

_RECORD = "disclosure"


def disclosure_json(rt: Runtime, row: Any) -> dict[str, Any]:
    """The contract's disclosure object; the need is opened here, for this response only."""
    return {
        "id": row["id"], "client_id": row["client_id"], "from_unit": row["from_unit"], "to_unit": row["to_unit"],
        "ground": row["ground"],
        "need": rt.field_sealer.open_text(row["need_sealed"], record=_RECORD, record_id=str(row["id"]), field="need"),
        "document_ids": list(row["document_ids"]), "decided_by": row["decided_by"], "decided_at": row["decided_at"],
    }


async def create(rt: Runtime, caller: Caller, client_id: UUID, command: NewDisclosure) -> dict[str, Any]:
    """Decide and record a disclosure, all or nothing; raises Forbidden (role, not_owning_unit), NotFound (client,
    unit or a document unknown or not visible, a document shredded), SameDomain, GroundNotMet (422)."""
    principal, disclosure_id = caller.principal, uuid4()

    async def judge(conn: asyncpg.Connection) -> Judged:
        facts = await facts_store.for_client(conn, client_id, principal=principal)
        rows = await disclosures_store.documents_of_client(conn, client_id, command.document_ids)
        birth = facts.client_birth_date
        today = facts.now.astimezone(SWEDEN).date() if facts.now is not None else rt.today()
        draft = DisclosureDraft(  # no birth date: no such client, and decide() refuses that first
            id=str(disclosure_id), to_zone=await disclosures_store.active_unit_zone(conn, command.to_unit),
            ground=command.ground, today=today, client_birth_date=birth or today,
            documents=tuple(facts_store.document_facts(rows[i]) if i in rows else None for i in command.document_ids))
        return Judged(decide_disclosure(Request(principal, Permission.DISCLOSURE_CREATE), facts, draft, rt.policy),
                      facts, draft, client_id)

    answers = {
        Reason.SAME_DOMAIN: lambda: SameDomain([{"field": "to_unit", "message": "a unit of the other domain: within a "
                                                 "domain this is not the road (OSL 25:12, 26:9)"}]),
        Reason.GROUND_NOT_MET: lambda: GroundNotMet([{"field": "ground", "message": "the client is 18 or older on "
                                                      "the decision's date: under_18 does not hold"}]),
    }
    async with access(rt, caller, Action.DISCLOSURE_CREATE, judge, client_id=client_id, answers=answers) as act:
        draft: DisclosureDraft = act.row
        assert principal.unit is not None and principal.zone is not None and draft.to_zone is not None  # allowed
        need_sealed = rt.field_sealer.seal(command.need, record=_RECORD, record_id=str(disclosure_id), field="need")
        decided_at = await disclosures_store.insert(
            act.conn, disclosure_id=disclosure_id, client_id=client_id, from_unit=principal.unit,
            from_zone=principal.zone, to_unit=command.to_unit, to_zone=draft.to_zone, ground=command.ground,
            need_sealed=need_sealed, decided_by=principal.sub, decided_by_name=principal.name,
            document_ids=command.document_ids)
    return disclosure_json(rt, {
        "id": disclosure_id, "client_id": client_id, "from_unit": principal.unit, "to_unit": command.to_unit,
        "ground": command.ground, "need_sealed": need_sealed, "document_ids": sorted(set(command.document_ids)),
        "decided_by": principal.sub, "decided_at": decided_at})


async def page(rt: Runtime, caller: Caller, client_id: UUID, *, before: tuple[datetime, UUID] | None,
               limit: int, made: bool = True) -> Paged[dict[str, Any]]:
    """The disclosures the caller's unit made (unless `made` is false) or received for the client, newest first;
    raises Forbidden, NotFound."""
    principal = caller.principal

    async def judge(conn: asyncpg.Connection) -> Judged:
        facts = await facts_store.for_client(conn, client_id, principal=principal)
        return Judged(decide_disclosure_list(Request(principal, Permission.DISCLOSURE_LIST), facts, rt.policy), facts)

    async with access(rt, caller, Action.DISCLOSURE_LIST, judge, client_id=client_id) as act:
        assert principal.unit is not None  # allowed: decide() denies a caller without a unit (no_unit)
        rows = await disclosures_store.page_of_unit(act.conn, client_id, principal.unit, before=before, limit=limit + 1,
                                                    made=made)
    return paged([disclosure_json(rt, row) for row in rows], limit)
