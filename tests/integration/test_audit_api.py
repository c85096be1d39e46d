"""The audit log over HTTP: events with filters and NDJSON, verification, checkpoints, keys, the client's extract."""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from crypto.chain import checkpoint_message, micros
from service.http.context import RUNTIME
from tests import files
from tests.integration.test_documents import created

PERSONAL_NUMBER, NAME = "19121212-1212", "Tolvan Tolvansson"


@pytest.fixture
def auditor(tokens):
    return tokens.auth(sub="auditor-1", roles=["auditor"], name="Astrid Auditor")


@pytest.fixture
async def world(api, client):
    """Social services staff who upload and read; health staff who read without a relation."""
    await api.unit("malmo-iof", organisation="malmo-stad", domain="social")
    await api.unit("malmo-beroendecentrum", organisation="region-skane", domain="health")
    iof = api.staff("malmo-iof", sub="hsa-iof")
    manager = api.staff("malmo-iof", sub="hsa-chef", roles=["unit_manager"])
    health = api.staff("malmo-beroendecentrum", sub="hsa-health")
    person = (await api.register(iof, personal_number=PERSONAL_NUMBER, name=NAME))["id"]
    await api.relation(iof, person)
    document = await created(client, iof, person, files.pdf(), title="Utredning av missbruk")
    assert (await client.get(f"/v1/documents/{document['id']}/content", headers=iof)).status == 200
    assert (await client.get(f"/v1/documents/{document['id']}", headers=health)).status == 404  # no relation
    return {"iof": iof, "manager": manager, "health": health, "client": person, "document": document["id"]}


async def events(client, headers, **query) -> dict:
    response = await client.get("/v1/audit/events", headers=headers, params=query)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_events_oldest_first_with_everything_the_contract_names(client, world, auditor):
    page = await events(client, auditor, limit="500")
    items = page["items"]
    assert [e["seq"] for e in items] == sorted(e["seq"] for e in items) and page["next_cursor"] is None
    read = next(e for e in items if e["action"] == "document.read_content")
    assert read["actor"] == {"sub": "hsa-iof", "name": "Name of hsa-iof", "unit": "malmo-iof",
                             "zone": {"organisation": "malmo-stad", "domain": "social"}, "roles": ["staff"]}
    assert read["decision"] == "allow" and read["basis"] == "own_zone" and read["purpose"] == "care"
    assert read["client_id"] == world["client"] and read["document_id"] == world["document"]
    assert read["request_id"] and read["remote_addr"] and read["flagged"] is False
    denied = next(e for e in items if e["actor"]["sub"] == "hsa-health")
    assert (denied["decision"], denied["reason_codes"], denied["action"]) == ("deny", ["no_relation"], "document.read_metadata")
    text = json.dumps(page)
    for secret in (PERSONAL_NUMBER, PERSONAL_NUMBER.replace("-", ""), NAME, "Utredning"):
        assert secret not in text


async def test_hash_is_null_until_sealed(client, world, auditor):
    before = (await events(client, auditor))["items"]
    assert all(e["hash"] is None and e["prev_hash"] is None for e in before)
    await client.server.app[RUNTIME].chain_sealer.catch_up()
    after = (await events(client, auditor, limit="500"))["items"]
    sealed = [e for e in after if e["seq"] <= before[-1]["seq"]]
    assert all(len(e["hash"]) == 64 and len(e["prev_hash"]) == 64 for e in sealed)
    assert all(b["prev_hash"] == a["hash"] and b["prev_seq"] == a["seq"] for a, b in itertools.pairwise(sealed))


async def test_filters(client, world, auditor):
    """Each filter gives exactly the events of the whole log that match it, and none is vacuous."""
    everything = (await events(client, auditor, limit="500"))["items"]
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    cases = [
        ({"client_id": world["client"]}, lambda e: e["client_id"] == world["client"]),
        ({"actor": "hsa-health"}, lambda e: e["actor"]["sub"] == "hsa-health"),
        ({"unit": "malmo-iof"}, lambda e: e["actor"]["unit"] == "malmo-iof"),
        ({"action": "document.create"}, lambda e: e["action"] == "document.create"),
        ({"decision": "deny"}, lambda e: e["decision"] == "deny"),
        ({"decision": "allow"}, lambda e: e["decision"] == "allow"),
        ({"flagged": "false"}, lambda e: not e["flagged"]),
        ({"flagged": "true"}, lambda e: e["flagged"]),
        ({"since": past}, lambda e: True),
        ({"since": future}, lambda e: False),
        ({"until": future}, lambda e: True),
    ]
    for query, matches in cases:
        filtered = [e["seq"] for e in (await events(client, auditor, limit="500", **query))["items"]]
        # Each query is itself an event (audit.read) after the whole log was read: compare up to there.
        assert [seq for seq in filtered if seq <= everything[-1]["seq"]] == \
            [e["seq"] for e in everything if matches(e)], query
    # Not vacuous: the world has events on both sides of each two-valued filter.
    assert {e["decision"] for e in everything} == {"allow", "deny"}
    assert len([e for e in everything if e["action"] == "document.create"]) == 1


async def test_pages_with_a_cursor(client, world, auditor):
    everything = [e["seq"] for e in (await events(client, auditor, action="client.register", limit="500"))["items"]]
    seen, page = [], await events(client, auditor, limit="2")
    while True:
        seen += [e["seq"] for e in page["items"]]
        if page["next_cursor"] is None:
            break
        page = await events(client, auditor, limit="2", cursor=page["next_cursor"])
    assert seen == sorted(seen) and len(seen) == len(set(seen)) and set(everything) <= set(seen)


@pytest.mark.parametrize("query,field", [
    ({"client_id": "nope"}, "client_id"), ({"action": "document.eat"}, "action"), ({"decision": "maybe"}, "decision"),
    ({"flagged": "yes"}, "flagged"), ({"since": "yesterday"}, "since"), ({"since": "2026-01-01T00:00:00"}, "since"),
    ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"), ({"cursor": "bm9wZQ"}, "cursor"),
    ({"limit": "0"}, "limit"), ({"until": ""}, "until"), ({"actor": "a\x00b"}, "actor"), ({"unit": "\x00"}, "unit"),
])
async def test_bad_filters_are_422(client, world, auditor, query, field):
    response = await client.get("/v1/audit/events", headers=auditor, params=query)
    assert response.status == 422 and response.content_type == "application/problem+json"
    assert [error["field"] for error in (await response.json())["errors"]] == [field]


@pytest.mark.parametrize("latest", ["", "yes", "True", "null"])
async def test_checkpoints_latest_is_true_or_false(client, world, auditor, latest):
    response = await client.get("/v1/audit/checkpoints", headers=auditor, params={"latest": latest})
    assert response.status == 422
    assert [error["field"] for error in (await response.json())["errors"]] == ["latest"]
    assert (await client.get("/v1/audit/checkpoints", headers=auditor, params={"latest": "false"})).status == 200


async def test_ndjson_streams_every_match(client, world, auditor, db):
    response = await client.get("/v1/audit/events", headers={**auditor, "Accept": "application/x-ndjson"},
                                params={"client_id": world["client"]})
    assert response.status == 200 and response.content_type == "application/x-ndjson"
    lines = [json.loads(line) for line in (await response.text()).splitlines()]
    count = await db.fetchval("SELECT count(*) FROM audit_events WHERE client_id = $1::text::uuid", world["client"])
    assert len(lines) == count > 3 and all(line["client_id"] == world["client"] for line in lines)


@pytest.mark.parametrize("role", ["staff", "unit_manager", "admin", "system"])
async def test_only_auditors_read_the_log_and_refusals_are_recorded(client, world, tokens, db, role):
    headers = tokens.auth(sub=f"curious-{role}", roles=[role], unit=None if role == "admin" else "malmo-iof")
    for path in ("/v1/audit/events", "/v1/audit/verify", "/v1/audit/checkpoints", "/v1/audit/public-key"):
        response = await client.get(path, headers=headers)
        assert response.status == 403 and (await response.json())["code"] == "forbidden_role", path
    rows = await db.fetch("SELECT action, decision, reason_codes FROM audit_events WHERE actor_sub = $1", f"curious-{role}")
    assert [tuple(r) for r in rows] == [("audit.read", "deny", ["forbidden_role"])] * 4


async def test_reading_the_log_is_itself_recorded(client, world, auditor, db):
    await events(client, auditor)
    row = await db.fetchrow("SELECT action, decision, basis, actor_roles FROM audit_events WHERE actor_sub = 'auditor-1'")
    assert tuple(row) == ("audit.read", "allow", "role", ["auditor"])


async def test_auditors_never_read_content(client, world, auditor):
    response = await client.get(f"/v1/documents/{world['document']}/content", headers=auditor)
    assert response.status == 403 and (await response.json())["code"] == "forbidden_role"


async def test_verify_over_http(client, world, auditor, db):
    await client.server.app[RUNTIME].chain_sealer.catch_up()
    response = await client.get("/v1/audit/verify", headers=auditor)
    body = await response.json()
    assert response.status == 200 and body["ok"] is True and body["problem"] is None and body["first_bad_seq"] is None
    head = await db.fetchrow("SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1")
    assert body["head"] == {"seq": head["seq"], "hash": bytes(head["hash"]).hex()} and body["checked"] == head["seq"]
    held = {"checkpoint_seq": str(head["seq"]), "checkpoint_hash": bytes(head["hash"]).hex()}
    assert (await (await client.get("/v1/audit/verify", headers=auditor, params=held)).json())["ok"] is True
    target = head["seq"] - 2
    await db.execute("SET session_replication_role = replica")
    await db.execute("UPDATE audit_events SET basis = 'consent:forged' WHERE seq = $1", target)
    await db.execute("SET session_replication_role = origin")
    body = await (await client.get("/v1/audit/verify", headers=auditor)).json()
    assert (body["ok"], body["first_bad_seq"], body["problem"]) == (False, target, "modified")


@pytest.mark.parametrize("query", [{"checkpoint_seq": "5"}, {"checkpoint_hash": "ab" * 32},
                                   {"checkpoint_seq": "x", "checkpoint_hash": "ab" * 32},
                                   {"checkpoint_seq": "5", "checkpoint_hash": "XYZ"}])
async def test_verify_refuses_half_a_checkpoint(client, world, auditor, query):
    response = await client.get("/v1/audit/verify", headers=auditor, params=query)
    assert response.status == 422


async def test_checkpoints_verify_with_the_published_key(client, world, auditor):
    await client.server.app[RUNTIME].chain_sealer.catch_up()
    keys = (await (await client.get("/v1/audit/public-key", headers=auditor)).json())["keys"]
    by_id = {k["key_id"]: Ed25519PublicKey.from_public_bytes(base64.b64decode(k["public_key"])) for k in keys}
    assert all(k["algorithm"] == "Ed25519" and k["jwk"]["crv"] == "Ed25519" for k in keys)
    items = (await (await client.get("/v1/audit/checkpoints", headers=auditor)).json())["items"]
    latest = (await (await client.get("/v1/audit/checkpoints", headers=auditor, params={"latest": "true"})).json())["items"]
    assert items and latest == items[-1:]
    prev = bytes(32)  # format 2: each signs the digest of the one before (its message, then its signature)
    for checkpoint in items:
        at = micros(datetime.fromisoformat(checkpoint["at"]))
        assert checkpoint["prev"] == prev.hex()
        message = checkpoint_message(checkpoint["key_id"], checkpoint["seq"], bytes.fromhex(checkpoint["hash"]), at,
                                     bytes.fromhex(checkpoint["prev"]))
        assert message.startswith(b"brygga-audit-checkpoint/2\n") and message.endswith(b"\n" + prev.hex().encode())
        signature = base64.b64decode(checkpoint["signature"])
        by_id[checkpoint["key_id"]].verify(signature, message)  # raises when bad
        prev = hashlib.sha256(hashlib.sha256(message).digest() + signature).digest()


async def test_the_clients_extract_names_who_read_when_and_why(client, world, auditor, db):
    response = await client.get(f"/v1/clients/{world['client']}/access-log", headers=auditor)
    assert response.status == 200, await response.text()
    items = (await response.json())["items"]
    actions = [item["action"] for item in items]
    assert "document.read_content" in actions and "client.register" not in actions and "document.create" not in actions
    read = next(item for item in items if item["action"] == "document.read_content")
    assert read["actor"] == {"name": "Name of hsa-iof", "unit": "malmo-iof", "organisation": "malmo-stad"}
    assert read["basis"] == "own_zone" and read["document_id"] == world["document"] and read["flagged"] is False
    assert all(item["actor"]["unit"] != "malmo-beroendecentrum" for item in items)  # denials are not reads
    row = await db.fetchrow("SELECT action, decision, client_id::text FROM audit_events WHERE actor_sub = 'auditor-1'")
    assert tuple(row) == ("audit.extract", "allow", world["client"])


async def test_a_unit_manager_extracts_only_for_a_client_of_the_unit(client, world, api, db):
    response = await client.get(f"/v1/clients/{world['client']}/access-log", headers=world["manager"])
    assert response.status == 200
    await api.unit("malmo-socialjour", organisation="malmo-stad", domain="social")
    stranger = api.staff("malmo-socialjour", sub="hsa-other-chef", roles=["unit_manager"])
    response = await client.get(f"/v1/clients/{world['client']}/access-log", headers=stranger)
    assert response.status == 404
    response = await client.get(f"/v1/clients/{world['client']}/access-log", headers=world["iof"])
    assert response.status == 403
    rows = await db.fetch("SELECT actor_sub, decision, reason_codes FROM audit_events WHERE action = 'audit.extract' ORDER BY seq")
    assert [tuple(r) for r in rows] == [("hsa-chef", "allow", []), ("hsa-other-chef", "deny", ["no_relation"]),
                                        ("hsa-iof", "deny", ["forbidden_role"])]


async def test_the_clients_extract_lists_every_kind_of_read(client, world, auditor):
    """Insider attack 12, finding 1: reads added after the extract was made (the care network, the follow-up and
    SIP lists, disclosures listed) are reads of the client's data too, and each shows in their extract (PDL 8:5)."""
    person, iof = world["client"], world["iof"]
    for path in (f"/v1/clients/{person}/network", f"/v1/clients/{person}/contacts", f"/v1/clients/{person}/sip-plans",
                 f"/v1/clients/{person}/disclosures"):
        response = await client.get(path, headers=iof)
        assert response.status == 200, (path, await response.text())
    response = await client.get(f"/v1/clients/{person}/access-log", headers=auditor)
    actions = {item["action"] for item in (await response.json())["items"]}
    assert {"client.network", "followup.list", "sip.list", "disclosure.list"} <= actions, actions
