"""The client's own pages in a real browser (headless Chromium) at a phone's viewport (#18).

Tolvan signs in with the personal number (development sign-in, role client), gives the region's addiction
clinic an electronic consent in plain words, sees the clinic's read of the released document in "Vem har läst"
in words, downloads the document, revokes the consent, and the clinic's next read is refused. The pages fit a
phone screen without sideways scrolling. Screenshots land in test-artifacts/screenshots/me-*.png.
"""
from __future__ import annotations

import json
from datetime import date, timedelta

import aiohttp
import asyncpg
import pytest

from service.devkeys import mint_dev_token
from tests import files
from tests.browser.test_clinic_day import CHROMIUM, SHOTS, chromium, running  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (python3 dev.py test installs it as root)")
PERSONAL_NUMBER = "19121212-1212"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
async def service(settings, tmp_path):
    async with running(settings, tmp_path, (
            ("malmo-iof", "IFO Malmö", "malmo-stad", "social"),
            ("malmo-beroendecentrum", "Beroendecentrum Malmö", "region-skane", "health"))) as started:
        yield started


async def _call(server, dev, method, path, *, unit, sub, **kwargs):
    headers = {"Authorization": "Bearer " + mint_dev_token(dev, sub=sub, roles=["staff"], unit=unit)}
    async with aiohttp.ClientSession() as http, http.request(method, server.make_url(path), headers=headers,
                                                             **kwargs) as response:
        return response.status, await response.read()


async def _fits(page) -> None:
    """Nothing wider than the phone's screen: no sideways scrolling."""
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


async def test_the_client_walks_their_own_pages_on_a_phone(chromium, service):
    server, dev = service
    ifo, clinic = {"unit": "malmo-iof", "sub": "hsa-anna"}, {"unit": "malmo-beroendecentrum", "sub": "hsa-berit"}
    status, body = await _call(server, dev, "POST", "/v1/clients", **ifo,
                               json={"personal_number": PERSONAL_NUMBER, "name": "Tolvan Tolvansson"})
    client_id = json.loads(body)["id"]
    for who in (ifo, clinic):
        assert (await _call(server, dev, "POST", f"/v1/clients/{client_id}/relations", **who, json={}))[0] == 201
    form = aiohttp.FormData()
    form.add_field("metadata", json.dumps({"category": "assessment", "title": "Utredning"}), content_type="application/json")
    form.add_field("file", files.pdf(), filename="u.pdf", content_type="application/pdf")
    status, body = await _call(server, dev, "POST", f"/v1/clients/{client_id}/documents", **ifo, data=form)
    document_id = json.loads(body)["id"]
    assert (await _call(server, dev, "POST", f"/v1/documents/{document_id}/release", **ifo, json={}))[0] == 200
    content = f"/v1/documents/{document_id}/content"
    assert (await _call(server, dev, "GET", content, **clinic))[0] == 404  # no consent yet

    context = await chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="sv-SE",
                                         accept_downloads=True)
    page = await context.new_page()
    base = str(server.make_url("")).rstrip("/")
    await page.goto(base + "/ui/sign-in")
    await page.get_by_label("Användar-id").fill(PERSONAL_NUMBER)
    await page.locator("#role_staff").set_checked(False)
    await page.locator("#role_client").set_checked(True)
    await page.get_by_label("Enhet", exact=True).select_option("")
    await page.locator("form:has(#sub) button[type=submit]").click()
    await page.wait_for_load_state()
    assert page.url.endswith("/ui/me/")
    assert await page.get_by_role("heading", name="Mina sidor").is_visible()
    assert "Hej Tolvan Tolvansson!" in await page.content()
    assert PERSONAL_NUMBER not in await page.content() and "1212" not in await page.inner_text("header")
    await _fits(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / "me-home.png"), full_page=True)

    # A consent in plain words: who has it, who gets it, what, for what, until when.
    await page.get_by_role("link", name="Mina samtycken").first.click()
    assert "Du har inga samtycken." in await page.content()
    await page.get_by_label("Vem har uppgifterna?").select_option(label="IFO Malmö (socialtjänsten, Malmö stad)")  # names (#20)
    await page.get_by_label("Vem får uppgifterna?").select_option(
        label="Beroendecentrum Malmö (hälso- och sjukvården, Region Skåne)")
    await page.get_by_label("Alla slags uppgifter").check()
    await page.get_by_label("Till och med vilket datum?").fill((date.today() + timedelta(days=30)).isoformat())
    await page.get_by_role("button", name="Ge samtycke").click()
    await page.wait_for_load_state()
    assert "Ditt samtycke är registrerat och gäller nu." in await page.content()
    assert await page.locator(".badge.status-active").inner_text() == "Gäller"
    assert "dig själv, här" in await page.content()
    await _fits(page)
    await page.screenshot(path=str(SHOTS / "me-consents.png"), full_page=True)

    assert (await _call(server, dev, "GET", content, **clinic))[0] == 200  # the consent opens it at once

    await page.get_by_role("link", name="Vem har läst").first.click()
    log = await page.inner_text("main")
    assert "Beroendecentrum Malmö öppnade dokumentet ”Utredning” med stöd av ditt samtycke." in log
    assert "IFO Malmö lade till dokumentet ”Utredning”" in log
    assert "hsa-" not in log and "consent:" not in log
    await _fits(page)
    await page.screenshot(path=str(SHOTS / "me-access-log.png"), full_page=True)

    await page.get_by_role("link", name="Mina dokument").first.click()
    assert await page.get_by_text("Utredning").is_visible()
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Öppna dokumentet").click()
    download = await download_info.value
    assert (await download.path()).read_bytes().startswith(b"%PDF")
    await _fits(page)
    await page.screenshot(path=str(SHOTS / "me-documents.png"), full_page=True)

    # The client revokes; the clinic's very next read is refused.
    await page.get_by_role("link", name="Mina samtycken").first.click()
    await page.get_by_role("button", name="Återkalla samtycket").click()
    await page.wait_for_load_state()
    assert "Samtycket är återkallat." in await page.content()
    assert await page.locator(".badge.status-revoked").inner_text() == "Återkallat"
    assert (await _call(server, dev, "GET", content, **clinic))[0] == 404
    await context.close()
    # The web session is kept under the client's blind id, like every audit event: never the number.
    conn = await asyncpg.connect(dev.database_url)
    try:
        sessions = [row["row"] for row in await conn.fetch("SELECT s::text AS row FROM ui_sessions s")]
        events = [row["row"] for row in await conn.fetch("SELECT e::text AS row FROM audit_events e")]
    finally:
        await conn.close()
    assert sessions and any("client:" in row for row in sessions)
    for row in sessions + events:
        assert "121212" not in row and "1212-1212" not in row, row
