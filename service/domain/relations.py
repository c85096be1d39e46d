"""Relations: a unit opens and ends its case or care relation with a client."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from policies.decision import Reason
from policies.roles import Permission

from ..audit import Action, Caller
from ..runtime import Runtime
from ..store import relations as relations_store
from .access import client_access
from .paging import Paged, paged


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
    async with client_access(rt, caller, Permission.RELATION_OPEN, Action.RELATION_OPEN, client_id) as act:
        row, created = await relations_store.open_or_get(
            act.conn, relation_id=uuid4(), client_id=client_id, unit=_unit(caller), by=caller.principal.sub)
    return relation_json(row), created


async def end_relation(rt: Runtime, caller: Caller, client_id: UUID, relation_id: UUID) -> dict[str, Any]:
    """End the caller's unit's active relation; raises Forbidden, NotFound (no such active relation of the unit)."""
    async with client_access(rt, caller, Permission.RELATION_END, Action.RELATION_END, client_id) as act:
        row = await relations_store.end(act.conn, relation_id, client_id=client_id, unit=_unit(caller),
                                        by=caller.principal.sub)
        if row is None:
            act.deny(Reason.UNKNOWN_RELATION)
    return relation_json(row)


async def page_in_zone(rt: Runtime, caller: Caller, client_id: UUID, *, after: tuple[datetime, UUID],
                       limit: int) -> Paged[dict[str, Any]]:
    """Relations of the client with units of the caller's zone; raises Forbidden, NotFound."""
    async with client_access(rt, caller, Permission.RELATION_LIST, Action.RELATION_LIST, client_id) as act:
        zone = caller.principal.zone
        assert zone is not None  # decide() allows only a caller with a unit and zone (else no_unit)
        rows = await relations_store.page_in_zone(
            act.conn, client_id, organisation=zone.organisation, domain=zone.domain, after=after, limit=limit + 1)
    return paged([relation_json(row) for row in rows], limit)


def _unit(caller: Caller) -> str:
    unit = caller.principal.unit
    assert unit is not None  # decide() allows only a caller with a unit (else no_unit)
    return unit
