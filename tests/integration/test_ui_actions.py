"""The web interface's actions of issue #20 over HTTP, each with the audit event it leaves: the consent form's
choosers and ÅÅÅÅ-MM-DD dates, block and unblock with a reason, shred after a confirmation naming the document,
ending a relation, "Mina klienter" and the paging of documents and consents, the auditor's lookup by personal
number, the SIP close form only where closing is allowed; and pages in words, not codes."""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from service.ui import staff
from tests import files
from tests.integration.test_consents import HEALTH_SKANE, SOCIAL_MALMO, consent_body
from tests.integration.test_sip_plans import plan_body
from tests.integration.test_ui_http import browser, csrf_of, luhn_number, sign_in  # noqa: F401  (fixture)

SWEDEN = ZoneInfo("Europe/Stockholm")


async def _events(db, action, sub=None):
    rows = await db.fetch("SELECT actor_sub, decision, basis, reason_codes, client_id, document_id FROM audit_events "
                          "WHERE action = $1 AND ($2::text IS NULL OR actor_sub = $2) ORDER BY seq", action, sub)
    return [dict(row) for row in rows]


async def _world(api, client):
    """Malmö's social services (iof) and the region's clinic (beroendecentrum), one client with a relation of iof."""
    await api.unit("iof", **SOCIAL_MALMO)
    await api.unit("beroendecentrum", **HEALTH_SKANE)
    social = api.staff("iof", sub="anna")
    person = (await api.register(social))["id"]
    await api.relation(social, person)
    return social, person


async def _upload(client, headers, person, title, category="assessment"):
    response = await client.post(f"/v1/clients/{person}/documents", headers=headers, data=files.upload(category, title))
    assert response.status == 201, await response.text()
    return await response.json()


async def test_the_consent_form_chooses_the_receiver_by_name_and_reads_dates_as_swedish_days(browser, tokens, api,
                                                                                              client, db):
    _, person = await _world(api, client)
    csrf = await sign_in(browser, tokens, sub="anna", unit="iof", roles=["staff"])
    form_page = await (await browser.get(f"/ui/clients/{person}/consents")).text()
    # Chosen from the registered units, never typed: no organisation id to know.
    assert '<option value="unit:beroendecentrum">Unit beroendecentrum</option>' in form_page
    assert 'name="to_organisation"' not in form_page and 'type="datetime-local"' not in form_page
    assert "Region Skåne, hälso- och sjukvård" in form_page and "ÅÅÅÅ-MM-DD" in form_page
    last_day = (datetime.now(SWEDEN) + timedelta(days=30)).date()
    fields = [("csrf", csrf), ("from_zone", "malmo-stad/social"), ("to", "unit:beroendecentrum"),
              ("given_by", "client"), ("form", "verbal"), ("categories", "assessment"), ("purposes", "care")]
    # A date in a browser's US format is refused beside the field, and the summary links to it.
    refused = await browser.post(f"/ui/clients/{person}/consents",
                                 data=fields + [("valid_until", last_day.strftime("%m/%d/%Y"))])
    html = await refused.text()
    assert refused.status == 422 and 'id="error-summary"' in html and 'href="#valid_until"' in html
    assert "Skriv datumet som ÅÅÅÅ-MM-DD." in html and 'aria-describedby="valid_until-error"' in html
    assert await db.fetchval("SELECT count(*) FROM consents") == 0
    recorded = await browser.post(f"/ui/clients/{person}/consents", allow_redirects=False,
                                  data=fields + [("valid_until", last_day.isoformat())])
    assert recorded.status == 303, await recorded.text()
    row = await db.fetchrow("SELECT to_unit, to_organisation, valid_until FROM consents")
    assert (row["to_unit"], row["to_organisation"]) == ("beroendecentrum", "region-skane")
    assert row["valid_until"].astimezone(SWEDEN).date() == last_day  # the last day counts whole
    assert row["valid_until"].astimezone(SWEDEN).hour == 23
    assert [(e["decision"], e["client_id"]) for e in await _events(db, "consent.grant", "anna")] == \
        [("allow", uuid.UUID(person))]
    listed = await (await browser.get(f"/ui/clients/{person}/consents")).text()
    assert f">{last_day.isoformat()}</td>" in listed and "Unit beroendecentrum (Region Skåne)" in listed
    assert "region-skane" not in re.sub(r'value="[^"]*"', "", listed)  # the code only in the choosers' values


async def test_block_unblock_and_shred_with_a_confirmation_naming_the_document(browser, tokens, api, client, db):
    social, person = await _world(api, client)
    document = await _upload(client, social, person, "Utredning om boende")
    csrf = await sign_in(browser, tokens, sub="chef", unit="iof", roles=["unit_manager"])
    page_path = f"/ui/clients/{person}/documents/{document['id']}"
    page = await (await browser.get(page_path)).text()
    assert "<dd>Utredning</dd>" in page and "assessment" not in page  # the category in words
    assert "Ladda ned ”Utredning om boende”" in page  # the download link names the document
    empty = await browser.post(f"{page_path}/block", data={"csrf": csrf, "reason": "  "})
    assert empty.status == 422 and 'href="#block-reason"' in await empty.text()
    assert await _events(db, "document.block") == []
    blocked = await browser.post(f"{page_path}/block", data={"csrf": csrf, "reason": "Klienten begärde spärr"},
                                 allow_redirects=False)
    assert blocked.status == 303
    assert await db.fetchval("SELECT blocked FROM documents WHERE id = $1", uuid.UUID(document["id"]))
    assert [(e["decision"], e["document_id"]) for e in await _events(db, "document.block", "chef")] == \
        [("allow", uuid.UUID(document["id"]))]
    page = await (await browser.get(blocked.headers["Location"])).text()
    assert "Dokumentet är spärrat." in page and "Ta bort spärren" in page
    unblocked = await browser.post(f"{page_path}/unblock", data={"csrf": csrf, "reason": "Klienten ångrade sig"},
                                   allow_redirects=False)
    assert unblocked.status == 303
    assert [e["decision"] for e in await _events(db, "document.unblock", "chef")] == ["allow"]
    assert not await db.fetchval("SELECT blocked FROM documents WHERE id = $1", uuid.UUID(document["id"]))

    # Shredding: a confirmation step that names the document first; nothing happens until it is confirmed.
    confirm = await (await browser.get(f"{page_path}/shred")).text()
    assert "Förstör dokumentet ”Utredning om boende”?" in confirm and 'id="shred-form"' in confirm
    assert await _events(db, "document.shred") == []
    done = await browser.post(f"/ui/clients/{person}/shred", allow_redirects=False,
                              data={"csrf": csrf, "document_id": document["id"], "reason": "Fel klient"})
    assert done.status == 303
    assert [e["decision"] for e in await _events(db, "document.shred", "chef")] == ["allow"]
    assert await db.fetchval("SELECT status FROM documents WHERE id = $1", uuid.UUID(document["id"])) == "shredded"
    # Staff (no shred role) are not offered the shred; another unit is not offered the block.
    await browser.post("/ui/sign-out", data={"csrf": csrf})
    await sign_in(browser, tokens, sub="anna", unit="iof", roles=["staff"])
    other = await _upload(client, social, person, "Journalanteckning 1")
    page = await (await browser.get(f"/ui/clients/{person}/documents/{other['id']}")).text()
    assert 'id="block-form"' in page and "/shred" not in page


async def test_ending_the_relation_is_confirmed_then_audited(browser, tokens, api, client, db):
    _, person = await _world(api, client)
    csrf = await sign_in(browser, tokens, sub="anna", unit="iof", roles=["staff"])
    client_page = await (await browser.get(f"/ui/clients/{person}")).text()
    assert f"/ui/clients/{person}/relation/end" in client_page
    confirm = await (await browser.get(f"/ui/clients/{person}/relation/end")).text()
    assert "Avsluta relationen med Tolvan Tolvansson?" in confirm and "Ärende" in confirm  # the kind in words
    action = re.search(r'action="(/ui/clients/[^"]+/end)"', confirm).group(1)
    ended = await browser.post(action, data={"csrf": csrf}, allow_redirects=False)
    assert (ended.status, ended.headers["Location"]) == (303, "/ui/clients?ended=1")
    assert [(e["decision"], e["client_id"]) for e in await _events(db, "relation.end", "anna")] == \
        [("allow", uuid.UUID(person))]
    assert await db.fetchval("SELECT ended_at IS NOT NULL FROM relations WHERE client_id = $1", uuid.UUID(person))
    assert (await browser.get(f"/ui/clients/{person}")).status == 404  # the unit no longer sees the client


async def test_my_clients_lists_the_units_active_relations_paged_and_audited(browser, tokens, api, client, db,
                                                                             monkeypatch):
    social, first = await _world(api, client)
    others = []
    for number, name in (("19900101-0017", "Alva Exempelsson"), (luhn_number("19800101"), "Bo Exempelsson")):
        person = (await api.register(social, personal_number=number, name=name))["id"]
        await api.relation(social, person)
        others.append(person)
    clinic = api.staff("beroendecentrum")
    stranger = (await api.register(clinic, personal_number=luhn_number("19700101"), name="Främling Främlingsson"))["id"]
    await api.relation(clinic, stranger)
    monkeypatch.setattr(staff, "PAGE", 2)
    await sign_in(browser, tokens, sub="anna", unit="iof", roles=["staff"])
    before = len(await _events(db, "client.list", "anna"))
    page = await (await browser.get("/ui/clients")).text()
    assert "Mina klienter" in page and "Bo Exempelsson" in page and "Alva Exempelsson" in page
    assert "Tolvan" not in page and "Främling" not in page  # newest first; another unit's client never
    following = re.search(r'href="(/ui/clients\?before=[^"]+)" rel="next"', page).group(1)
    second = await (await browser.get(following.replace("&amp;", "&"))).text()
    assert "Tolvan Tolvansson" in second and "Bo Exempelsson" not in second and 'rel="next"' not in second
    events = (await _events(db, "client.list", "anna"))[before:]
    named = {e["client_id"] for e in events if e["client_id"] is not None}
    assert named == {uuid.UUID(first), *map(uuid.UUID, others)}  # each client shown: one event naming them
    assert all(e["decision"] == "allow" and e["basis"] == "relation" for e in events)
    assert uuid.UUID(stranger) not in named


async def test_documents_and_consents_are_paged(browser, tokens, api, client, db, monkeypatch):
    social, person = await _world(api, client)
    for title in ("Dok A1", "Dok B2", "Dok C3"):
        await _upload(client, social, person, title)
    for days in (30, 60, 90):
        response = await client.post(f"/v1/clients/{person}/consents", headers=social,
                                     json=consent_body(valid_until=(datetime.now(SWEDEN) + timedelta(days=days)).isoformat()))
        assert response.status == 201, await response.text()
    monkeypatch.setattr(staff, "PAGE", 2)
    await sign_in(browser, tokens, sub="anna", unit="iof", roles=["staff"])
    page = await (await browser.get(f"/ui/clients/{person}")).text()
    assert "Dok A1" in page and "Dok B2" in page and "Dok C3" not in page
    following = re.search(r'href="([^"]+after=[^"]+)" rel="next"', page).group(1).replace("&amp;", "&")
    page = await (await browser.get(following)).text()
    assert "Dok C3" in page and "Dok A1" not in page and 'rel="next"' not in page
    consents = await (await browser.get(f"/ui/clients/{person}/consents")).text()
    assert consents.count('class="consent-active"') == 2
    following = re.search(r'href="([^"]+after=[^"]+)" rel="next"', consents).group(1).replace("&amp;", "&")
    assert (await (await browser.get(following)).text()).count('class="consent-active"') == 1


async def test_an_auditor_looks_a_client_up_by_personal_number_audited_allowed_or_denied(browser, tokens, api,
                                                                                         client, db):
    _, person = await _world(api, client)
    await sign_in(browser, tokens, sub="astrid", roles=["auditor"], organisations=["malmo-stad"])
    form_page = await (await browser.get("/ui/audit/clients")).text()
    found = await browser.post("/ui/audit/clients", allow_redirects=False,
                               data={"csrf": csrf_of(form_page), "personal_number": "19121212-1212"})
    assert (found.status, found.headers["Location"]) == (303, f"/ui/clients/{person}/access-log")
    missing = await browser.post("/ui/audit/clients", data={"csrf": csrf_of(form_page),
                                                             "personal_number": "19900101-0017"})
    assert missing.status == 404 and "Ingen klient med det numret." in await missing.text()
    events = await _events(db, "client.lookup", "astrid")
    assert [(e["decision"], e["client_id"]) for e in events] == [("allow", uuid.UUID(person)), ("deny", None)]
    assert "19121212" not in str(await db.fetch("SELECT * FROM audit_events"))
    # The other principal's auditor: a client only Malmö knows answers as an unregistered number does (insider
    # attack 12, finding 2), and the look is in the log, naming the client.
    await browser.post("/ui/sign-out", data={"csrf": csrf_of(form_page)})
    await sign_in(browser, tokens, sub="rita", roles=["auditor"], organisations=["region-skane"])
    form_page = await (await browser.get("/ui/audit/clients")).text()
    other = await browser.post("/ui/audit/clients", data={"csrf": csrf_of(form_page), "personal_number": "19121212-1212"})
    assert other.status == 404 and "Ingen klient med det numret." in await other.text()
    assert [(e["decision"], e["reason_codes"], e["client_id"]) for e in await _events(db, "client.lookup", "rita")] == \
        [("deny", ["unknown_client"], uuid.UUID(person))]
    # An auditor whose token names no organisations, and a member of staff: refused, and audited.
    await browser.post("/ui/sign-out", data={"csrf": csrf_of(form_page)})
    await sign_in(browser, tokens, sub="ulf", roles=["auditor"], organisations=None)
    form_page = await (await browser.get("/ui/audit/clients")).text()
    refused = await browser.post("/ui/audit/clients", data={"csrf": csrf_of(form_page),
                                                             "personal_number": "19121212-1212"})
    assert refused.status == 403
    await browser.post("/ui/sign-out", data={"csrf": csrf_of(form_page)})
    csrf = await sign_in(browser, tokens, sub="sara", unit="iof", roles=["staff"])
    staff_refused = await browser.post("/ui/audit/clients", data={"csrf": csrf, "personal_number": "19121212-1212"})
    assert staff_refused.status == 403
    assert [(e["decision"], e["reason_codes"], e["client_id"]) for e in await _events(db, "client.lookup", "ulf")] == \
        [("deny", ["no_organisation"], None)]
    assert [(e["decision"], e["reason_codes"]) for e in await _events(db, "client.lookup", "sara")] == \
        [("deny", ["forbidden_role"])]


async def test_the_sip_close_form_only_for_units_that_may_close(browser, tokens, api, client, db):
    await api.unit("iof", **SOCIAL_MALMO)
    await api.unit("beroendecentrum", **HEALTH_SKANE)
    social, clinic = api.staff("iof"), api.staff("beroendecentrum", sub="bo")
    person = (await api.register(social))["id"]
    for headers in (social, clinic):
        await api.relation(headers, person)
    consent = await client.post(f"/v1/clients/{person}/consents", headers=social,
                                json=consent_body(categories=["sip"], purposes=["coordination"]))
    assert consent.status == 201
    created = await client.post(f"/v1/clients/{person}/sip-plans", headers=social, json=plan_body())
    assert created.status == 201, await created.text()
    plan = await created.json()
    await sign_in(browser, tokens, sub="bo", unit="beroendecentrum", roles=["staff"])
    page = await (await browser.get(f"/ui/sip-plans/{plan['id']}")).text()
    # Another zone's participant, not the responsible unit: closing would be refused, so no form is offered.
    assert 'id="follow-up-form"' in page and 'id="close-form"' not in page
    assert "Unit beroendecentrum (Region Skåne)" in page and "(region-skane)" not in page  # names, not ids
    csrf = csrf_of(page)
    await browser.post("/ui/sign-out", data={"csrf": csrf})
    await sign_in(browser, tokens, sub="anna", unit="iof", roles=["staff"])
    page = await (await browser.get(f"/ui/sip-plans/{plan['id']}")).text()
    assert 'id="close-form"' in page


@pytest.mark.parametrize("lang", ["sv", "en"])
async def test_the_client_page_speaks_words_not_codes(browser, tokens, api, client, lang):
    social, person = await _world(api, client)
    await _upload(client, social, person, "Anteckning", category="journal_note")
    csrf = await sign_in(browser, tokens, sub="anna", unit="iof", roles=["staff"])
    if lang == "en":
        await browser.post("/ui/language", data={"csrf": csrf, "lang": "en", "back": "/ui/"})
    page = await (await browser.get(f"/ui/clients/{person}")).text()
    shown = re.sub(r'(value|href|id|class|action|for|name|aria-[a-z]+)="[^"]*"', "", page)
    codes = ("journal_note", "case_handling", "own_zone", "malmo-stad", "region-skane")
    for code in codes + (("social", "health") if lang == "sv" else ()):  # English words hold these two
        assert not re.search(rf"\b{code}\b", shown), code
    assert ("Journalanteckning" if lang == "sv" else "Record note") in shown
    assert ("Handläggning" if lang == "sv" else "Case handling") in shown


async def test_the_retention_page_shows_rules_and_plan_in_words_audited(browser, tokens, api, client, db):
    social, person = await _world(api, client)
    await _upload(client, social, person, "Utredning")
    await sign_in(browser, tokens, sub="admin-1", roles=["admin"])
    page = await browser.get("/ui/retention")
    html = await page.text()
    assert page.status == 200 and "Gallringsplan för" in html and "Malmö stad" in html
    assert "Gallras" in html and "Socialtjänst" in html and "Alla kategorier" in html  # cull, social, "*" in words
    assert [e["decision"] for e in await _events(db, "retention.rules_read", "admin-1")] == ["allow"]
    assert [e["decision"] for e in await _events(db, "retention.plan", "admin-1")] == ["allow"]
    await browser.post("/ui/sign-out", data={"csrf": csrf_of(html)})
    # An auditor whose token names no organisations: refused first, as the API refuses it, and audited.
    await sign_in(browser, tokens, sub="ulf", roles=["auditor"], organisations=None)
    assert (await browser.get("/ui/retention")).status == 403
    assert [(e["decision"], e["reason_codes"]) for e in await _events(db, "retention.rules_read", "ulf")] == \
        [("deny", ["no_organisation"])]
    assert await _events(db, "retention.plan", "ulf") == []
    await browser.post("/ui/sign-out", data={"csrf": csrf_of(await (await browser.get("/ui/audit/events")).text())})
    await sign_in(browser, tokens, sub="anna", unit="iof", roles=["staff"])
    assert (await browser.get("/ui/retention")).status == 403  # staff: the role is refused


async def test_the_follow_up_page_names_kinds_and_units_and_chooses_the_joint_unit(browser, tokens, api, client):
    _, person = await _world(api, client)
    await sign_in(browser, tokens, sub="anna", unit="iof", roles=["staff"])
    page = await (await browser.get(f"/ui/clients/{person}/followup")).text()
    # The joint visit's unit is chosen among the other principal's units, by name, not typed.
    assert '<select id="contact-with" name="with_unit">' in page
    assert '<option value="beroendecentrum">Unit beroendecentrum (Region Skåne)</option>' in page
    saved = await browser.post(f"/ui/clients/{person}/followup/contact", allow_redirects=False,
                               data={"csrf": csrf_of(page), "on": "2025-03-01", "kind": "home_visit", "with_unit": ""})
    assert saved.status == 303, await saved.text()
    listed = await (await browser.get(f"/ui/clients/{person}/followup")).text()
    section = listed[listed.index('id="contacts"'):]
    assert "Hembesök (Unit iof)" in section and "home_visit" not in section


async def test_a_document_page_under_another_clients_path_is_unknown_and_changes_nothing(browser, tokens, api, client,
                                                                                            db):
    """Insider attack 12, finding 4: the client in the path is checked with the document's decision, before
    anything is read or done: another client's document there is an unknown one (404, a refusal in the log, no
    allowed read), and its block and shred forms block and shred nothing."""
    social, person = await _world(api, client)
    other = (await api.register(social, personal_number="19900101-0017", name="Berit Annan"))["id"]
    await api.relation(social, other)
    document = await _upload(client, social, other, "Berits utredning")
    csrf = await sign_in(browser, tokens, sub="chef", unit="iof", roles=["unit_manager"])
    mixed = f"/ui/clients/{person}/documents/{document['id']}"
    assert (await browser.get(mixed)).status == 404
    assert [(e["decision"], e["client_id"]) for e in await _events(db, "document.read_metadata", "chef")] == \
        [("deny", None)]
    assert (await browser.post(f"{mixed}/block", data={"csrf": csrf, "reason": "Klienten begärde spärr"})).status == 404
    assert not await db.fetchval("SELECT blocked FROM documents WHERE id = $1", uuid.UUID(document["id"]))
    shred = await browser.post(f"/ui/clients/{person}/shred",
                               data={"csrf": csrf, "document_id": document["id"], "reason": "Fel klient i akten"})
    assert shred.status == 404
    assert await db.fetchval("SELECT status FROM documents WHERE id = $1", uuid.UUID(document["id"])) == "active"
