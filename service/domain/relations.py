"""Relations: a unit opens and ends its case or care relation with a client."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from policies.decide import Request, decide
from policies.decision import Reason, deny
from policies.roles import Permission

from .. import audit
from ..audit import Action, Caller
from ..runtime import Runtime
from ..store import facts as facts_store
from ..store import relations as relations_store
from .access import raise_if_denied


def relation_json(row: Any) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "client_id": str(row["client_id"]),
        "unit": row["unit_id"],
        "started_at": row["started_at"],
        "ended_at": row["ended_at"],
    }


async def open_relation(rt: Runtime, caller: Caller, client_id: UUID) -> tuple[dict[str, Any], bool]:
    """The caller's unit's active relation with the client, opened if needed; (relation, created).

    Raises Forbidden, NotFound (no such client).
    """
    async with rt.pool.acquire() as conn, conn.transaction():
        facts = await facts_store.for_client(conn, client_id, principal=caller.principal)
        decision = decide(Request(caller.principal, Permission.RELATION_OPEN), facts, rt.policy)
        row, created = None, False
        if decision:
            assert caller.principal.unit is not None  # decide() allows only a caller with a unit (else no_unit)
            row, created = await relations_store.open_or_get(
                conn, relation_id=uuid4(), client_id=client_id, unit=caller.principal.unit, by=caller.principal.sub
            )
        await audit.record(conn, Action.RELATION_OPEN, caller=caller, decision=decision, client_id=client_id)
    raise_if_denied(decision)
    return relation_json(row), created


async def end_relation(rt: Runtime, caller: Caller, client_id: UUID, relation_id: UUID) -> dict[str, Any]:
    """End the caller's unit's active relation; raises Forbidden, NotFound (no such active relation of the unit)."""
    async with rt.pool.acquire() as conn, conn.transaction():
        facts = await facts_store.for_client(conn, client_id, principal=caller.principal)
        decision = decide(Request(caller.principal, Permission.RELATION_END), facts, rt.policy)
        row = None
        if decision:
            assert caller.principal.unit is not None  # decide() allows only a caller with a unit (else no_unit)
            row = await relations_store.end(conn, relation_id, client_id=client_id, unit=caller.principal.unit, by=caller.principal.sub)
            if row is None:
                decision = deny(Reason.UNKNOWN_RELATION)
        await audit.record(conn, Action.RELATION_END, caller=caller, decision=decision, client_id=client_id)
    raise_if_denied(decision)
    return relation_json(row)


async def page_in_zone(rt: Runtime, caller: Caller, client_id: UUID, *, after: tuple[datetime, UUID],
                       limit: int) -> list[dict[str, Any]]:
    """Relations of the client with units of the caller's zone; raises Forbidden, NotFound."""
    async with rt.pool.acquire() as conn, conn.transaction():
        facts = await facts_store.for_client(conn, client_id, principal=caller.principal)
        decision = decide(Request(caller.principal, Permission.RELATION_LIST), facts, rt.policy)
        rows: list[asyncpg.Record] = []
        if decision:
            zone = caller.principal.zone
            assert zone is not None  # decide() allows only a caller with a unit and zone (else no_unit)
            rows = await relations_store.page_in_zone(
                conn, client_id, organisation=zone.organisation, domain=zone.domain, after=after, limit=limit
            )
        await audit.record(conn, Action.RELATION_LIST, caller=caller, decision=decision, client_id=client_id)
    raise_if_denied(decision)
    return [relation_json(row) for row in rows]
