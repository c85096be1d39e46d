"""Joint plans (SIP; API-1.1 "Joint plans (SIP)"; SoL 2:7, HSL 16:4) over real HTTP and PostgreSQL.

Only participating units with a relation read and write a plan; across zones only under the client's consent
naming `sip` for `coordination` from the holding zone; revoking it closes the plan to that zone on the next
request and the holding zone sees why; saves are versions guarded by If-Match; the four parts are required;
every access, allowed or refused, leaves its event naming the plan; texts are sealed at rest.
"""
from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from policies.model import Zone
from service.audit import Caller
from service.auth import principal
from service.domain import sip
from service.errors import Forbidden
from service.http.context import RUNTIME
from tests.integration.test_consents import HEALTH_SKANE, SOCIAL_MALMO, consent_body

TITLE = "SIP för Tolvan: boende och behandling"
EFFORT = "Kontaktperson två gånger i veckan"


@pytest.fixture
async def world(client, api):
    """IFO and the night unit (social), Beroendecentrum and psychiatry (health): all with a relation with the client."""
    for unit, zone in (("iof", SOCIAL_MALMO), ("jour", SOCIAL_MALMO), ("beroendecentrum", HEALTH_SKANE),
                       ("psykiatri", HEALTH_SKANE)):
        await api.unit(unit, **zone)
    people = {name: api.staff(name, sub=f"hsa-{name}") for name in ("iof", "jour", "beroendecentrum", "psykiatri")}
    person = (await api.register(people["iof"]))["id"]
    for headers in people.values():
        await api.relation(headers, person)
    return {"people": people, "client": person}


def plan_body(**overrides) -> dict:
    body = {
        "title": TITLE, "start_date": date.today().isoformat(),
        "participants": [{"unit": "iof"}, {"unit": "beroendecentrum"}, {"external": "Mamma Eva"}],
        "responsible_unit": "iof",
        "efforts": [{"text": EFFORT, "provided_by_unit": "iof", "due": (date.today() + timedelta(days=30)).isoformat()},
                    {"text": "Substitutionsbehandling", "provided_by_unit": "beroendecentrum"},
                    {"text": "Stöd vid återfall", "provided_by_external": "Mamma Eva"}],
        "next_follow_up": (date.today() + timedelta(days=60)).isoformat(),
    }
    body.update(overrides)
    return body


async def sip_consent(client, world, **overrides) -> dict:
    response = await client.post(f"/v1/clients/{world['client']}/consents", headers=world["people"]["iof"],
                                 json=consent_body(**{"categories": ["sip"], "purposes": ["coordination"], **overrides}))
    assert response.status == 201, await response.text()
    return await response.json()


async def start(client, world, body=None, *, who="iof"):
    return await client.post(f"/v1/clients/{world['client']}/sip-plans", headers=world["people"][who],
                             json=body or plan_body())


async def events(db, action, unit=None):
    rows = await db.fetch("SELECT actor_unit, decision, basis, reason_codes, client_id, purpose FROM audit_events "
                          "WHERE action = $1 AND ($2::text IS NULL OR actor_unit = $2) ORDER BY seq", action, unit)
    return [dict(row) for row in rows]


async def test_a_plan_across_zones_is_started_under_the_sip_consent_and_read_by_both(client, world, db):
    consent = await sip_consent(client, world)
    response = await start(client, world)
    assert response.status == 201, await response.text()
    plan = await response.json()
    assert response.headers["ETag"] == '"1"'
    assert (plan["version"], plan["status"], plan["holding_unit"], plan["closed_to"]) == (1, "active", "iof", [])
    assert plan["participants"] == [{"unit": "iof"}, {"unit": "beroendecentrum"}, {"external": "Mamma Eva"}]
    assert plan["efforts"][0]["text"] == EFFORT and plan["responsible_unit"] == "iof"
    [created] = await events(db, "sip.create")
    assert (created["decision"], created["basis"], created["purpose"]) == ("allow", "own_zone", "coordination")
    assert created["reason_codes"] == [f"sip_plan:{plan['id']}"] and str(created["client_id"]) == world["client"]

    read = await client.get(f"/v1/sip-plans/{plan['id']}", headers=world["people"]["beroendecentrum"])
    assert read.status == 200
    seen = await read.json()
    assert seen["title"] == TITLE and seen["closed_to"] is None  # the holding zone's consents are not the clinic's
    [event] = await events(db, "sip.read", "beroendecentrum")
    assert (event["decision"], event["basis"]) == ("allow", f"consent:{consent['id']}")
    listed = await (await client.get(f"/v1/clients/{world['client']}/sip-plans",
                                     headers=world["people"]["beroendecentrum"])).json()
    assert [item["title"] for item in listed["items"]] == [TITLE]

    # Sealed at rest: no title, effort or external name in the clear anywhere in the plan's tables.
    for table, column in (("sip_plans", "title_sealed"), ("sip_plan_versions", "content_sealed")):
        for sealed in await db.fetch(f"SELECT {column} AS s FROM {table}"):
            for text in (TITLE, EFFORT, "Mamma Eva"):
                assert text.encode() not in bytes(sealed["s"])


async def test_without_the_consent_a_plan_across_zones_is_refused_consent_required(client, world, db):
    await sip_consent(client, world, categories=["assessment"], purposes=["coordination"])  # not naming sip
    response = await start(client, world)
    assert response.status == 422
    problem = await response.json()
    assert problem["code"] == "consent_required" and problem["errors"][0]["field"] == "participants"
    assert await db.fetchval("SELECT count(*) FROM sip_plans") == 0
    [event] = await events(db, "sip.create")
    assert event["decision"] == "deny" and event["reason_codes"][0] == "consent_required"
    # A plan of one zone needs none.
    one_zone = plan_body(participants=[{"unit": "iof"}, {"unit": "jour"}, {"external": "Mamma Eva"}],
                         efforts=[{"text": EFFORT, "provided_by_unit": "jour"},
                                  {"text": "Stöd", "provided_by_external": "Mamma Eva"}])
    assert (await start(client, world, one_zone)).status == 201


async def test_revoking_the_consent_closes_the_plan_to_the_other_zone_on_the_next_request(client, world, db):
    consent = await sip_consent(client, world)
    plan = await (await start(client, world)).json()
    clinic = world["people"]["beroendecentrum"]
    assert (await client.get(f"/v1/sip-plans/{plan['id']}", headers=clinic)).status == 200
    revoked = await client.post(f"/v1/consents/{consent['id']}/revoke", headers=world["people"]["iof"],
                                json={"reason": "klienten återkallar"})
    assert revoked.status == 200
    for path in (f"/v1/sip-plans/{plan['id']}", f"/v1/sip-plans/{plan['id']}/versions"):
        refused = await client.get(path, headers=clinic)
        assert refused.status == 404 and (await refused.json())["code"] == "not_found"
    listed = await (await client.get(f"/v1/clients/{world['client']}/sip-plans", headers=clinic)).json()
    assert listed["items"] == []
    put = await client.put(f"/v1/sip-plans/{plan['id']}", headers={**clinic, "If-Match": '"1"'}, json=plan_body())
    assert put.status == 404
    event = (await events(db, "sip.read", "beroendecentrum"))[-1]
    assert event["decision"] == "deny" and event["reason_codes"] == ["consent_revoked", f"sip_plan:{plan['id']}"]
    # The holding zone still reads it, and the plan says to whom it is closed, and why.
    own = await (await client.get(f"/v1/sip-plans/{plan['id']}", headers=world["people"]["iof"])).json()
    assert own["closed_to"] == [{"unit": "beroendecentrum", "reason": "consent_revoked"}]


async def test_a_unit_that_takes_no_part_reads_nothing_of_the_plan(client, world, db):
    await sip_consent(client, world)
    plan = await (await start(client, world)).json()
    for unit in ("psykiatri", "jour"):  # a relation with the client, no part in the plan
        headers = world["people"][unit]
        # The body is valid for the caller (its own unit among the participants): only the plan is not its to see.
        own = plan_body(participants=[*plan_body()["participants"], {"unit": unit}])
        for path in (f"/v1/sip-plans/{plan['id']}", f"/v1/sip-plans/{plan['id']}/versions"):
            response = await client.get(path, headers=headers)
            assert response.status == 404
        listed = await (await client.get(f"/v1/clients/{world['client']}/sip-plans", headers=headers)).json()
        assert listed["items"] == []
        for response in (
                await client.put(f"/v1/sip-plans/{plan['id']}", headers={**headers, "If-Match": '"1"'}, json=own),
                await client.post(f"/v1/sip-plans/{plan['id']}/follow-ups", headers=headers,
                                  json={"held_on": date.today().isoformat(), "summary": "Uppföljning"}),
                await client.post(f"/v1/sip-plans/{plan['id']}/close", headers=headers, json={})):
            assert response.status == 404
    # Alike for a plan id that does not exist.
    assert (await client.get(f"/v1/sip-plans/{uuid.uuid4()}", headers=world["people"]["iof"])).status == 404
    denied = await db.fetch("SELECT reason_codes FROM audit_events WHERE actor_unit IN ('psykiatri', 'jour') "
                            "AND action LIKE 'sip.%' AND decision = 'deny'")
    assert len(denied) == 2 * 5 and all("not_participant" in row["reason_codes"] for row in denied)
    assert await db.fetchval("SELECT version FROM sip_plans") == 1
    assert await db.fetchval("SELECT count(*) FROM sip_follow_ups") == 0


async def test_saving_over_a_version_another_unit_saved_first_is_a_version_conflict(client, world, db):
    await sip_consent(client, world)
    plan = await (await start(client, world)).json()
    path = f"/v1/sip-plans/{plan['id']}"
    clinic, social = world["people"]["beroendecentrum"], world["people"]["iof"]
    edited = plan_body(title="SIP för Tolvan: reviderad")
    first = await client.put(path, headers={**clinic, "If-Match": '"1"'}, json=edited)
    assert first.status == 200, await first.text()
    assert first.headers["ETag"] == '"2"' and (await first.json())["saved_by_unit"] == "beroendecentrum"
    late = await client.put(path, headers={**social, "If-Match": '"1"'}, json=plan_body(title="Gammal titel"))
    assert late.status == 412 and (await late.json())["code"] == "version_conflict"
    missing = await client.put(path, headers=social, json=plan_body())
    assert missing.status == 428 and (await missing.json())["code"] == "precondition_required"
    assert (await client.put(path, headers={**social, "If-Match": "2"}, json=plan_body())).status == 200
    history = await (await client.get(f"{path}/versions", headers=clinic)).json()
    assert [(v["version"], v["saved_by_unit"], v["content"]["title"]) for v in history["items"]] == [
        (1, "iof", TITLE), (2, "beroendecentrum", "SIP för Tolvan: reviderad"), (3, "iof", TITLE)]
    updates = await events(db, "sip.update")
    assert [(e["actor_unit"], e["decision"], e["reason_codes"][0]) for e in updates] == [
        ("beroendecentrum", "allow", f"sip_plan:{plan['id']}"), ("iof", "deny", "version_conflict"),
        ("iof", "deny", "precondition_required"), ("iof", "allow", f"sip_plan:{plan['id']}")]


@pytest.mark.parametrize(("change", "field"), [
    ({"efforts": [], "no_measures_by_others": True}, "efforts"),
    ({"efforts": [{"text": EFFORT}, {"text": "Stöd", "provided_by_external": "Mamma Eva"}]},
     "efforts.0.provided_by_unit"),
    ({"efforts": [{"text": EFFORT, "provided_by_unit": "iof"}]}, "no_measures_by_others"),
    ({"responsible_unit": None}, "responsible_unit"),
])
async def test_each_of_the_four_parts_the_law_names_is_required(client, world, db, change, field):
    await sip_consent(client, world)
    response = await start(client, world, plan_body(**change))
    assert response.status == 422
    problem = await response.json()
    assert problem["code"] == "validation_failed" and [e["field"] for e in problem["errors"]] == [field]
    assert await db.fetchval("SELECT count(*) FROM sip_plans") == 0
    # Part 3 stated as none is a plan too.
    if field == "no_measures_by_others":
        stated = await start(client, world, plan_body(**{**change, "no_measures_by_others": True}))
        assert stated.status == 201


async def test_a_follow_up_is_recorded_sealed_and_closing_ends_writing(client, world, db):
    await sip_consent(client, world)
    plan = await (await start(client, world)).json()
    path = f"/v1/sip-plans/{plan['id']}"
    clinic = world["people"]["beroendecentrum"]
    summary = "Behandlingen fungerar; boendet är ordnat."
    next_date = (date.today() + timedelta(days=90)).isoformat()
    response = await client.post(f"{path}/follow-ups", headers=clinic,
                                 json={"held_on": date.today().isoformat(), "summary": summary, "next_follow_up": next_date})
    assert response.status == 201, await response.text()
    followed = await response.json()
    assert [f["summary"] for f in followed["follow_ups"]] == [summary] and followed["next_follow_up"] == next_date
    assert summary.encode() not in bytes(await db.fetchval("SELECT summary_sealed FROM sip_follow_ups"))
    future = await client.post(f"{path}/follow-ups", headers=clinic, json={
        "held_on": (date.today() + timedelta(days=2)).isoformat(), "summary": "Framtid"})
    assert future.status == 422
    closed = await client.post(f"{path}/close", headers=world["people"]["iof"], json={})
    assert closed.status == 200 and (await closed.json())["status"] == "closed"
    put = await client.put(path, headers={**clinic, "If-Match": '"1"'}, json=plan_body())
    assert put.status == 409 and (await put.json())["code"] == "plan_closed"
    again = await client.post(f"{path}/follow-ups", headers=clinic, json={"held_on": date.today().isoformat(),
                                                                          "summary": "Efter avslut"})
    assert again.status == 409
    assert (await client.get(path, headers=clinic)).status == 200  # a closed plan is still read
    assert [e["decision"] for e in await events(db, "sip.close")] == ["allow"]


async def test_a_plans_history_and_follow_ups_are_never_edited(client, world, db):
    await sip_consent(client, world)
    await start(client, world)
    for statement in ("UPDATE sip_plan_versions SET version = 9", "DELETE FROM sip_plan_versions"):
        with pytest.raises(Exception, match="never edited"):
            await db.execute(statement)


async def test_the_network_shows_the_own_zone_and_the_zones_whose_coordination_consent_covers_the_caller(
        client, world, db, api):
    await api.unit("alingsas-ifo", organisation="alingsas", domain="social")
    stranger = api.staff("alingsas-ifo")
    await api.relation(stranger, world["client"])
    clinic, social = world["people"]["beroendecentrum"], world["people"]["iof"]
    path = f"/v1/clients/{world['client']}/network"
    own = await (await client.get(path, headers=clinic)).json()
    assert sorted(item["unit"] for item in own["items"]) == ["beroendecentrum", "psykiatri"]
    assert {item["kind"] for item in own["items"]} == {"care"} and own["items"][0]["name"].startswith("Unit ")
    # The social zone's consent for coordination toward the clinic's zone opens its units to the clinic only.
    await sip_consent(client, world, categories=["assessment"], purposes=["coordination"])
    covered = await (await client.get(path, headers=clinic)).json()
    assert sorted(item["unit"] for item in covered["items"]) == ["beroendecentrum", "iof", "jour", "psykiatri"]
    reverse = await (await client.get(path, headers=social)).json()
    assert sorted(item["unit"] for item in reverse["items"]) == ["iof", "jour"]
    other = await (await client.get(path, headers=stranger)).json()
    assert [item["unit"] for item in other["items"]] == ["alingsas-ifo"]
    # Without a relation: refused like a client read (404), and audited.
    await api.unit("lonely", **HEALTH_SKANE)
    refused = await client.get(path, headers=api.staff("lonely"))
    assert refused.status == 404 and (await refused.json())["code"] == "not_found"
    outcomes = [(e["actor_unit"], e["decision"]) for e in await events(db, "client.network")]
    assert outcomes[-1] == ("lonely", "deny") and outcomes.count(("beroendecentrum", "allow")) == 2


async def test_the_unit_managers_overdue_follow_ups(client, world, db, api):
    consent = await sip_consent(client, world)
    past = (date.today() - timedelta(days=3)).isoformat()
    overdue = await (await start(client, world, plan_body(start_date=(date.today() - timedelta(days=40)).isoformat(),
                                                          next_follow_up=past))).json()
    await start(client, world)  # its follow-up is ahead: not listed
    rt = client.server.app[RUNTIME]
    manager = await _caller(client, api.staff("beroendecentrum", sub="chef", roles=["unit_manager"]))
    shown = await sip.overdue(rt, manager)
    assert [str(item["id"]) for item in shown] == [overdue["id"]] and "title" not in shown[0]
    assert [e["decision"] for e in await events(db, "sip.overdue")] == ["allow", "allow"]  # the list, the plan
    await client.post(f"/v1/consents/{consent['id']}/revoke", headers=world["people"]["iof"], json={"reason": "återkallat"})
    assert await sip.overdue(rt, manager) == []  # closed to the clinic: not even its date shows
    with pytest.raises(Forbidden):
        await sip.overdue(rt, await _caller(client, world["people"]["beroendecentrum"]))


async def _caller(client, headers) -> Caller:
    """The Caller the service makes of these headers' token (the unit manager's page calls the domain alike)."""
    rt = client.server.app[RUNTIME]
    claims = rt.verifier.verify(headers["Authorization"].split(" ", 1)[1])
    row = await rt.pool.fetchrow("SELECT organisation, domain FROM units WHERE id = $1", claims.unit)
    return Caller(principal=principal(claims, Zone(row["organisation"], row["domain"])), request_id="test",
                  remote_addr=None)


async def test_the_other_zone_cannot_take_the_plan_from_its_holding_zone(client, world, db):
    """Insider attack 7, F1: the clinic, under the consent, saved the plan without IFO (IFO lost it) and added the
    night unit IFO never asked in. A save from another zone keeps the holding zone's units and responsibility."""
    await sip_consent(client, world)
    plan = await (await start(client, world)).json()
    path = f"/v1/sip-plans/{plan['id']}"
    clinic, social = world["people"]["beroendecentrum"], world["people"]["iof"]
    without_iof = plan_body(participants=[{"unit": "beroendecentrum"}, {"external": "Mamma Eva"}],
                            responsible_unit="beroendecentrum",
                            efforts=[{"text": EFFORT, "provided_by_unit": "beroendecentrum"},
                                     {"text": "Stöd vid återfall", "provided_by_external": "Mamma Eva"}])
    with_jour = plan_body(participants=[{"unit": "iof"}, {"unit": "jour"}, {"unit": "beroendecentrum"},
                                        {"external": "Mamma Eva"}])
    taken = plan_body(responsible_unit="beroendecentrum")
    for body in (without_iof, with_jour, taken):
        response = await client.put(path, headers={**clinic, "If-Match": '"1"'}, json=body)
        assert response.status == 422, await response.text()
        assert (await response.json())["errors"][0]["field"] == "participants"
    assert (await client.get(path, headers=social)).status == 200
    assert (await client.get(path, headers=world["people"]["jour"])).status == 404
    refusals = await events(db, "sip.update", "beroendecentrum")
    assert [(e["decision"], "holding_zone_hold" in e["reason_codes"]) for e in refusals] == [("deny", True)] * 3
    # The holding zone itself may change its own participants and hand over the responsibility.
    assert (await client.put(path, headers={**social, "If-Match": '"1"'}, json=with_jour)).status == 200
    assert (await client.put(path, headers={**clinic, "If-Match": '"2"'}, json=with_jour)).status == 200


async def test_only_the_holding_zone_or_the_responsible_unit_closes_a_plan(client, world, db):
    """Insider attack 7, F3: the clinic closed the holding zone's plan for good. Another zone's participant may
    not, unless it holds the overall responsibility."""
    await sip_consent(client, world)
    plan = await (await start(client, world)).json()
    clinic = world["people"]["beroendecentrum"]
    refused = await client.post(f"/v1/sip-plans/{plan['id']}/close", headers=clinic, json={})
    assert refused.status == 403 and (await refused.json())["code"] == "not_holding_zone"
    assert (await (await client.get(f"/v1/sip-plans/{plan['id']}", headers=clinic)).json())["status"] == "active"
    assert [(e["decision"], "not_holding_zone" in e["reason_codes"]) for e in await events(db, "sip.close")] == [
        ("deny", True)]
    led = await (await start(client, world, plan_body(responsible_unit="beroendecentrum"))).json()
    closed = await client.post(f"/v1/sip-plans/{led['id']}/close", headers=clinic, json={})
    assert closed.status == 200 and (await closed.json())["status"] == "closed"


async def test_the_overdue_list_needs_a_relation_with_the_client(client, world, db, api):
    """Insider attack 7, F5: after its relation ended, a unit's manager still saw the plan's date and link."""
    await sip_consent(client, world)
    past = (date.today() - timedelta(days=3)).isoformat()
    await start(client, world, plan_body(start_date=(date.today() - timedelta(days=40)).isoformat(),
                                         next_follow_up=past))
    rt = client.server.app[RUNTIME]
    manager = await _caller(client, api.staff("beroendecentrum", sub="chef", roles=["unit_manager"]))
    assert len(await sip.overdue(rt, manager)) == 1
    relation = await db.fetchval("SELECT id FROM relations WHERE unit_id = 'beroendecentrum' AND ended_at IS NULL")
    await db.execute("UPDATE relations SET ended_at = now(), ended_by = 'test' WHERE id = $1", relation)
    assert await sip.overdue(rt, manager) == []
