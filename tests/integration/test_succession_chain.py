"""A succeeded unit stays succeeded (insider attack 9, finding 1): it is never activated again, a consent never
names it (nor any inactive unit), and successions form chains without cycles, so a consent given to a unit opens
for the unit that holds its records and for no other."""
from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from tests.integration.test_consents import clinic, consent_body  # noqa: F401  (the fixture)
from tests.integration.test_ui_http import browser  # noqa: F401  (the fixture)

OLD, NEW, THIRD = "malmo-beroendecentrum", "beroende-nya", "beroende-tredje"


def _now() -> str:
    return datetime.now(UTC).isoformat()


async def _succeed(client, api, predecessor: str, successor: str):
    return await client.post(f"/v1/units/{predecessor}/succession", headers=api.admin,
                             json={"successor": successor, "effective_at": _now()})


async def test_a_succeeded_unit_is_not_activated_again(client, api, clinic, db):
    await api.unit(NEW, organisation="region-skane", domain="health")
    assert (await _succeed(client, api, OLD, NEW)).status == 200
    response = await client.patch(f"/v1/units/{OLD}", headers=api.admin, json={"active": True})
    assert response.status == 409 and (await response.json())["code"] == "conflict"
    assert await db.fetchval("SELECT active FROM units WHERE id = $1", OLD) is False
    # Deactivating it again is harmless and allowed; an unsucceeded unit is reactivated as before.
    assert (await client.patch(f"/v1/units/{OLD}", headers=api.admin, json={"active": False})).status == 200
    assert (await client.patch("/v1/units/malmo-psykiatri", headers=api.admin, json={"active": False})).status == 200
    assert (await client.patch("/v1/units/malmo-psykiatri", headers=api.admin, json={"active": True})).status == 200
    # The last line: the database refuses it too, whatever the application does.
    with pytest.raises(asyncpg.IntegrityConstraintViolationError):
        await db.execute("UPDATE units SET active = true WHERE id = $1", OLD)


async def test_a_consent_never_names_an_inactive_unit(client, api, clinic):
    people, client_id = clinic
    await api.unit(NEW, organisation="region-skane", domain="health")
    assert (await _succeed(client, api, OLD, NEW)).status == 200
    to = {"organisation": "region-skane", "domain": "health"}
    named_old = await client.post(f"/v1/clients/{client_id}/consents", headers=people["iof"],
                                  json=consent_body(to={**to, "unit": OLD}))
    unknown = await client.post(f"/v1/clients/{client_id}/consents", headers=people["iof"],
                                json=consent_body(to={**to, "unit": "ingen-sadan-enhet"}))
    assert named_old.status == unknown.status == 422
    old_body, unknown_body = await named_old.json(), await unknown.json()
    assert old_body["code"] == unknown_body["code"] and old_body["errors"] == unknown_body["errors"]
    assert old_body["errors"][0]["field"] == "to.unit"
    # The heir is named instead, and that is accepted.
    named_new = await client.post(f"/v1/clients/{client_id}/consents", headers=people["iof"],
                                  json=consent_body(to={**to, "unit": NEW}))
    assert named_new.status == 201, await named_new.text()


async def test_successions_form_no_cycle_and_never_into_a_succeeded_unit(client, api, clinic, db):
    await api.unit(NEW, organisation="region-skane", domain="health")
    await api.unit(THIRD, organisation="region-skane", domain="health")
    assert (await _succeed(client, api, OLD, NEW)).status == 200
    # Into the succeeded unit (its records are NEW's): refused, and so is the cycle back.
    into_old = await _succeed(client, api, THIRD, OLD)
    assert into_old.status == 409 and (await into_old.json())["code"] == "conflict"
    back = await _succeed(client, api, NEW, OLD)
    assert back.status == 409
    assert await db.fetchval("SELECT count(*) FROM unit_successions") == 1
    # The database's last line, were the units active: successor succeeded itself, or a cycle.
    await db.execute("ALTER TABLE units DISABLE TRIGGER units_succeeded_stay_inactive")
    await db.execute("UPDATE units SET active = true WHERE id = $1", OLD)
    await db.execute("ALTER TABLE units ENABLE TRIGGER units_succeeded_stay_inactive")
    for predecessor, successor in ((THIRD, OLD), (NEW, OLD)):
        with pytest.raises(asyncpg.IntegrityConstraintViolationError):
            await db.execute("INSERT INTO unit_successions (predecessor, successor, effective_at, recorded_by, "
                             "documents, relations, consents, disclosures) VALUES ($1, $2, now(), 't', 0, 0, 0, 0)",
                             predecessor, successor)
    assert await db.fetchval("SELECT unit_heir($1)", OLD) == NEW


async def test_a_succession_into_a_unit_a_block_keeps_out_is_refused_unless_said(client, api, clinic, db):
    """Insider attack 9, finding 2: the block (PDL 4:4) holds against every unit but the owning one; moved into a
    unit that knows the client, the document would be its own. The preview counts them; the move needs "move"."""
    from tests.integration.test_documents import created

    people, client_id = clinic
    iof = people["iof"]
    await api.unit("malmo-iof-2", organisation="malmo-stad", domain="social")
    other = api.staff("malmo-iof-2", sub="hsa-other")
    await api.relation(other, client_id)
    document = await created(client, iof, client_id, b"Sparrad\n", content_type="text/plain",
                             category="journal_note", title="Sparrad")
    blocked = await client.post(f"/v1/documents/{document['id']}/block", headers=iof,
                                json={"reason": "Klienten begär spärr mot övriga enheter"})
    assert blocked.status in (200, 201), await blocked.text()
    assert (await client.get(f"/v1/documents/{document['id']}", headers=other)).status == 404

    preview = await client.get("/v1/units/malmo-iof/succession?successor=malmo-iof-2", headers=api.admin)
    assert preview.status == 200 and (await preview.json())["blocked_documents"] == 1
    plain = await client.get("/v1/units/malmo-iof/succession", headers=api.admin)
    assert (await plain.json())["blocked_documents"] is None

    refused = await client.post("/v1/units/malmo-iof/succession", headers=api.admin,
                                json={"successor": "malmo-iof-2", "effective_at": _now()})
    assert refused.status == 409 and (await refused.json())["code"] == "blocked_documents"
    assert await db.fetchval("SELECT count(*) FROM unit_successions") == 0
    assert (await client.get(f"/v1/documents/{document['id']}", headers=other)).status == 404
    event = await db.fetchrow("SELECT decision, reason_codes FROM audit_events WHERE action = 'unit.succession'")
    assert event["decision"] == "deny" and "blocked_documents" in event["reason_codes"]

    moved = await client.post("/v1/units/malmo-iof/succession", headers=api.admin,
                              json={"successor": "malmo-iof-2", "effective_at": _now(), "blocked_documents": "move"})
    assert moved.status == 200, await moved.text()
    basis = await db.fetchval("SELECT basis FROM audit_events WHERE action = 'unit.succession' AND decision = 'allow'")
    assert basis == "succession:malmo-iof:malmo-iof-2:blocked_documents_moved"


async def test_the_succession_page_counts_the_blocked_documents_and_asks(browser, tokens, api, db):
    from tests.integration.test_documents import created
    from tests.integration.test_ui_http import csrf_of, sign_in

    await api.unit("stadsdel-centrum")
    await api.unit("omrade-innerstaden")
    staff, heir = api.staff("stadsdel-centrum"), api.staff("omrade-innerstaden", sub="hsa-heir")
    client_id = (await api.register(staff))["id"]
    await api.relation(staff, client_id)
    await api.relation(heir, client_id)
    document = await created(browser, staff, client_id, b"Text\n", content_type="text/plain")
    assert (await browser.post(f"/v1/documents/{document['id']}/block", headers=staff,
                               json={"reason": "Klientens begäran"})).status in (200, 201)
    await sign_in(browser, tokens, sub="admin-1", roles=["admin"])
    page = await browser.get("/ui/admin/succession?unit=stadsdel-centrum&successor=omrade-innerstaden")
    html = await page.text()
    assert page.status == 200 and 'id="blocked-documents">1<' in html and 'name="blocked_documents"' in html
    form = {"csrf": csrf_of(html), "unit": "stadsdel-centrum", "successor": "omrade-innerstaden"}
    refused = await browser.post("/ui/admin/succession", data=form)
    assert refused.status == 409
    assert await db.fetchval("SELECT unit_id FROM documents") == "stadsdel-centrum"
    done = await browser.post("/ui/admin/succession", data={**form, "blocked_documents": "move"})
    assert done.status == 200 and 'id="succession-done"' in await done.text()
    assert await db.fetchval("SELECT unit_id FROM documents") == "omrade-innerstaden"


async def test_a_succession_is_not_backdated(client, api, clinic, db):
    """Insider attack 9, finding 6: effective_at 1970 rewrote the relations' history (zero-length relations)."""
    from datetime import timedelta

    await api.unit(NEW, organisation="region-skane", domain="health")
    created = await db.fetchval("SELECT created_at FROM units WHERE id = $1", NEW)
    for instant in ("1970-01-01T00:00:00+00:00", (datetime.now(UTC) - timedelta(minutes=10)).isoformat(),
                    (created - timedelta(seconds=1)).isoformat()):
        response = await client.post(f"/v1/units/{OLD}/succession", headers=api.admin,
                                     json={"successor": NEW, "effective_at": instant})
        body = await response.json()
        assert response.status == 422 and body["errors"][0]["field"] == "effective_at", (instant, body)
    assert await db.fetchval("SELECT count(*) FROM unit_successions") == 0
    assert (await _succeed(client, api, OLD, NEW)).status == 200


async def test_a_second_succession_counts_the_consents_naming_the_first_predecessor(client, api, clinic):
    """A consent naming OLD is honoured for NEW after OLD -> NEW, and for THIRD after NEW -> THIRD: the preview and
    the result of the second succession count it."""
    people, client_id = clinic
    consent = consent_body(to={"organisation": "region-skane", "domain": "health", "unit": OLD})
    assert (await client.post(f"/v1/clients/{client_id}/consents", headers=people["iof"], json=consent)).status == 201
    await api.unit(NEW, organisation="region-skane", domain="health")
    await api.unit(THIRD, organisation="region-skane", domain="health")
    assert (await _succeed(client, api, OLD, NEW)).status == 200
    preview = await (await client.get(f"/v1/units/{NEW}/succession", headers=api.admin)).json()
    assert preview["consents"] == 1
    second = await _succeed(client, api, NEW, THIRD)
    assert second.status == 200 and (await second.json())["consents"] == 1
