"""Accessibility in a real browser (issue #20; WCAG 2.1 AA, which Swedish public bodies must meet).

axe-core (npm, pinned in tests/browser/axe/, installed by `python3 dev.py test`) is injected into every page of
the interface, at a desk's and a phone's width, and any violation of the WCAG 2.0/2.1 A and AA rules fails the
test; each page is photographed at both widths into test-artifacts/screenshots/. A keyboard-only walk uploads a
document and records a consent with no mouse, and checks that the focus lands on the result, or after an
invalid submit on the error summary, whose links lead to the fields. The focus outline's contrast is measured.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from service.devkeys import mint_dev_token
from tests import files
from tests.browser.test_clinic_day import CHROMIUM, SHOTS, chromium, running  # noqa: F401  (fixture)

AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
PERSONAL_NUMBER = "19121212-1212"
DESK, PHONE = {"width": 1366, "height": 900}, {"width": 390, "height": 844}
UNITS = (("ifo-innerstaden", "IFO Innerstaden", "malmo-stad", "social"),
         ("beroendecentrum", "Beroendecentrum Malmö", "region-skane", "health"))

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (python3 dev.py test installs it as root)"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (python3 dev.py test runs npm ci in "
                                                "tests/browser/axe)"),
]


@pytest.fixture
async def service(settings, tmp_path):
    async with running(settings, tmp_path, UNITS) as started:
        yield started


async def _api(server, dev, method, path, *, unit, sub="hsa-anna", roles=("staff",), **kwargs):
    headers = {"Authorization": "Bearer " + mint_dev_token(dev, sub=sub, roles=list(roles), unit=unit)}
    async with aiohttp.ClientSession() as http, http.request(method, server.make_url(path), headers=headers,
                                                             **kwargs) as response:
        body = await response.text()
        assert response.status in (200, 201), body
        return json.loads(body) if body else None


async def _world(server, dev) -> dict[str, str]:
    """A client with a relation of both units, a document of each zone, a consent between them, a SIP plan."""
    ifo, clinic = {"unit": "ifo-innerstaden"}, {"unit": "beroendecentrum", "sub": "hsa-berit"}
    client = (await _api(server, dev, "POST", "/v1/clients", **ifo,
                         json={"personal_number": PERSONAL_NUMBER, "name": "Tolvan Tolvansson"}))["id"]
    for who in (ifo, clinic):
        await _api(server, dev, "POST", f"/v1/clients/{client}/relations", **who, json={})
    ids = {"client": client}
    for who, category, title in ((ifo, "assessment", "Utredning enligt SoL"), (clinic, "journal_note", "Inskrivning")):
        form = aiohttp.FormData()
        form.add_field("metadata", json.dumps({"category": category, "title": title}), content_type="application/json")
        form.add_field("file", files.pdf(), filename="u.pdf", content_type="application/pdf")
        ids[category] = (await _api(server, dev, "POST", f"/v1/clients/{client}/documents", **who, data=form))["id"]
    until = (datetime.now().astimezone() + timedelta(days=90)).isoformat()
    await _api(server, dev, "POST", f"/v1/clients/{client}/consents", **ifo, json={
        "from": {"organisation": "malmo-stad", "domain": "social"},
        "to": {"organisation": "region-skane", "domain": "health", "unit": "beroendecentrum"},
        "categories": ["assessment", "sip"], "purposes": ["care", "coordination"], "valid_until": until,
        "given_by": "client", "form": "verbal"})
    today = datetime.now().date()
    plan = await _api(server, dev, "POST", f"/v1/clients/{client}/sip-plans", **ifo, json={
        "title": "SIP för Tolvan", "start_date": today.isoformat(),
        "participants": [{"unit": "ifo-innerstaden"}, {"unit": "beroendecentrum"}], "no_measures_by_others": True,
        "responsible_unit": "ifo-innerstaden", "next_follow_up": (today + timedelta(days=30)).isoformat(),
        "efforts": [{"text": "Boendestöd", "provided_by_unit": "ifo-innerstaden"},
                    {"text": "Behandling", "provided_by_unit": "beroendecentrum"}]})
    ids["plan"] = plan["id"]
    return ids


async def _sign_in(page, base, sub, unit, roles, organisations=""):
    await page.goto(base + "/ui/sign-in")
    await page.locator("#sub").fill(sub)
    await page.locator("#name").fill(f"{sub.removeprefix('hsa-').title()} Testsson")
    await page.locator("#unit").select_option(unit or "")
    await page.locator("#organisations").fill(organisations)
    for role in ("staff", "unit_manager", "auditor", "admin", "system", "client"):
        if await page.locator(f"#role_{role}").count():
            await page.locator(f"#role_{role}").set_checked(role in roles)
    await page.locator("form:has(#sub) button[type=submit]").click()
    await page.wait_for_load_state()


async def _axe(page) -> list[dict]:
    """The page's WCAG 2.0/2.1 A and AA violations by axe-core, injected by the test driver (the page's own CSP
    admits no inline script, and this is no part of the page)."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text())
    return await page.evaluate("""async () => {
        const result = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                            nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
    }""")


async def _check(page, name: str, found: dict[str, list]) -> None:
    """axe-core at a desk's width and a phone's, and a screenshot at each."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, size in (("desk", DESK), ("phone", PHONE)):
        await page.set_viewport_size(size)
        await page.wait_for_timeout(50)
        violations = await _axe(page)
        if violations:
            found[f"{name} ({width})"] = violations
        await page.screenshot(path=str(SHOTS / f"a11y-{name}-{width}.png"), full_page=True)
    await page.set_viewport_size(DESK)


@pytest.mark.timeout(900)  # some forty page states, each checked and photographed twice
async def test_axe_finds_no_violation_on_any_page_at_desk_and_phone_width(chromium, service):
    server, dev = service
    ids = await _world(server, dev)
    base = str(server.make_url("")).rstrip("/")
    found: dict[str, list] = {}
    client = ids["client"]

    context = await chromium.new_context(viewport=DESK, locale="en-US")  # a US browser: dates stay ÅÅÅÅ-MM-DD
    page = await context.new_page()
    await page.goto(base + "/ui/sign-in")
    await _check(page, "sign-in", found)
    await _sign_in(page, base, "hsa-anna", "ifo-innerstaden", ["staff", "unit_manager"])
    staff_pages = (
        ("clients", "/ui/clients"), ("client", f"/ui/clients/{client}"),
        ("client-coordination", f"/ui/clients/{client}?purpose=coordination"),
        ("document", f"/ui/clients/{client}/documents/{ids['assessment']}"),
        ("shred-confirm", f"/ui/clients/{client}/documents/{ids['assessment']}/shred"),
        ("relation-end", f"/ui/clients/{client}/relation/end"), ("consents", f"/ui/clients/{client}/consents"),
        ("disclosures-received", f"/ui/clients/{client}/disclosures"),
        ("access-log-manager", f"/ui/clients/{client}/access-log"),
        ("sip-new", f"/ui/clients/{client}/sip-plans/new"), ("sip-plan", f"/ui/sip-plans/{ids['plan']}"),
        ("sip-edit", f"/ui/sip-plans/{ids['plan']}/edit"), ("sip-history", f"/ui/sip-plans/{ids['plan']}/history"),
        ("sip-print", f"/ui/sip-plans/{ids['plan']}/print"), ("sip-overdue", "/ui/sip-plans/overdue"),
        ("followup", f"/ui/clients/{client}/followup"), ("indicators", "/ui/indicators"),
        ("not-found", f"/ui/clients/{client}/documents/00000000-0000-0000-0000-000000000000"),
    )
    for name, path in staff_pages:
        await page.goto(base + path)
        await _check(page, name, found)
    # States after a submit: the consent form's errors, the upload's and the consent's results.
    await page.goto(base + f"/ui/clients/{client}/consents")
    await page.locator("#consent-form button[type=submit]").click()
    await page.locator("#error-summary").wait_for()
    await _check(page, "consent-errors", found)
    await page.goto(base + f"/ui/clients/{client}/documents/{ids['assessment']}/shred")
    await page.locator("#shred-form button[type=submit]").click()  # required reason: the browser stops it
    await page.goto(base + f"/ui/clients/{client}/documents/{ids['assessment']}")
    await page.locator("#block-reason").fill("Klienten begärde spärr")
    await page.locator("#block-form button[type=submit]").click()
    await page.locator("#done").wait_for()
    await _check(page, "document-blocked", found)

    # The other zone's clinician, under the consent.
    clinician = await (await chromium.new_context(viewport=DESK, locale="sv-SE")).new_page()
    await _sign_in(clinician, base, "hsa-berit", "beroendecentrum", ["staff"])
    await clinician.goto(base + f"/ui/clients/{client}")
    await _check(clinician, "client-other-zone", found)

    auditor = await (await chromium.new_context(viewport=DESK, locale="sv-SE")).new_page()
    await _sign_in(auditor, base, "hsa-astrid", None, ["auditor"], organisations="*")
    for name, path in (("audit-events", "/ui/audit/events"), ("audit-chain", "/ui/audit/chain"),
                       ("audit-reviews", "/ui/audit/emergency-reviews"), ("audit-anomalies", "/ui/audit/anomalies"),
                       ("audit-lookup", "/ui/audit/clients"), ("access-log", f"/ui/clients/{client}/access-log"),
                       ("retention", "/ui/retention")):
        await auditor.goto(base + path)
        await _check(auditor, name, found)

    me = await (await chromium.new_context(viewport=PHONE, locale="sv-SE")).new_page()
    await _sign_in(me, base, PERSONAL_NUMBER, None, ["client"])
    for name, path in (("me-home", "/ui/me/"), ("me-consents", "/ui/me/consents"),
                       ("me-access-log", "/ui/me/access-log"), ("me-documents", "/ui/me/documents")):
        await me.goto(base + path)
        await _check(me, name, found)
    assert not found, json.dumps(found, indent=1, ensure_ascii=False)


def _luminance(rgb: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (int(x) for x in re.findall(r"\d+", rgb)[:3])
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


async def _tab_to(page, selector: str, *, limit: int = 120) -> None:
    """Tab until `selector` has the focus (the keyboard only), or fail."""
    for _ in range(limit):
        if await page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"{selector} was never reached by Tab")


async def _focused(page) -> str:
    return await page.evaluate("document.activeElement ? document.activeElement.id : ''")


async def test_by_keyboard_alone_a_document_is_uploaded_and_a_consent_recorded(chromium, service, tmp_path):
    server, dev = service
    base = str(server.make_url("")).rstrip("/")
    client = (await _api(server, dev, "POST", "/v1/clients", unit="ifo-innerstaden",
                         json={"personal_number": PERSONAL_NUMBER, "name": "Tolvan Tolvansson"}))["id"]
    await _api(server, dev, "POST", f"/v1/clients/{client}/relations", unit="ifo-innerstaden", json={})
    context = await chromium.new_context(viewport=DESK, locale="en-US")
    page = await context.new_page()
    # File choosers intercepted from the start: Playwright subscribes to them without waiting (fire_and_forget) when the
    # first listener comes, so a key pressed right after expect_file_chooser() began could, on a loaded machine,
    # reach Chromium first and open a dialog no one sees (CI failed so now and then, the chooser never came).
    page.on("filechooser", lambda _: None)
    await _sign_in(page, base, "hsa-anna", "ifo-innerstaden", ["staff"])
    await page.goto(base + f"/ui/clients/{client}")

    # The focus outline: 3:1 or more against white and against the header (WCAG 2.1 1.4.11).
    await _tab_to(page, "header a.brand")
    header_outline = await page.evaluate("getComputedStyle(document.activeElement).outlineColor")
    header_bg = await page.evaluate("getComputedStyle(document.querySelector('header.top')).backgroundColor")
    assert _contrast(header_outline, header_bg) >= 3, (header_outline, header_bg)
    assert _contrast(header_outline, "rgb(255, 255, 255)") >= 3
    assert await page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"

    # Upload: category by arrow keys, the title typed, the file chosen from the file chooser opened by the keyboard.
    pdf = tmp_path / "utredning.pdf"
    pdf.write_bytes(files.pdf())
    await _tab_to(page, "#category")
    await page.keyboard.press("ArrowDown")  # the second category
    second = await page.evaluate("document.querySelector('#category').options[1].value")
    assert await page.evaluate("document.querySelector('#category').value") == second
    await page.keyboard.press("Tab")
    assert await _focused(page) == "title"
    await page.keyboard.type("Utredning enligt SoL")
    await page.keyboard.press("Tab")
    assert await _focused(page) == "file"
    async with page.expect_file_chooser() as chooser:
        await page.keyboard.press("Space")
    await (await chooser.value).set_files(str(pdf))
    await _tab_to(page, "#upload-form button[type=submit]")
    async with page.expect_navigation(url=re.compile(r".*uploaded=.*")):
        await page.keyboard.press("Enter")
    await page.locator("#upload-result").wait_for()
    assert await _focused(page) == "upload-result"  # the result has the focus, and says which document
    assert await page.locator("#upload-result").inner_text() == "Dokumentet ”Utredning enligt SoL” är uppladdat."
    assert await page.get_attribute("#upload-result", "role") == "status"
    assert await page.get_attribute("#upload-status", "aria-live") == "polite"  # progress announced while it runs
    assert await page.locator("label[for=upload-progress]").count() == 1
    download = page.get_by_role("link", name="Ladda ned ”Utredning enligt SoL”")
    assert await download.count() == 1  # the link names the document

    # The consent: first sent empty, so the error summary takes the focus and its links lead to the fields.
    await _tab_to(page, "a[href$='/consents']")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/consents")
    await _tab_to(page, "#consent-form button[type=submit]")
    await page.keyboard.press("Enter")
    await page.locator("#error-summary").wait_for()
    assert await _focused(page) == "error-summary"
    await page.keyboard.press("Tab")  # the summary's first link
    first = await page.evaluate("document.activeElement.getAttribute('href')")
    assert first and first.startswith("#") and await page.locator(first).count() == 1
    await _tab_to(page, "#error-summary a[href='#to']")
    await page.keyboard.press("Enter")
    assert await _focused(page) == "to"  # the link put the focus on the field to correct
    for _ in range(8):  # down the chooser, by name, to the clinic
        if await page.evaluate("document.querySelector('#to').value") == "unit:beroendecentrum":
            break
        await page.keyboard.press("ArrowDown")
    assert await page.evaluate("document.querySelector('#to').selectedOptions[0].textContent") == \
        "Beroendecentrum Malmö"
    await _tab_to(page, "#cat-assessment")
    await page.keyboard.press("Space")
    await _tab_to(page, "#valid_until")
    until = (datetime.now() + timedelta(days=60)).strftime("%Y-%m-%d")
    await page.keyboard.type(until)
    await _tab_to(page, "input[name=form]:checked")
    await page.keyboard.press("ArrowRight")  # written → verbal (written needs the signed form)
    assert await _focused(page) == "form-verbal"
    await _tab_to(page, "#consent-form button[type=submit]")
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    summary = page.locator("#error-summary")
    assert not await summary.count(), await summary.inner_text()
    await page.locator("#consent-result").wait_for()
    assert await _focused(page) == "consent-result"
    assert "Samtycket är registrerat." in await page.locator("#consent-result").inner_text()
    assert until in await page.locator("table").first.inner_text()
    await page.screenshot(path=str(SHOTS / "a11y-keyboard-consent-recorded-desk.png"), full_page=True)
