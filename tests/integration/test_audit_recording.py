"""Audit from the first line: one event per client-data action, in the action's transaction, append-only."""
from __future__ import annotations

import uuid

import asyncpg
import pytest

from policies.decision import Basis, Reason, allow, deny
from policies.model import Principal, Role, Zone
from service import audit
from service.audit import Action, Caller


@pytest.fixture
async def world(api):
    await api.unit("malmo-iof")
    await api.unit("malmo-socialjour")
    return api.staff("malmo-iof", sub="hsa-iof-1"), api.staff("malmo-socialjour", sub="hsa-jour-1")


async def _events(db) -> list[asyncpg.Record]:
    return await db.fetch("SELECT * FROM audit_events ORDER BY seq")


async def test_every_client_action_is_recorded_allowed_or_denied(client, api, world, db, tokens):
    staff, other = world
    created = await api.register(staff)
    client_id = uuid.UUID(created["id"])
    await client.post("/v1/clients/lookup", headers=staff, json={"personal_number": "19121212-1212"})
    await client.get(f"/v1/clients/{client_id}", headers=other)  # no relation: denied
    relation = await api.relation(staff, str(client_id))
    await client.get(f"/v1/clients/{client_id}", headers=staff, params={}, )
    await client.get(f"/v1/clients/{client_id}/relations", headers=staff)
    await client.post(f"/v1/clients/{client_id}/relations/{relation['id']}/end", headers=staff)
    await client.get(f"/v1/clients/{client_id}", headers=tokens.auth(sub="auditor-1", roles=["auditor"]))

    rows = await _events(db)
    summary = [(r["action"], r["decision"], r["actor_sub"], list(r["reason_codes"])) for r in rows]
    assert summary == [
        ("client.register", "allow", "hsa-iof-1", []),
        ("client.lookup", "allow", "hsa-iof-1", []),
        ("client.read", "deny", "hsa-jour-1", ["no_relation"]),
        ("relation.open", "allow", "hsa-iof-1", ["relation_kind:case", "relation_reason:none"]),  # #14: the kind
        ("client.read", "allow", "hsa-iof-1", []),
        ("relation.list", "allow", "hsa-iof-1", []),
        ("relation.end", "allow", "hsa-iof-1", []),
        ("client.read", "deny", "auditor-1", ["forbidden_role"]),
    ]
    assert all(r["client_id"] == client_id for r in rows)
    read = rows[4]
    assert read["basis"] == "own_zone" and read["actor_unit"] == "malmo-iof"
    assert (read["actor_organisation"], read["actor_domain"]) == ("malmo-stad", "social")
    assert read["actor_roles"] == ["staff"] and read["request_id"] and read["remote_addr"] == "127.0.0.1"
    assert rows[-1]["actor_unit"] is None and rows[-1]["basis"] == "none"


async def test_request_id_ties_event_to_response(client, api, world, db):
    staff, _ = world
    response = await client.post("/v1/clients", headers={**staff, "X-Request-Id": "req-77"},
                                 json={"personal_number": "19121212-1212", "name": "Tolvan"})
    assert response.status == 201
    assert await db.fetchval("SELECT request_id FROM audit_events WHERE action = 'client.register'") == "req-77"


async def test_unknown_client_denial_is_recorded(client, world, db):
    staff, _ = world
    missing = uuid.uuid4()
    assert (await client.get(f"/v1/clients/{missing}", headers=staff)).status == 404
    row = await db.fetchrow("SELECT * FROM audit_events")
    assert (row["action"], row["decision"], row["client_id"], list(row["reason_codes"])) == (
        "client.read", "deny", missing, ["unknown_client"])


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET decision = 'allow'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events",
])
async def test_audit_log_is_append_only(client, api, world, db, statement):
    staff, _ = world
    await api.register(staff)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db.execute(statement)
    assert await db.fetchval("SELECT count(*) FROM audit_events") == 1


CALLER = Caller(Principal("s", None, frozenset({Role.STAFF}), "u", Zone("o", "social")), "rid", None)


async def test_record_refuses_to_run_outside_a_transaction(db):
    with pytest.raises(RuntimeError, match="inside the transaction"):
        await audit.record(db, Action.CLIENT_READ, caller=CALLER, decision=allow(Basis.OWN_ZONE))


async def test_event_shares_the_fate_of_its_transaction(db):
    with pytest.raises(ZeroDivisionError):
        async with db.transaction():
            await audit.record(db, Action.CLIENT_READ, caller=CALLER, decision=deny(Reason.NO_RELATION))
            raise ZeroDivisionError  # the access failed, so neither it nor its event exists
    assert await db.fetchval("SELECT count(*) FROM audit_events") == 0
    async with db.transaction():
        seq = await audit.record(db, Action.CLIENT_READ, caller=CALLER, decision=deny(Reason.NO_RELATION))
    assert await db.fetchval("SELECT reason_codes FROM audit_events WHERE seq = $1", seq) == ["no_relation"]
