"""Relations: a unit opens and ends its case or care relation with a client, of a kind, for a reason.

The kind (policies/relations.py) and whether a reason was stated go into the audit event's reasons; the reason
itself is sealed in the relation like other free text (record "relation", field "reason") and never logged.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from policies import relations as relation_rules
from policies.decision import Reason
from policies.roles import Permission

from ..audit import Action, Caller
from ..runtime import Runtime
from ..store import relations as relations_store
from .access import client_access
from .paging import Paged, paged

_RECORD = "relation"


def relation_json(rt: Runtime, row: Any) -> dict[str, Any]:
    reason = row["reason_sealed"]
    return {
        "id": str(row["id"]),
        "client_id": str(row["client_id"]),
        "unit": row["unit_id"],
        "kind": row["kind"],
        "reason": rt.field_sealer.open_text(reason, record=_RECORD, record_id=str(row["id"]), field="reason")
        if reason is not None else None,
        "started_at": row["started_at"],
        "ended_at": row["ended_at"],
    }


async def open_relation(rt: Runtime, caller: Caller, client_id: UUID, *, kind: str | None = None,
                        reason: str | None = None) -> tuple[dict[str, Any], bool]:
    """The caller's unit's active relation with the client, opened if needed, of `kind` (default: the unit's
    domain's, policies.relations.default_kind) for `reason`; (relation, created). An active relation is returned
    as it is, with its own kind and reason: end it to open one of another kind.

    Raises Forbidden, NotFound (no such client).
    """
    relation_id = uuid4()
    async with client_access(rt, caller, Permission.RELATION_OPEN, Action.RELATION_OPEN, client_id) as act:
        zone = caller.principal.zone
        assert zone is not None  # decide() allows only a caller with a unit and zone (else no_unit)
        sealed = None if reason is None else rt.field_sealer.seal(reason, record=_RECORD, record_id=str(relation_id),
                                                                   field="reason")
        row, created = await relations_store.open_or_get(
            act.conn, relation_id=relation_id, client_id=client_id, unit=_unit(caller), by=caller.principal.sub,
            kind=kind or relation_rules.default_kind(zone.domain), reason_sealed=sealed)
        # The event says what the caller now has: the relation's kind, and whether it states a reason.
        act.decision = relation_rules.opened(act.decision, kind=row["kind"],
                                             reason_stated=row["reason_sealed"] is not None)
    return relation_json(rt, row), created


async def end_relation(rt: Runtime, caller: Caller, client_id: UUID, relation_id: UUID) -> dict[str, Any]:
    """End the caller's unit's active relation; raises Forbidden, NotFound (no such active relation of the unit)."""
    async with client_access(rt, caller, Permission.RELATION_END, Action.RELATION_END, client_id) as act:
        row = await relations_store.end(act.conn, relation_id, client_id=client_id, unit=_unit(caller),
                                        by=caller.principal.sub)
        if row is None:
            act.deny(Reason.UNKNOWN_RELATION)
    return relation_json(rt, row)


async def page_in_zone(rt: Runtime, caller: Caller, client_id: UUID, *, after: tuple[datetime, UUID],
                       limit: int) -> Paged[dict[str, Any]]:
    """Relations of the client with units of the caller's zone; raises Forbidden, NotFound."""
    async with client_access(rt, caller, Permission.RELATION_LIST, Action.RELATION_LIST, client_id) as act:
        zone = caller.principal.zone
        assert zone is not None  # decide() allows only a caller with a unit and zone (else no_unit)
        rows = await relations_store.page_in_zone(
            act.conn, client_id, organisation=zone.organisation, domain=zone.domain, after=after, limit=limit + 1)
    return paged([relation_json(rt, row) for row in rows], limit)


def _unit(caller: Caller) -> str:
    unit = caller.principal.unit
    assert unit is not None  # decide() allows only a caller with a unit (else no_unit)
    return unit
