"""A joint plan (SIP) in a real browser (headless Chromium), on the real service and database.

IFO starts a SIP with Beroendecentrum under the client's consent (SoL 2:7, HSL 16:4); both edit it, IFO on a
version the clinic had already replaced is told so rather than overwriting; a follow-up is recorded; the history
shows what changed; the paper view prints; the client revokes the consent and the clinic loses the plan on its
next request, while IFO sees to whom the plan is now closed and why. The clinic's unit manager sees the plan
among overdue follow-ups while it was open. Screenshots land in test-artifacts/screenshots/sip-*.png.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import aiohttp
import pytest

from service.devkeys import mint_dev_token
from tests.browser.test_clinic_day import CHROMIUM, chromium, person, running  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (python3 dev.py test installs it as root)")
PERSONAL_NUMBER = "19121212-1212"
TITLE = "SIP för Tolvan: boende och behandling"


@pytest.fixture
async def service(settings, tmp_path):
    async with running(settings, tmp_path, (
            ("malmo-iof", "IFO Malmö", "malmo-stad", "social"),
            ("malmo-beroendecentrum", "Beroendecentrum Malmö", "region-skane", "health"))) as started:
        yield started


async def _api(server, dev, method, path, *, unit, sub, json=None):
    headers = {"Authorization": "Bearer " + mint_dev_token(dev, sub=sub, roles=["staff"], unit=unit)}
    async with aiohttp.ClientSession() as http, http.request(method, server.make_url(path), headers=headers,
                                                             json=json) as response:
        assert response.status in (200, 201), await response.text()
        return await response.json()


async def test_a_joint_plan_from_start_to_a_revoked_consent(chromium, service):
    server, dev = service
    social = await person(chromium, server)
    await social.sign_in("hsa-anna", "Anna Socialsekreterare", "malmo-iof", ["staff"])
    page = social.page
    await page.get_by_label("Personnummer eller samordningsnummer").nth(1).fill(PERSONAL_NUMBER)
    await page.locator("#name").fill("Tolvan Tolvansson")
    await page.get_by_role("button", name="Registrera").click()
    await page.get_by_role("button", name="Öppna relation").click()
    await page.wait_for_load_state()
    client_id = page.url.split("#")[0].rstrip("/").rsplit("/", 1)[1]

    # The client's consent: IFO's information may go to the region's addiction care, for SIP, for coordination.
    now = datetime.now(UTC)
    consent = await _api(server, dev, "POST", f"/v1/clients/{client_id}/consents", unit="malmo-iof", sub="hsa-anna",
                         json={"from": {"organisation": "malmo-stad", "domain": "social"},
                               "to": {"organisation": "region-skane", "domain": "health", "unit": None},
                               "categories": ["sip"], "purposes": ["coordination"],
                               "valid_until": (now + timedelta(days=180)).isoformat(), "given_by": "client",
                               "form": "verbal", "note": "Samtycke vid SIP-möte"})

    # The clinician takes part in the client's care.
    clinician = await person(chromium, server)
    await clinician.sign_in("hsa-bertil", "Bertil Läkare", "malmo-beroendecentrum", ["staff"])
    cpage = clinician.page
    await clinician.go(f"/ui/clients/{client_id}")
    await cpage.get_by_role("button", name="Öppna relation").click()
    await cpage.wait_for_load_state()

    # IFO starts the plan: both units, a relative, an effort each, the overall responsibility, a follow-up date.
    await social.go(f"/ui/clients/{client_id}")
    await page.get_by_role("link", name="Ny SIP").click()
    form = page.locator("#sip-form")
    await form.locator("#title").fill(TITLE)
    await form.get_by_label("Beroendecentrum Malmö (Region Skåne)").check()  # the organisation by name (#20)
    await form.locator("#externals").fill("Mamma Eva")
    await form.locator("#responsible_unit").select_option("malmo-iof")
    await form.locator("#effort_0_text").fill("Stödboende med kontaktperson")
    await form.locator("#effort_0_provider").select_option("unit:malmo-iof")
    await form.locator("#effort_0_due").fill((date.today() + timedelta(days=30)).isoformat())
    await form.locator("#effort_1_text").fill("Läkemedelsassisterad behandling")
    await form.locator("#effort_1_provider").select_option("unit:malmo-beroendecentrum")
    await form.locator("#next_follow_up").fill((date.today() + timedelta(days=60)).isoformat())
    await form.get_by_role("button", name="Spara planen").click()
    # Part 3 of the law is missing: the form says so in words and keeps what was typed.
    await page.locator("#form-error").wait_for()
    assert await form.locator("#title").input_value() == TITLE
    assert "Ange en insats som ges av en annan deltagare" in await page.inner_text("main")
    await social.shot("sip-form-refused")
    await form.locator("#effort_2_text").fill("Stöd vid återfall")
    await form.locator("#effort_2_provider").select_option("external:Mamma Eva")
    await form.get_by_role("button", name="Spara planen").click()
    await page.wait_for_url("**/ui/sip-plans/*")
    plan_url = page.url
    plan_path = plan_url.removeprefix(social.base)
    assert await page.locator("#responsible").inner_text() == "IFO Malmö"
    efforts = await page.locator("#efforts tbody tr").all_inner_texts()
    assert "Läkemedelsassisterad behandling\tBeroendecentrum Malmö" in efforts[1]
    await social.shot("sip-plan")
    await social.go(f"/ui/clients/{client_id}")
    assert await page.locator("#network li", has_text="Beroendecentrum Malmö").count() == 0  # no consent toward IFO
    assert await page.locator("#network li", has_text="IFO Malmö").count() == 1

    # The clinician finds it on the client's page, and its network now shows IFO (the coordination consent).
    await clinician.go(f"/ui/clients/{client_id}")
    assert await cpage.locator("#network li", has_text="IFO Malmö").count() == 1
    await clinician.shot("sip-client-network")
    await cpage.get_by_role("link", name=TITLE).click()
    await cpage.get_by_role("link", name="Ändra planen").click()
    await cpage.locator("#effort_1_text").fill("Läkemedelsassisterad behandling, dagligt intag på mottagningen")
    # IFO opened the form on the same version meanwhile.
    await social.go(plan_path + "/edit")
    await cpage.get_by_role("button", name="Spara planen").click()
    await cpage.wait_for_url(plan_url)
    assert "dagligt intag" in await cpage.locator("#efforts").inner_text()
    await page.locator("#title").fill("SIP för Tolvan: boende, behandling och sysselsättning")
    await page.get_by_role("button", name="Spara planen").click()
    await page.locator("#form-error").wait_for()
    assert "Beroendecentrum Malmö" in await page.locator("#form-error").inner_text()
    await social.shot("sip-version-conflict")
    await social.go(plan_path + "/edit")
    await page.locator("#title").fill("SIP för Tolvan: boende, behandling och sysselsättning")
    await page.get_by_role("button", name="Spara planen").click()
    await page.wait_for_url(plan_url)

    # A follow-up, recorded by the clinician.
    await clinician.go(plan_path)
    await cpage.locator("#summary").fill("Behandlingen fungerar. Boendet är ordnat; nästa steg är sysselsättning.")
    await cpage.locator("#follow_up_next").fill((date.today() + timedelta(days=90)).isoformat())
    await cpage.get_by_role("button", name="Spara uppföljningen").click()
    await cpage.locator("#follow-ups td.summary", has_text="nästa steg är sysselsättning").wait_for()
    await clinician.shot("sip-follow-up")

    # The history: what changed between two versions.
    await social.go(plan_path + "/history?from=1&to=3")
    diff = await page.locator("#diff").inner_text()
    assert "dagligt intag" in diff and "sysselsättning" in diff and "Titel" in diff
    assert await page.locator("#versions tbody tr").count() == 3
    await social.shot("sip-history")
    await social.go(plan_path + "/print")
    await page.emulate_media(media="print")
    assert not await page.locator(".no-print").is_visible()
    await social.shot("sip-print")
    await page.emulate_media(media="screen")

    # The client revokes the consent: the clinic loses the plan on its next request; IFO sees it closed to them.
    await _api(server, dev, "POST", f"/v1/consents/{consent['id']}/revoke", unit="malmo-iof", sub="hsa-anna",
               json={"reason": "Klienten återkallar samtycket"})
    response = await clinician.go(plan_path)
    assert response.status == 404 and TITLE not in await cpage.content()
    await clinician.shot("sip-lost")
    await clinician.go(f"/ui/clients/{client_id}")
    assert await cpage.get_by_role("link", name=TITLE).count() == 0
    assert await cpage.locator("#network li", has_text="IFO Malmö").count() == 0
    await social.go(plan_path)
    banner = await page.locator("#closed-to").inner_text()
    assert "Beroendecentrum Malmö" in banner and "klienten har återkallat samtycket" in banner
    await social.shot("sip-closed-to")
