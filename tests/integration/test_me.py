"""The client's own view (API-1.1 "The client's own view"; issue #18): the person acts on themself alone.

Real PostgreSQL, real tokens, real HTTP. The client is found by the blind index of the personal number in
the token; another person's ids are 404, a minor cannot give an electronic consent, the client's revocation
closes the staff's next read, unreleased documents leave no trace, and no call leaves the number behind.
"""
from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from service.logs import JsonFormatter
from tests.integration.test_documents import created

ADULT = "19121212-1212"
OTHER_ADULT = "19800101-2387"
MINOR = "20121212-1212"
SOCIAL = {"organisation": "malmo-stad", "domain": "social"}
HEALTH = {"organisation": "region-skane", "domain": "health"}


def _iso(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def spellings(number: str) -> list[str]:
    """Every way the number could be written down: 12 digits, 10 digits, with - or +, and its date part."""
    digits = number.replace("-", "")
    return [number, digits, digits[2:], f"{digits[2:8]}-{digits[8:]}", f"{digits[2:8]}+{digits[8:]}", digits[:8]]


@pytest.fixture
async def town(api, tokens):
    """IFO Malmö (social), Beroendecentrum (health, region), another IFO unit; the adult client under both."""
    await api.unit("malmo-iof", **SOCIAL)
    await api.unit("malmo-iof-ost", **SOCIAL)
    await api.unit("malmo-beroendecentrum", **HEALTH)
    iof, ost = api.staff("malmo-iof", sub="hsa-iof"), api.staff("malmo-iof-ost", sub="hsa-ost")
    clinic = api.staff("malmo-beroendecentrum", sub="hsa-clinic")
    client_id = (await api.register(iof, ADULT))["id"]
    for headers in (iof, ost, clinic):
        await api.relation(headers, client_id)
    me = tokens.auth(sub=ADULT, roles=["client"])
    return {"iof": iof, "ost": ost, "clinic": clinic, "client_id": client_id, "me": me}


def consent_body(**overrides) -> dict:
    body = {"from": SOCIAL, "to": {**HEALTH, "unit": None}, "categories": ["assessment"], "purposes": ["care"],
            "valid_until": _iso(timedelta(days=90))}
    body.update(overrides)
    return body


async def events(db, **where) -> list[dict]:
    clauses = " AND ".join(f"{column} = ${i}" for i, column in enumerate(where, 1)) or "true"
    rows = await db.fetch(f"SELECT * FROM audit_events WHERE {clauses} ORDER BY seq", *where.values())
    return [dict(row) for row in rows]


async def test_a_client_sees_their_own_record_or_an_empty_one(client, api, tokens, db):
    await api.unit("malmo-iof", **SOCIAL)
    stranger = tokens.auth(sub=OTHER_ADULT, roles=["client"])
    response = await client.get("/v1/me", headers=stranger)
    assert response.status == 200, await response.text()
    assert await response.json() == {"registered": False, "id": None, "name": None, "birth_date": None,
                                      "is_minor": None}
    registered = await api.register(api.staff("malmo-iof"), OTHER_ADULT, name="Anna Andersson")
    body = await (await client.get("/v1/me", headers=stranger)).json()
    assert body["registered"] and body["id"] == registered["id"] and body["name"] == "Anna Andersson"
    assert body["is_minor"] is False
    (event,) = await events(db, action="me.read", client_id=uuid.UUID(registered["id"]))
    assert event["actor_sub"].startswith("client:") and event["decision"] == "allow"
    assert event["actor_name"] is None and event["actor_unit"] is None and event["basis"] == "self"


async def test_client_tokens_are_the_client_role_alone_with_a_valid_number(client, tokens):
    for headers in (tokens.auth(sub=ADULT, roles=["client", "staff"], unit="malmo-iof"),
                    tokens.auth(sub=ADULT, roles=["client"], unit="malmo-iof"),
                    tokens.auth(sub="19121212-1213", roles=["client"])):  # a wrong check digit
        response = await client.get("/v1/me", headers=headers)
        assert response.status == 401, await response.text()
        assert "1212" not in await response.text()


async def test_the_client_role_reaches_nothing_but_itself(client, town, db):
    response = await client.get(f"/v1/clients/{town['client_id']}", headers=town["me"])
    assert response.status == 403
    staff_on_me = await client.get("/v1/me", headers=town["iof"])
    assert staff_on_me.status == 403
    assert (await client.get("/v1/units", headers=town["me"])).status == 403
    (refused,) = await events(db, action="client.read", decision="deny")
    assert refused["actor_sub"].startswith("client:") and refused["reason_codes"] == ["forbidden_role"]


async def test_another_persons_ids_are_404(client, api, tokens, town, db):
    """Consents and documents of someone else answer as ids that do not exist, and the refusal is audited."""
    other = (await api.register(town["iof"], OTHER_ADULT))["id"]
    await api.relation(town["iof"], other)
    consent = await client.post(f"/v1/clients/{other}/consents", headers=town["iof"],
                                json={**consent_body(), "given_by": "client", "form": "verbal"})
    assert consent.status == 201, await consent.text()
    consent_id = (await consent.json())["id"]
    document = await created(client, town["iof"], other, title="Annans utredning")
    released = await client.post(f"/v1/documents/{document['id']}/release", headers=town["iof"], json={})
    assert released.status == 200, await released.text()

    me = town["me"]
    unknown = await client.post(f"/v1/me/consents/{uuid.uuid4()}/revoke", headers=me, json={})
    theirs = await client.post(f"/v1/me/consents/{consent_id}/revoke", headers=me, json={})
    assert theirs.status == unknown.status == 404
    assert (await theirs.json())["code"] == (await unknown.json())["code"] == "not_found"
    content = await client.get(f"/v1/me/documents/{document['id']}/content", headers=me)
    nothing = await client.get(f"/v1/me/documents/{uuid.uuid4()}/content", headers=me)
    assert content.status == nothing.status == 404
    assert (await (await client.get("/v1/me/documents", headers=me)).json())["items"] == []
    assert all(c["id"] != consent_id for c in (await (await client.get("/v1/me/consents", headers=me)).json())["items"])
    # Still in force: the other person's consent was not touched.
    assert await db.fetchval("SELECT revoked_at FROM consents WHERE id = $1", uuid.UUID(consent_id)) is None
    refused = await events(db, action="consent.revoke", decision="deny")
    assert [e["reason_codes"] for e in refused] == [["unknown_consent"], ["unknown_consent"]]
    # The refusal names the caller, never the other person.
    assert all(e["client_id"] == uuid.UUID(town["client_id"]) for e in refused)
    read = await events(db, action="document.read_content", decision="deny")
    assert len(read) == 2 and all(e["client_id"] is None for e in read)


async def test_a_minor_gives_no_electronic_consent(client, api, tokens, town, db):
    minor_id = (await api.register(town["iof"], MINOR))["id"]
    response = await client.post("/v1/me/consents", headers=tokens.auth(sub=MINOR, roles=["client"]),
                                 json=consent_body())
    assert response.status == 403, await response.text()
    assert (await response.json())["code"] == "minor"
    assert await db.fetchval("SELECT count(*) FROM consents") == 0
    (event,) = await events(db, action="consent.grant")
    assert event["decision"] == "deny" and event["reason_codes"] == ["minor"]
    assert event["client_id"] == uuid.UUID(minor_id)


async def test_an_adult_gives_a_consent_that_opens_at_once(client, town, db):
    document = await created(client, town["iof"], town["client_id"], title="Utredning")
    before = await client.get(f"/v1/documents/{document['id']}", headers=town["clinic"])
    assert before.status == 404
    response = await client.post("/v1/me/consents", headers=town["me"], json=consent_body())
    assert response.status == 201, await response.text()
    consent = await response.json()
    assert consent["status"] == "active" and consent["form"] == "electronic" and consent["given_by"] == "client"
    assert consent["recorded_by"].startswith("client:") and consent["recorded_by_unit"] is None
    after = await client.get(f"/v1/documents/{document['id']}", headers=town["clinic"])
    assert after.status == 200, await after.text()
    assert (await after.json())["access_basis"] == f"consent:{consent['id']}"
    # The recording rules are staff's: the same zone twice is refused, field named, and audited.
    same = await client.post("/v1/me/consents", headers=town["me"], json=consent_body(to={**SOCIAL, "unit": None}))
    assert same.status == 422 and (await same.json())["code"] == "same_zone"
    listed = await (await client.get("/v1/me/consents", headers=town["me"])).json()
    assert [c["id"] for c in listed["items"]] == [consent["id"]]


async def test_a_clients_revocation_closes_the_staffs_next_read(client, town, db):
    document = await created(client, town["iof"], town["client_id"], title="Utredning")
    response = await client.post(f"/v1/clients/{town['client_id']}/consents", headers=town["iof"],
                                 json={**consent_body(), "given_by": "client", "form": "verbal"})
    consent_id = (await response.json())["id"]
    assert (await client.get(f"/v1/documents/{document['id']}/content", headers=town["clinic"])).status == 200
    revoked = await client.post(f"/v1/me/consents/{consent_id}/revoke", headers=town["me"],
                                json={"reason": "Jag vill inte längre"})
    assert revoked.status == 200, await revoked.text()
    assert (await revoked.json())["status"] == "revoked"
    assert (await client.get(f"/v1/documents/{document['id']}/content", headers=town["clinic"])).status == 404
    (event,) = await events(db, action="consent.revoke")
    assert event["decision"] == "allow" and event["actor_sub"].startswith("client:")
    assert event["consent_id"] == uuid.UUID(consent_id) and event["basis"] == "self"


async def test_unreleased_documents_leave_no_trace(client, town, db):
    released = await created(client, town["iof"], town["client_id"], title="Beslut")
    hidden = await created(client, town["iof"], town["client_id"], title="Hemlig anteckning", category="journal_note")
    assert (await client.post(f"/v1/documents/{released['id']}/release", headers=town["iof"], json={})).status == 200
    me = town["me"]
    listed = await (await client.get("/v1/me/documents", headers=me)).json()
    assert [d["title"] for d in listed["items"]] == ["Beslut"] and listed["next_cursor"] is None
    assert "created_by" not in listed["items"][0] and listed["items"][0]["unit"]["name"] == "Unit malmo-iof"
    content = await client.get(f"/v1/me/documents/{released['id']}/content", headers=me)
    assert content.status == 200 and len(await content.read()) == released["size"]
    unreleased = await client.get(f"/v1/me/documents/{hidden['id']}/content", headers=me)
    nonexistent = await client.get(f"/v1/me/documents/{uuid.uuid4()}/content", headers=me)
    assert unreleased.status == nonexistent.status == 404
    first, second = await unreleased.json(), await nonexistent.json()
    assert {k: v for k, v in first.items() if k not in ("request_id", "instance")} == \
        {k: v for k, v in second.items() if k not in ("request_id", "instance")}
    # The staff's read of the unreleased document shows in the log as an access, not as a document.
    await client.get(f"/v1/documents/{hidden['id']}/content", headers=town["ost"])
    log = await (await client.get("/v1/me/access-log", headers=me)).json()
    text = json.dumps(log, ensure_ascii=False)
    assert str(hidden["id"]) not in text and "Hemlig" not in text
    # The read is audited as any other read, by the client's blind id, and names the document.
    (read,) = await events(db, action="document.read_content", decision="allow", document_id=uuid.UUID(released["id"]))
    assert read["actor_sub"].startswith("client:") and read["basis"] == "self" and read["purpose"] is None


async def test_release_rules(client, town, db):
    social = await created(client, town["iof"], town["client_id"], title="Social")
    not_owner = await client.post(f"/v1/documents/{social['id']}/release", headers=town["ost"], json={})
    assert not_owner.status == 403 and (await not_owner.json())["code"] == "not_owning_unit"
    delayed = await client.post(f"/v1/documents/{social['id']}/release", headers=town["iof"],
                                json={"visible_from": _iso(timedelta(days=3))})
    assert delayed.status == 422 and (await delayed.json())["code"] == "delay_not_allowed"
    assert (await delayed.json())["errors"][0]["field"] == "visible_from"
    assert (await client.post(f"/v1/documents/{social['id']}/release", headers=town["me"], json={})).status == 403
    health = await created(client, town["clinic"], town["client_id"], title="Provsvar")
    later = await client.post(f"/v1/documents/{health['id']}/release", headers=town["clinic"],
                              json={"visible_from": _iso(timedelta(days=3))})
    assert later.status == 200, await later.text()
    again = await client.post(f"/v1/documents/{health['id']}/release", headers=town["clinic"], json={})
    assert (await again.json())["visible_from"] == (await later.json())["visible_from"]  # the first stands
    assert (await (await client.get("/v1/me/documents", headers=town["me"])).json())["items"] == []
    assert (await client.get(f"/v1/me/documents/{health['id']}/content", headers=town["me"])).status == 404
    allowed = await events(db, action="document.release", decision="allow")
    assert [e["document_id"] for e in allowed] == [uuid.UUID(health["id"])] * 2
    (refused,) = await events(db, action="document.release", decision="deny", actor_sub="hsa-ost")
    assert refused["reason_codes"] == ["not_owning_unit"]
    (refused,) = await events(db, action="document.release", decision="deny", actor_sub="hsa-iof")
    assert refused["reason_codes"] == ["delay_not_allowed"] and refused["document_id"] == uuid.UUID(social["id"])
    assert await db.fetchval("SELECT count(*) FROM document_releases WHERE document_id = $1",
                             uuid.UUID(social["id"])) == 0


async def test_the_access_log_in_words(client, api, tokens, town):
    document = await created(client, town["iof"], town["client_id"], title="Utredning")
    await client.post(f"/v1/documents/{document['id']}/release", headers=town["iof"], json={})
    await client.post("/v1/me/consents", headers=town["me"], json=consent_body())
    assert (await client.get(f"/v1/documents/{document['id']}/content", headers=town["clinic"])).status == 200
    await api.unit("malmo-iof-vast", **SOCIAL)  # no relation with the client
    stranger = tokens.auth(sub="hsa-stranger", unit="malmo-iof-vast", roles=["staff"])
    assert (await client.get(f"/v1/clients/{town['client_id']}", headers=stranger)).status == 404
    log = await (await client.get("/v1/me/access-log", headers=town["me"], params={"limit": 500})).json()
    entries = log["items"]
    read = next(e for e in entries if e["action"] == "document.read_content")
    assert read["unit"] == {"id": "malmo-beroendecentrum", "name": "Unit malmo-beroendecentrum"}
    assert read["organisation"] == "region-skane" and read["basis"] == "consent" and read["decision"] == "allow"
    assert read["description"] == "Unit malmo-beroendecentrum öppnade dokumentet ”Utredning” med stöd av ditt samtycke."
    assert read["actor_name"] == "Name of hsa-clinic" and read["document_title"] == "Utredning"
    denied = next(e for e in entries if e["decision"] == "deny")
    assert denied["description"] == "Unit malmo-iof-vast försökte läsa dina uppgifter men nekades."
    assert denied["basis"] == "none" and denied["unit"]["id"] == "malmo-iof-vast"
    assert not any(e["action"] in ("me.read", "me.access_log", "consent.grant") for e in entries)  # not their own
    assert all(set(e) == set(entries[0]) for e in entries)
    assert '"hsa-' not in json.dumps(log) and "no_relation" not in json.dumps(log)  # no staff id, no reason code
    assert not {"sub", "reason_codes", "remote_addr", "request_id", "client_id"} & set(entries[0])
    paged = await (await client.get("/v1/me/access-log", headers=town["me"], params={"limit": 1})).json()
    assert len(paged["items"]) == 1 and paged["next_cursor"]


async def test_names_can_be_left_out_of_the_log(client, town):
    from dataclasses import replace

    from service.http.context import RUNTIME
    rt = client.server.app[RUNTIME]
    rt.settings = replace(rt.settings, extract_names=False)
    await client.get(f"/v1/clients/{town['client_id']}", headers=town["clinic"])
    log = await (await client.get("/v1/me/access-log", headers=town["me"])).json()
    assert log["items"] and all(e["actor_name"] is None for e in log["items"])


async def test_no_client_call_leaves_the_personal_number(client, town, db, caplog):
    caplog.set_level(logging.DEBUG)
    me = town["me"]
    document = await created(client, town["iof"], town["client_id"], title="Utredning")
    await client.post(f"/v1/documents/{document['id']}/release", headers=town["iof"], json={})
    consent = await (await client.post("/v1/me/consents", headers=me, json=consent_body())).json()
    calls = [client.get("/v1/me", headers=me), client.get("/v1/me/consents", headers=me),
             client.get("/v1/me/access-log", headers=me), client.get("/v1/me/documents", headers=me),
             client.get(f"/v1/me/documents/{document['id']}/content", headers=me),
             client.get(f"/v1/me/documents/{uuid.uuid4()}/content", headers=me),
             client.post(f"/v1/me/consents/{consent['id']}/revoke", headers=me, json={}),
             client.get(f"/v1/clients/{town['client_id']}", headers=me)]
    for call in calls:
        assert (await call).status in (200, 403, 404)
    rows = await db.fetch("SELECT e::text AS row FROM audit_events e WHERE actor_sub LIKE 'client:%'")
    assert len(rows) >= len(calls) + 1
    consents = await db.fetch("SELECT k::text AS row FROM consents k")
    logs = [JsonFormatter().format(record) for record in caplog.records]
    for text in [row["row"] for row in rows] + [row["row"] for row in consents] + logs:
        for spelling in spellings(ADULT):
            assert spelling not in text, text
    # One blind id for the person in every event, and never the blind index the clients table keeps.
    actors = {row["actor_sub"] for row in await db.fetch("SELECT actor_sub FROM audit_events WHERE actor_sub LIKE 'client:%'")}
    assert len(actors) == 1
    index = await db.fetchval("SELECT personal_number_index FROM clients WHERE id = $1", uuid.UUID(town["client_id"]))
    assert bytes(index).hex()[:32] not in actors.pop()


async def test_a_consent_given_now_cannot_begin_in_the_past(client, town, db):
    """Insider attack 8, finding 2: a client's consent dated 400 days back was recorded."""
    before = await db.fetchval("SELECT count(*) FROM consents")
    response = await client.post("/v1/me/consents", headers=town["me"],
                                 json=consent_body(valid_from=_iso(-timedelta(days=400))))
    assert response.status == 422 and (await response.json())["errors"][0]["field"] == "valid_from"
    assert await db.fetchval("SELECT count(*) FROM consents") == before
    ok = await client.post("/v1/me/consents", headers=town["me"], json=consent_body(valid_from=_iso(-timedelta(minutes=1))))
    assert ok.status == 201, await ok.text()


async def test_a_clients_web_session_has_its_own_pages_only(settings, town, tokens):
    """Insider attack 8, findings 3 and 4: a client's session opened the staff's client search, and a huge page
    cursor on the access log broke the page."""
    import re

    import aiohttp
    from aiohttp.test_utils import TestClient, TestServer

    from service.app import create_app

    async with TestClient(TestServer(create_app(settings)), cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        html = await (await browser.get("/ui/sign-in")).text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
        signed = await browser.post("/ui/sign-in", data={"csrf": csrf, "token": tokens(sub=ADULT, roles=["client"])},
                                    allow_redirects=False)
        assert signed.status == 303
        for path in ("/ui/clients", f"/ui/clients/{town['client_id']}", "/ui/sip-plans/overdue"):
            response = await browser.get(path, allow_redirects=False)
            assert response.status == 303 and response.headers["Location"] == "/ui/me/", path
        page = await browser.get("/ui/me/access-log?after=99999999999999999999999")
        assert page.status == 200 and page.content_type == "text/html"


async def test_a_consent_shows_the_person_no_staff_note_nor_an_evidence_document_not_released(client, town, db):
    """Insider attack 14, L1: the person's view of a consent carries every term of it, but not the recording staff's
    note (OSL 25:6, 26:5: it may hold what staff keep back), nor the id of an evidence document that is not released
    to them (unreleased documents leave no trace); once the document is released, it is named."""
    form = await created(client, town["iof"], town["client_id"], title="Samtyckesblankett", category="consent_form")
    note = "Internt: klienten har skyddad adress, partner hotfull"
    basis = "Samtal med klienten; pappan hotfull enligt anmälan"
    recorded = await client.post(f"/v1/clients/{town['client_id']}/consents", headers=town["iof"], json={
        **consent_body(), "given_by": "client", "form": "written", "evidence_document_id": form["id"], "note": note,
        "maturity_assessed": True,
        "maturity": {"assessed_by": "Kurator K", "assessed_at": _iso()[:10], "basis": basis}})
    assert recorded.status == 201, await recorded.text()
    assert (await recorded.json())["maturity"]["basis"] == basis
    consent_id = (await recorded.json())["id"]
    staff_view = (await (await client.get(f"/v1/clients/{town['client_id']}/consents", headers=town["iof"])).json())
    assert staff_view["items"][0]["note"] == note and staff_view["items"][0]["evidence_document_id"] == form["id"]

    mine = await (await client.get("/v1/me/consents", headers=town["me"])).json()
    (seen,) = mine["items"]
    assert seen["id"] == consent_id and seen["note"] is None and seen["evidence_document_id"] is None
    assert seen["categories"] == ["assessment"] and seen["recorded_by_unit"] == "malmo-iof"  # the terms stay
    assert seen["maturity"] == {"assessed_by": "Kurator K", "assessed_at": _iso()[:10], "basis": None}
    assert form["id"] not in json.dumps(mine) and "skyddad" not in json.dumps(mine) and "hotfull" not in json.dumps(mine)

    assert (await client.post(f"/v1/documents/{form['id']}/release", headers=town["iof"], json={})).status == 200
    (seen,) = (await (await client.get("/v1/me/consents", headers=town["me"])).json())["items"]
    assert seen["evidence_document_id"] == form["id"] and seen["note"] is None
    revoked = await client.post(f"/v1/me/consents/{consent_id}/revoke", headers=town["me"], json={})
    assert revoked.status == 200, await revoked.text()
    answer = await revoked.json()
    assert answer["status"] == "revoked" and answer["note"] is None and answer["evidence_document_id"] == form["id"]
    assert answer["maturity"]["basis"] is None


async def test_a_delayed_release_enters_the_persons_log_when_the_document_shows(client, town, db):
    """Insider attack 14, L2: a health document released with a delay (OSL 25:6) is not in the person's documents
    until the day, and neither is the release in their log: it would tell them that something is coming. From the
    day on, the release shows where it happened (by seq), and paging by cursor skips nothing."""
    document = await created(client, town["clinic"], town["client_id"], title="Provsvar")
    later = await client.post(f"/v1/documents/{document['id']}/release", headers=town["clinic"],
                              json={"visible_from": _iso(timedelta(days=10))})
    assert later.status == 200, await later.text()
    for _ in range(3):  # reads after the release, so the release is not the last event
        assert (await client.get(f"/v1/clients/{town['client_id']}", headers=town["iof"])).status == 200
    refused = await client.post(f"/v1/documents/{document['id']}/release", headers=town["ost"], json={})
    assert refused.status in (403, 404)  # another zone's unit: a refused attempt, which waits for nothing

    async def log(limit: int) -> list[dict]:
        entries, cursor = [], None
        while True:
            params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
            page = await (await client.get("/v1/me/access-log", headers=town["me"], params=params)).json()
            assert page["items"] or not page["next_cursor"]
            entries += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return entries

    whole = await log(500)
    assert [e["decision"] for e in whole if e["action"] == "document.release"] == ["deny"]
    assert document["id"] not in json.dumps(whole) and "gjorde" not in json.dumps(whole, ensure_ascii=False)
    assert [e["seq"] for e in await log(1)] == [e["seq"] for e in whole]  # one by one: the same, nothing skipped
    (release,) = await events(db, action="document.release", decision="allow")

    await db.execute("UPDATE document_releases SET visible_from = now() - interval '1 second' WHERE document_id = $1",
                     uuid.UUID(document["id"]))
    after = await log(500)
    (shown,) = [e for e in after if e["action"] == "document.release" and e["decision"] == "allow"]
    assert shown["seq"] == release["seq"] and shown["document_title"] == "Provsvar"
    assert [e["seq"] for e in after] == sorted([*(e["seq"] for e in whole), release["seq"]])
    assert [e["seq"] for e in await log(1)] == [e["seq"] for e in after]
