"""Relations carry a kind and a reason (API-1.1 "Relations", issue 14): defaults by domain, the reason sealed and
never in the log, both shown in the relation and the list, the kind in the audit event's reasons."""
from __future__ import annotations

import uuid

import pytest

REASON = "Remiss från vårdcentralen om Tolvans alkoholbruk; första samtal bokat."


@pytest.fixture
async def world(api):
    await api.unit("malmo-iof", organisation="malmo-stad", domain="social")
    await api.unit("malmo-beroendecentrum", organisation="region-skane", domain="health")
    social, health = api.staff("malmo-iof", sub="hsa-iof"), api.staff("malmo-beroendecentrum", sub="hsa-clinician")
    client_id = (await api.register(social))["id"]
    return social, health, client_id


async def open_relation(client, headers, client_id, body=None):
    kwargs = {} if body is None else {"json": body}
    return await client.post(f"/v1/clients/{client_id}/relations", headers=headers, **kwargs)


async def relation_events(db) -> list[tuple]:
    rows = await db.fetch("SELECT actor_sub, decision, basis, reason_codes FROM audit_events "
                          "WHERE action = 'relation.open' ORDER BY seq")
    return [(r["actor_sub"], r["decision"], r["basis"], list(r["reason_codes"])) for r in rows]


@pytest.mark.parametrize("body", [None, {}])
async def test_the_kind_defaults_to_case_in_social_services_and_care_in_health_care(client, world, db, body):
    social, health, client_id = world
    opened = {}
    for name, headers in (("social", social), ("health", health)):
        response = await open_relation(client, headers, client_id, body)
        assert response.status == 201, await response.text()
        opened[name] = await response.json()
    assert (opened["social"]["kind"], opened["social"]["reason"]) == ("case", None)
    assert (opened["health"]["kind"], opened["health"]["reason"]) == ("care", None)
    assert await relation_events(db) == [
        ("hsa-iof", "allow", "role", ["relation_kind:case", "relation_reason:none"]),
        ("hsa-clinician", "allow", "role", ["relation_kind:care", "relation_reason:none"]),
    ]


async def test_kind_and_reason_are_returned_listed_and_the_reason_sealed(client, api, world, db):
    social, health, client_id = world
    response = await open_relation(client, health, client_id, {"kind": "referral", "reason": f"  {REASON}\n"})
    relation = await response.json()
    assert response.status == 201
    assert (relation["kind"], relation["reason"]) == ("referral", REASON)  # surrounding blanks stripped
    page = await (await client.get(f"/v1/clients/{client_id}/relations", headers=health)).json()
    assert [(r["id"], r["kind"], r["reason"]) for r in page["items"]] == [(relation["id"], "referral", REASON)]
    row = await db.fetchrow("SELECT kind, reason_sealed FROM relations WHERE id = $1", uuid.UUID(relation["id"]))
    assert row["kind"] == "referral" and b"Remiss" not in row["reason_sealed"] and b"remiss" not in row["reason_sealed"]
    # The event says which kind and that a reason was stated; the reason's words are nowhere in the log.
    assert await relation_events(db) == [("hsa-clinician", "allow", "role", ["relation_kind:referral",
                                                                            "relation_reason:stated"])]
    log = " ".join(str(dict(r)) for r in await db.fetch("SELECT * FROM audit_events"))
    assert "Remiss" not in log and "alkohol" not in log
    # The region's auditor reads the kind in the event's reasons.
    auditor = api.tokens.auth(sub="auditor-1", roles=["auditor"], organisations=["region-skane"])
    events = await (await client.get("/v1/audit/events?action=relation.open", headers=auditor)).json()
    assert [(e["actor"]["sub"], e["reason_codes"]) for e in events["items"]] == [
        ("hsa-clinician", ["relation_kind:referral", "relation_reason:stated"])]


async def test_an_active_relation_is_returned_as_it_is(client, world, db):
    social, _, client_id = world
    first = await (await open_relation(client, social, client_id, {"kind": "sip", "reason": REASON})).json()
    again = await open_relation(client, social, client_id, {"kind": "case"})
    body = await again.json()
    assert again.status == 200 and (body["id"], body["kind"], body["reason"]) == (first["id"], "sip", REASON)
    # Its event records what the unit has: the sip relation with its reason.
    assert [codes for *_, codes in await relation_events(db)] == [["relation_kind:sip", "relation_reason:stated"]] * 2
    ended = await client.post(f"/v1/clients/{client_id}/relations/{first['id']}/end", headers=social)
    assert (await ended.json())["kind"] == "sip"
    reopened = await (await open_relation(client, social, client_id, {"kind": "case"})).json()
    assert (reopened["kind"], reopened["reason"]) == ("case", None) and reopened["id"] != first["id"]


@pytest.mark.parametrize("body,field", [
    ({"reason": "x" * 501}, "reason"),
    ({"reason": ""}, "reason"),
    ({"reason": " \n\t "}, "reason"),
    ({"reason": "Remiss\u202etxt.exe"}, "reason"),  # a bidirectional override
    ({"reason": "Remiss\x07"}, "reason"),  # a control character
    ({"reason": 42}, "reason"),
    ({"kind": "browsing"}, "kind"),
    ({"kind": "CARE"}, "kind"),
    ({"kind": None, "reason": "x" * 501}, "reason"),
])
async def test_a_relations_body_is_validated(client, world, db, body, field):
    social, _, client_id = world
    response = await open_relation(client, social, client_id, body)
    problem = await response.json()
    assert (response.status, problem["code"]) == (422, "validation_failed"), problem
    assert [e["field"] for e in problem["errors"]] == [field]
    assert await db.fetchval("SELECT count(*) FROM relations") == 0


async def test_a_reason_of_500_characters_with_line_breaks_is_accepted(client, world):
    social, _, client_id = world
    reason = ("Rad ett.\nRad två.\r\n" + "å" * 500)[:500]
    response = await open_relation(client, social, client_id, {"kind": "case", "reason": reason})
    assert response.status == 201 and (await response.json())["reason"] == reason


async def test_validation_comes_after_the_role_gate_and_before_the_client(client, api, world, db):
    """API-1.1 "Order of checks": a role that may never open a relation learns nothing of the body; an unknown
    client with a bad body is a bad body."""
    _, _, client_id = world
    system = api.staff("malmo-iof", sub="clinic-system", roles=["auditor"])
    response = await open_relation(client, system, client_id, {"kind": "browsing"})
    assert (response.status, (await response.json())["code"]) == (403, "forbidden_role")
    social = api.staff("malmo-iof")
    response = await open_relation(client, social, str(uuid.uuid4()), {"kind": "browsing"})
    assert (response.status, (await response.json())["code"]) == (422, "validation_failed")
    response = await open_relation(client, social, str(uuid.uuid4()), {"kind": "case"})
    assert (response.status, (await response.json())["code"]) == (404, "not_found")
