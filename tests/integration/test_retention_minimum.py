"""Health documents keep a ten-year minimum (API-1.1 "Retention", PDL 3:17, 8:4): a patient record younger than ten
years is shredded only on IVO's decision, named in the body; the refusal is audited; the reference is kept sealed in
the tombstone and named in the audit event's basis."""
from __future__ import annotations

import uuid

import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient, TestServer

from service.app import create_app
from tests.integration.test_documents import created
from tests.integration.test_ui_http import csrf_of, sign_in

IVO = "IVO 3.5.1-12345/2026"


@pytest.fixture
async def clinic(api):
    """The region's clinic (health) and a second clinic unit, Malmö's IFO (social); one client with relations."""
    await api.unit("beroende", organisation="region-skane", domain="health")
    await api.unit("psykiatri", organisation="region-skane", domain="health")
    await api.unit("iof", organisation="malmo-stad", domain="social")
    people = {
        "staff": api.staff("beroende", sub="hsa-staff"),
        "manager": api.staff("beroende", sub="hsa-chef", roles=["unit_manager"]),
        "other_manager": api.staff("psykiatri", sub="hsa-chef-2", roles=["unit_manager"]),
        "iof": api.staff("iof", sub="hsa-iof"),
        "iof_manager": api.staff("iof", sub="hsa-iof-chef", roles=["unit_manager"]),
    }
    person = (await api.register(people["iof"]))["id"]
    for name in ("staff", "other_manager", "iof"):
        await api.relation(people[name], person)
    return {"people": people, "client": person}


async def _shred(client, headers, document_id, **body):
    return await client.delete(f"/v1/documents/{document_id}", headers=headers, json={"reason": "fel patient", **body})


async def _events(db, document_id):
    rows = await db.fetch("SELECT actor_sub, decision, basis, reason_codes FROM audit_events "
                          "WHERE action = 'document.shred' AND document_id = $1 ORDER BY seq", uuid.UUID(document_id))
    return [(r["actor_sub"], r["decision"], r["basis"], list(r["reason_codes"])) for r in rows]


async def test_a_young_patient_record_is_shredded_only_on_an_ivo_decision(client, clinic, db):
    people = clinic["people"]
    document = await created(client, people["staff"], clinic["client"])
    refused = await _shred(client, people["manager"], document["id"])
    body = await refused.json()
    assert (refused.status, body["code"]) == (409, "retention_minimum") and "IVO" in body["detail"]
    assert await _events(db, document["id"]) == [("hsa-chef", "deny", "none", ["retention_minimum"])]
    assert await db.fetchval("SELECT status FROM documents WHERE id = $1", uuid.UUID(document["id"])) == "active"
    assert (await client.get(f"/v1/documents/{document['id']}/content", headers=people["staff"])).status == 200

    assert (await _shred(client, people["manager"], document["id"], ivo_decision=f"  {IVO} ")).status == 204
    events = await _events(db, document["id"])
    assert events[1] == ("hsa-chef", "allow", f"ivo_decision:{IVO}", [])
    row = await db.fetchrow("SELECT status, ivo_decision_sealed FROM documents WHERE id = $1", uuid.UUID(document["id"]))
    assert row["status"] == "shredded" and IVO.encode() not in bytes(row["ivo_decision_sealed"])  # sealed at rest
    tombstone = await (await client.get(f"/v1/documents/{document['id']}", headers=people["staff"])).json()
    assert (tombstone["status"], tombstone["ivo_decision"]) == ("shredded", IVO)


async def test_no_floor_for_social_services_or_a_record_ten_years_old(client, clinic, db):
    people = clinic["people"]
    social = await created(client, people["iof"], clinic["client"])
    assert (await _shred(client, people["iof_manager"], social["id"])).status == 204
    tombstone = await (await client.get(f"/v1/documents/{social['id']}", headers=people["iof"])).json()
    assert tombstone["status"] == "shredded" and tombstone["ivo_decision"] is None
    old, young = [await created(client, people["staff"], clinic["client"]) for _ in range(2)]
    await db.execute("UPDATE documents SET created_at = now() - interval '10 years' - interval '1 day' WHERE id = $1",
                     uuid.UUID(old["id"]))
    await db.execute("UPDATE documents SET created_at = now() - interval '10 years' + interval '1 day' WHERE id = $1",
                     uuid.UUID(young["id"]))
    assert (await _shred(client, people["manager"], old["id"])).status == 204
    assert await _events(db, old["id"]) == [("hsa-chef", "allow", "own_zone", [])]
    assert ((await _shred(client, people["manager"], young["id"])).status) == 409


@pytest.mark.parametrize("reference", ["", "   ", "x" * 101, "IVO\n123", "IVO \u202e321", "IVO\x00", 12345])
async def test_the_reference_is_validated_naming_the_field(client, clinic, db, reference):
    people = clinic["people"]
    document = await created(client, people["staff"], clinic["client"])
    before = await db.fetchval("SELECT count(*) FROM audit_events")
    response = await _shred(client, people["manager"], document["id"], ivo_decision=reference)
    body = await response.json()
    assert (response.status, body["code"]) == (422, "validation_failed")
    assert [e["field"] for e in body["errors"]] == ["ivo_decision"]
    assert await db.fetchval("SELECT status FROM documents WHERE id = $1", uuid.UUID(document["id"])) == "active"
    assert await db.fetchval("SELECT count(*) FROM audit_events") == before


async def test_the_order_of_checks_holds(client, clinic, db):
    """Role gate, body, existence and ownership, then the rule: a caller who may not shred learns nothing of it."""
    people = clinic["people"]
    document = await created(client, people["staff"], clinic["client"])
    staff = await _shred(client, people["staff"], document["id"], ivo_decision="")
    assert (staff.status, (await staff.json())["code"]) == (403, "forbidden_role")
    other = await _shred(client, people["other_manager"], document["id"])
    assert (other.status, (await other.json())["code"]) == (403, "not_owning_unit")
    social = await _shred(client, people["iof_manager"], document["id"])  # another zone: no such document
    assert (social.status, (await social.json())["code"]) == (404, "not_found")
    missing = await _shred(client, people["manager"], str(uuid.uuid4()))
    assert (missing.status, (await missing.json())["code"]) == (404, "not_found")
    events = await _events(db, document["id"])
    assert events and {e[1] for e in events} == {"deny"} and ["retention_minimum"] not in [e[3] for e in events]
    assert await db.fetchval("SELECT status FROM documents WHERE id = $1", uuid.UUID(document["id"])) == "active"


async def test_the_shred_form_offers_the_ivo_reference_and_says_why_it_refused(settings, tokens, api, client, clinic, db):
    people, person = clinic["people"], clinic["client"]
    document = await created(client, people["staff"], person, title="Anteckning vid inskrivning")
    async with TestClient(TestServer(create_app(settings)), cookie_jar=CookieJar(unsafe=True)) as browser:
        csrf = await sign_in(browser, tokens, sub="hsa-chef", unit="beroende", roles=["unit_manager"])
        # The shred form is a confirmation step that names the document (issue #20: it left the client page).
        page = await (await browser.get(f"/ui/clients/{person}/documents/{document['id']}/shred")).text()
        assert 'id="shred-form"' in page and 'name="ivo_decision"' in page and "PDL 8 kap. 4 §" in page
        assert "Anteckning vid inskrivning" in page
        form = {"csrf": csrf, "document_id": document["id"], "reason": "Fel patient", "ivo_decision": "  "}
        refused = await browser.post(f"/ui/clients/{person}/shred", data=form)
        text = await refused.text()
        assert refused.status == 409 and 'role="alert"' in text and "ange beslutets diarienummer" in text
        too_long = await browser.post(f"/ui/clients/{person}/shred", data={**form, "ivo_decision": "x" * 101})
        assert too_long.status == 422 and 'role="alert"' in await too_long.text()
        assert await db.fetchval("SELECT status FROM documents WHERE id = $1", uuid.UUID(document["id"])) == "active"
        assert [e[1:] for e in await _events(db, document["id"])] == [("deny", "none", ["retention_minimum"])]
        done = await browser.post(f"/ui/clients/{person}/shred", data={**form, "ivo_decision": IVO},
                                  allow_redirects=False)
        assert done.status == 303
        page = await (await browser.get(f"/ui/clients/{person}")).text()
        assert "förstört" in page and f"IVO-beslut {IVO}" in page
        await browser.post("/ui/sign-out", data={"csrf": csrf_of(page)})
        social = await created(client, people["iof"], person)
        csrf = await sign_in(browser, tokens, sub="hsa-iof-chef", unit="iof", roles=["unit_manager"])
        page = await (await browser.get(f"/ui/clients/{person}/documents/{social['id']}/shred")).text()
        assert 'id="shred-form"' in page and 'name="ivo_decision"' not in page  # social services: no such floor
        shredded = await browser.post(f"/ui/clients/{person}/shred", allow_redirects=False,
                                      data={"csrf": csrf, "document_id": social["id"], "reason": "Fel klient"})
        assert shredded.status == 303
