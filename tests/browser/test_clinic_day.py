"""A clinic day in a real browser (headless Chromium via Playwright), on the real service and database.

A social worker records a consent; a clinician in the other zone then sees exactly the
covered document; the consent is revoked and it disappears; an auditor finds those
reads in the log and verifies the chain. Screenshots of each main page are saved in
test-artifacts/screenshots/.
"""
from __future__ import annotations

import dataclasses
import shutil
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from service.app import create_app
from service.devkeys import ensure_dev_keys, mint_dev_token
from tests import files

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PERSONAL_NUMBER = "19121212-1212"
XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (python3 dev.py test installs it as root)")


@asynccontextmanager
async def running(settings, tmp_path, units):
    """The service in development mode (its own development key signs the sign-in form's tokens) with `units`
    ((id, name, organisation, domain) each); yields the server and its settings."""
    dev = dataclasses.replace(settings, jwks_path=None, keyring_path=None, dev=True, data_dir=tmp_path / "var",
                              audit_seal_interval=0.05)
    ensure_dev_keys(dev)
    server = TestServer(create_app(dev), host="127.0.0.1")
    await server.start_server()
    admin = {"Authorization": "Bearer " + mint_dev_token(dev, sub="admin-1", roles=["admin"])}
    async with aiohttp.ClientSession() as http:
        for unit, name, organisation, domain in units:
            async with http.post(server.make_url("/v1/units"), headers=admin,
                                 json={"id": unit, "name": name, "organisation": organisation, "domain": domain}) as r:
                assert r.status == 201
    try:
        yield server, dev
    finally:
        await server.close()


@pytest.fixture
async def service(settings, tmp_path):
    units = (("malmo-iof", "IFO Innerstaden", "malmo-stad", "social"),
             ("malmo-beroendecentrum", "Beroendecentrum Malmö", "region-skane", "health"))
    async with running(settings, tmp_path, units) as (server, _):
        yield server


@pytest.fixture
async def chromium():
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync"])
        yield browser
        await browser.close()


class Person:
    """One member of staff in their own browser context (own cookies)."""

    def __init__(self, page, base: str) -> None:
        self.page, self.base = page, base
        self.dialogs: list[str] = []
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))

    async def go(self, path: str):
        response = await self.page.goto(self.base + path)
        return response

    async def sign_in(self, sub: str, name: str, unit: str | None, roles: list[str], organisations: str = "") -> None:
        await self.go("/ui/sign-in")
        await self.page.get_by_label("Användar-id").fill(sub)
        await self.page.get_by_label("Namn", exact=True).fill(name)
        await self.page.get_by_label("Enhet", exact=True).select_option(unit or "")
        await self.page.locator("#organisations").fill(organisations)
        for role in ("staff", "unit_manager", "auditor", "admin", "system"):
            await self.page.locator(f"#role_{role}").set_checked(role in roles)
        await self.page.locator("form:has(#sub) button[type=submit]").click()
        await self.page.wait_for_load_state()

    async def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def person(chromium, service) -> Person:
    context = await chromium.new_context(viewport={"width": 1366, "height": 900}, locale="sv-SE")
    return Person(await context.new_page(), str(service.make_url("")).rstrip("/"))


async def test_a_clinic_day(chromium, service, tmp_path):
    social = await person(chromium, service)
    await social.sign_in("hsa-anna", "Anna Socialsekreterare", "malmo-iof", ["staff"])
    await social.shot("clients")
    page = social.page
    await page.get_by_label("Personnummer eller samordningsnummer").nth(1).fill(PERSONAL_NUMBER)
    await page.locator("#name").fill("Tolvan Tolvansson")
    await page.get_by_role("button", name="Registrera").click()
    await page.get_by_role("button", name="Öppna relation").click()
    await page.wait_for_load_state()
    for title, category in (("Utredning enligt SoL", "assessment"), ("Journalanteckning", "journal_note"), (XSS, "other")):
        pdf = tmp_path / f"{category}.pdf"
        pdf.write_bytes(files.pdf())
        await page.locator("#category").select_option(category)
        await page.locator("#title").fill(title)
        await page.locator("#file").set_input_files(str(pdf))
        await page.get_by_role("button", name="Ladda upp").click()
        await page.wait_for_url("**/ui/clients/*")
        await page.get_by_role("link", name=title, exact=True).wait_for()  # the title links its page (#20)
    assert await page.evaluate("window.__pwned") is None and social.dialogs == []  # the title is text, nothing ran
    client_url = page.url.split("?")[0]  # after an upload: ?uploaded=<id> (#20)
    await social.shot("client")

    # The consent: social services → the region's addiction clinic, assessments, for care.
    await page.get_by_role("link", name="Samtycken").click()
    await page.locator("#to").select_option("unit:malmo-beroendecentrum")  # chosen by name, not typed
    await page.locator("#cat-assessment").check()
    await page.locator("#form-written").check()  # written, without the signed form: refused beside the field
    until = (datetime.now() + timedelta(days=30)).strftime("%Y-%m-%d")
    await page.locator("#valid_until").fill(until)
    await page.locator("#note").fill(XSS)
    await page.get_by_role("button", name="Spara samtycke").click()
    await page.locator("#evidence_document_id-error").wait_for()
    await social.shot("consent-errors")
    await page.locator("#form-verbal").check()
    await page.get_by_role("button", name="Spara samtycke").click()
    await page.locator(".badge.status-active").wait_for()
    assert await page.evaluate("window.__pwned") is None
    await social.shot("consents")

    # The clinician in the other zone sees exactly the covered document, under the consent.
    clinician = await person(chromium, service)
    await clinician.sign_in("hsa-bertil", "Bertil Läkare", "malmo-beroendecentrum", ["staff"])
    cpage = clinician.page
    await cpage.get_by_label("Personnummer eller samordningsnummer").first.fill(PERSONAL_NUMBER)
    await cpage.get_by_role("button", name="Sök").click()
    await cpage.get_by_role("button", name="Öppna relation").click()
    await cpage.get_by_role("cell", name="Utredning enligt SoL", exact=True).wait_for()
    titles = await cpage.locator("td.title").all_inner_texts()
    assert titles == ["Utredning enligt SoL"]
    assert await cpage.locator(".badge.consent").count() == 1
    # The basis in words (issue #20): the consent's zones by name and its last day, not `consent:<id>`.
    assert await cpage.locator("td .basis").inner_text() == \
        f"Samtycke: IFO Innerstaden → Beroendecentrum Malmö, t.o.m. {until}"
    assert await cpage.locator("td.title").evaluate("td => td.nextElementSibling.textContent") == "Utredning"
    async with cpage.expect_download() as download:
        await cpage.get_by_role("link", name="Ladda ned").click()
    assert (await download.value).suggested_filename
    await clinician.shot("client-under-consent")

    # Revoked: gone at the next request.
    await page.locator("input[name=reason]").first.fill("Klienten återkallade muntligt")
    await page.get_by_role("button", name="Återkalla").click()
    await page.locator(".badge.status-revoked").wait_for()
    await cpage.reload()
    await cpage.get_by_text("Inga dokument som du får se.").wait_for()

    # The auditor finds the clinician's reads and verifies the chain.
    auditor = await person(chromium, service)
    await auditor.sign_in("hsa-astrid", "Astrid Granskare", None, ["auditor"], organisations="*")
    apage = auditor.page
    await auditor.go("/ui/audit/events?actor=hsa-bertil&action=document.read_content")
    rows = apage.locator("table.events tbody tr")
    assert await rows.count() == 1
    row = await rows.first.inner_text()
    assert "consent:" not in row and f"Samtycke: IFO Innerstaden → Beroendecentrum Malmö, t.o.m. {until}" not in row
    assert "Samtycke" in row and "Dokument öppnat" in row  # the codes in words
    await auditor.shot("audit-events")
    await auditor.go("/ui/audit/chain")
    await apage.get_by_text("Kedjan är intakt").wait_for()
    assert int(await apage.locator("#checked").inner_text()) > 10
    await auditor.shot("audit-chain")
    client_id = client_url.rstrip("/").rsplit("/", 1)[1]
    await auditor.go(f"/ui/clients/{client_id}/access-log")
    extract = await apage.locator("table.extract").inner_text()
    assert "Bertil Läkare" in extract and "Region Skåne" in extract and "region-skane" not in extract
    await auditor.shot("access-log")
    for path, name in (("/ui/audit/emergency-reviews", "audit-reviews"), ("/ui/audit/anomalies", "audit-anomalies")):
        await auditor.go(path)
        await auditor.shot(name)


async def test_a_tampered_csrf_token_is_refused_in_the_browser(chromium, service):
    social = await person(chromium, service)
    await social.sign_in("hsa-anna", "Anna", "malmo-iof", ["staff"])
    page = social.page
    await page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(i => i.value = 'forged')")
    await page.locator("#new_personal_number").fill(PERSONAL_NUMBER)
    await page.locator("#name").fill("Tolvan")
    await page.get_by_role("button", name="Registrera").click()
    await page.get_by_text("Formuläret hade gått ut. Försök igen.").wait_for()
    await social.go("/ui/sign-in")
    await social.shot("sign-in")


async def test_keyboard_only_sign_in_and_english(chromium, service):
    social = await person(chromium, service)
    page = social.page
    await social.go("/ui/sign-in")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.className") == "skip"
    await page.locator("#sub").focus()
    await page.keyboard.type("hsa-anna")
    await page.locator("#unit").select_option("malmo-iof")
    await page.locator("form:has(#sub) button[type=submit]").focus()
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/ui/clients")
    await page.locator("#lang").select_option("en")
    await page.locator("form.lang button").click()
    await page.get_by_role("button", name="Sign out").wait_for()
    assert await page.locator("html").get_attribute("lang") == "en"
    for label in await page.locator("input:not([type=hidden]), select, textarea").all():
        ident = await label.get_attribute("id")
        assert ident and await page.locator(f"label[for='{ident}']").count() == 1, ident
