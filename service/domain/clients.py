"""Clients: registration, lookup by personal number and reading, each audited."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from policies.audit import auditor_scope, decide_auditor_lookup
from policies.candidates import candidates
from policies.decide import Request
from policies.personal_number import InvalidPersonalNumber, PersonalNumber, is_minor, parse_personal_number
from policies.relations import decide_unit_clients
from policies.roles import Permission, role_gate

from ..audit import Action, Caller
from ..errors import NotFound, PersonalNumberRefused
from ..runtime import Runtime
from ..store import clients as clients_store
from ..store import documents as documents_store
from .access import Judged, access, client_access, decided
from .paging import Paged, paged

_RECORD = "client"


def _client_json(rt: Runtime, client_id: UUID, birth_date: Any) -> dict[str, Any]:
    return {"id": str(client_id), "birth_date": birth_date.isoformat(), "is_minor": is_minor(birth_date, today=rt.today())}


def _blind_index(rt: Runtime, personal_number: str) -> tuple[PersonalNumber, bytes]:
    try:
        parsed = parse_personal_number(personal_number, today=rt.today())
    except InvalidPersonalNumber as exc:
        # The message names the problem, never the number.
        raise PersonalNumberRefused(
            [{"field": "personal_number", "message": str(exc)}], "not a valid personnummer or samordningsnummer",
        ) from None
    return parsed, rt.field_sealer.blind_index(parsed.canonical, kind="personal_number")


async def register(rt: Runtime, caller: Caller, *, personal_number: str, name: str) -> tuple[dict[str, Any], bool]:
    """Register a client, or find the one with this number; (client, created).

    Raises Forbidden, ValidationFailed(invalid_personal_number).
    """
    decision = role_gate(caller.principal.roles, Permission.CLIENT_REGISTER)
    parsed, index = _blind_index(rt, personal_number) if decision else (None, b"")
    client_id = uuid4()
    async with access(rt, caller, Action.CLIENT_REGISTER, decided(decision)) as act:
        assert parsed is not None  # parsed whenever the role gate allowed
        created = await clients_store.insert(
            act.conn,
            client_id=client_id,
            personal_number_index=index,
            personal_number_sealed=rt.field_sealer.seal(parsed.canonical, record=_RECORD, record_id=str(client_id),
                                                        field="personal_number"),
            name_sealed=rt.field_sealer.seal(name, record=_RECORD, record_id=str(client_id), field="name"),
            birth_date=parsed.birth_date,
            unit=caller.principal.unit,
        )
        act.client_id = client_id if created else await clients_store.id_by_index(act.conn, index)
    found = act.client_id
    # Allowed: parsed above; not created means the number's index was taken, so id_by_index found that client.
    assert parsed is not None and found is not None
    return _client_json(rt, found, parsed.birth_date), created


async def lookup(rt: Runtime, caller: Caller, *, personal_number: str) -> dict[str, Any]:
    """The id of the client with this number; raises Forbidden, ValidationFailed, NotFound."""
    decision = role_gate(caller.principal.roles, Permission.CLIENT_LOOKUP)
    index = _blind_index(rt, personal_number)[1] if decision else b""
    async with access(rt, caller, Action.CLIENT_LOOKUP, decided(decision)) as act:
        act.client_id = await clients_store.id_by_index(act.conn, index)
    if act.client_id is None:
        raise NotFound("no client with that personal number")
    return {"id": str(act.client_id)}


async def lookup_for_audit(rt: Runtime, caller: Caller, *, personal_number: str) -> dict[str, Any]:
    """An auditor's lookup by personal number, for the client's log extract (the web interface; policies/audit.py
    decide_auditor_lookup): audited as client.lookup, allowed or denied, like staff's. Raises Forbidden,
    NoOrganisation, ValidationFailed, NotFound."""
    principal = caller.principal
    decision = decide_auditor_lookup(principal)
    index = _blind_index(rt, personal_number)[1] if decision else b""

    async def judge(conn: asyncpg.Connection) -> Judged:
        found = await clients_store.id_by_index(conn, index)
        scope = auditor_scope(principal)
        known = found is not None and (scope.whole or await clients_store.known_to(conn, found, sorted(scope.organisations)))
        # The event names the client looked up, found in scope or not: the client's own extract shows the look.
        return Judged(decide_auditor_lookup(principal, found=found is not None, known_in_scope=known), client_id=found)

    async with access(rt, caller, Action.CLIENT_LOOKUP, judge if decision else decided(decision)) as act:
        pass
    return {"id": str(act.client_id)}


# Before every (started_at, id) key in descending order: where a newest-first listing starts.
NEWEST = (datetime(9999, 1, 1, tzinfo=UTC), UUID(int=(1 << 128) - 1))


async def of_unit(rt: Runtime, caller: Caller, *, before: tuple[datetime, UUID], limit: int) -> Paged[dict[str, Any]]:
    """"Mina klienter": the clients the caller's unit has an active relation with, newest relation first, with
    their names (policies/relations.py decide_unit_clients). The list is one event, and each client shown one more
    (client.list naming the client), so every client's extract shows that the unit's list named them."""
    decision = decide_unit_clients(caller.principal)
    async with access(rt, caller, Action.CLIENT_LIST, decided(decision)) as act:
        assert caller.principal.unit is not None  # decide_unit_clients allows only a caller with a unit
        rows = await clients_store.of_unit(act.conn, caller.principal.unit, before=before, limit=limit + 1)
        for row in rows[:limit]:
            act.also_record(Action.CLIENT_LIST, decision, client_id=row["id"])
    items = []
    for row in rows:
        client = _client_json(rt, row["id"], row["birth_date"])
        client.update(name=rt.field_sealer.open_text(row["name_sealed"], record=_RECORD, record_id=str(row["id"]),
                                                    field="name"),
                      kind=row["kind"], since=row["started_at"])
        items.append(client)
    return paged(items, limit)


async def read(rt: Runtime, caller: Caller, client_id: UUID) -> dict[str, Any]:
    """The client with its name, for a caller whose unit has an active relation; raises Forbidden, NotFound."""
    async with client_access(rt, caller, Permission.CLIENT_READ, Action.CLIENT_READ, client_id) as act:
        row = await clients_store.get(act.conn, client_id)
        # That information blocked from the caller exists, not where or what (PDL 4:4): documents the caller's
        # candidates would admit but for a block, in other units (none while a lifting runs for it).
        hidden = candidates(Request(caller.principal, Permission.DOCUMENT_READ_METADATA), act.now_facts, rt.policy)
        blocked_elsewhere = await documents_store.blocked_elsewhere(act.conn, client_id, hidden)
    assert row is not None  # allowed: decide() found the client (client_exists), in this transaction
    client = _client_json(rt, row["id"], row["birth_date"])
    client["name"] = rt.field_sealer.open_text(row["name_sealed"], record=_RECORD, record_id=str(client_id), field="name")
    client["blocked_elsewhere"] = blocked_elsewhere
    return client

