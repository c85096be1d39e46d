"""Web pages of issue 22: the "Rätta" action on a document's page with its history, and the admin's reorganisation
page with its preview; strict CSP (no inline script or style), CSRF on every form."""
from __future__ import annotations

import re
import uuid

import aiohttp

from tests.integration.test_documents import created
from tests.integration.test_ui_http import browser, csrf_of, sign_in  # noqa: F401  (the fixture)


async def test_correcting_on_the_document_page_keeps_the_old_version_in_its_history(browser, tokens, api, db):
    await api.unit("iof-norr")
    staff = api.staff("iof-norr", sub="anna")
    client_id = (await api.register(staff))["id"]
    await api.relation(staff, client_id)
    document = await created(browser, staff, client_id, b"Gammal text\n", content_type="text/plain", title="Utredning")
    await sign_in(browser, tokens, sub="anna", unit="iof-norr", roles=["staff"])
    client_page = await (await browser.get(f"/ui/clients/{client_id}")).text()
    assert f'href="/ui/documents/{document["id"]}"' in client_page
    page = await browser.get(f"/ui/documents/{document['id']}")
    html = await page.text()
    assert page.status == 200 and 'id="correct-form"' in html and "<script>" not in html and "style=" not in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]

    def correction(reason: str, title: str, content: bytes | None) -> aiohttp.FormData:
        data = aiohttp.FormData()
        for key, value in (("csrf", csrf_of(html)), ("reason", reason), ("title", title)):  # the page's form
            data.add_field(key, value)
        if content is not None:
            data.add_field("file", content, filename="ny.txt", content_type="text/plain")
        else:  # what a browser sends for a file input left empty
            data.add_field("file", b"", filename="", content_type="application/octet-stream")
        return data

    refused = await browser.post(f"/ui/documents/{document['id']}/corrections", data=correction("kort", "", b"x\n"),
                                 allow_redirects=False)
    assert refused.status == 422 and 'role="alert"' in await refused.text()
    assert await db.fetchval("SELECT count(*) FROM document_versions") == 0
    refused = await browser.post(f"/ui/documents/{document['id']}/corrections",  # no file and no new title
                                 data=correction("Fel datum i utredningen", "", None), allow_redirects=False)
    assert refused.status == 422 and 'role="alert"' in await refused.text()
    done = await browser.post(f"/ui/documents/{document['id']}/corrections",
                              data=correction("Fel datum i utredningen", "Utredning (rättad)", b"Ny text\n"),
                              allow_redirects=False)
    assert done.status == 303, await done.text()
    html = await (await browser.get(f"/ui/documents/{document['id']}")).text()
    rows = re.findall(r"<tr( class=\"corrected\")?>\s*<td>(\d+)", html)
    assert [(bool(marked), number) for marked, number in rows] == [(True, "1"), (False, "2")]
    assert "Fel datum i utredningen" in html and "Utredning (rättad)" in html
    old = await browser.get(f"/ui/documents/{document['id']}/versions/1/content")
    assert old.status == 200 and await old.read() == b"Gammal text\n"
    event = await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'document.correct' "
                              "AND decision = 'allow' AND document_id = $1", uuid.UUID(document["id"]))
    assert event == 1


async def test_the_admin_previews_and_carries_out_a_succession(browser, tokens, api, db):
    await api.unit("stadsdel-centrum")
    await api.unit("omrade-innerstaden")
    staff = api.staff("stadsdel-centrum")
    client_id = (await api.register(staff))["id"]
    await api.relation(staff, client_id)
    await created(browser, staff, client_id, b"Text\n", content_type="text/plain")
    await sign_in(browser, tokens, sub="admin-1", roles=["admin"])
    page = await browser.get("/ui/admin/succession?unit=stadsdel-centrum&successor=omrade-innerstaden")
    html = await page.text()
    assert page.status == 200, html
    cells = re.findall(r'<th scope="row">[^<]+</th><td>(\d+)</td>', html)
    assert cells == ["1", "1", "0", "0", "0"]  # documents, relations, consents, disclosures, SIP plans
    done = await browser.post("/ui/admin/succession", data={"csrf": csrf_of(html), "unit": "stadsdel-centrum",
                                                            "successor": "omrade-innerstaden"})
    assert done.status == 200 and 'id="succession-done"' in await done.text()
    assert await db.fetchval("SELECT unit_id FROM documents") == "omrade-innerstaden"
    # Staff never reach the page.
    await sign_in(browser, tokens, sub="anna", unit="omrade-innerstaden", roles=["staff"])
    assert (await browser.get("/ui/admin/succession")).status == 403
