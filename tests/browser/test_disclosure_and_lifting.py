"""The legal paths besides consent in a real browser (headless Chromium), on the real service and database.

IFO discloses a short statement about a minor to Beroendecentrum without consent (OSL 25:12 / 26:9); the
clinician, with no relation, reads exactly that from the page of what was disclosed to the unit. Then the
social worker finds that blocked information exists in another unit and lifts the block for herself on the
client's consent (PDL 4:4), after which the document shows. Screenshots land in test-artifacts/screenshots/.
"""
from __future__ import annotations

import json

import aiohttp
import pytest

from service.devkeys import mint_dev_token
from tests import files
from tests.browser.test_clinic_day import CHROMIUM, chromium, person, running  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (python3 dev.py test installs it as root)")
MINOR = "20121212-1212"
NEED = "Beroendevården behöver utlåtandet för att planera behandlingen av ungdomen."


@pytest.fixture
async def service(settings, tmp_path):
    async with running(settings, tmp_path, (
            ("malmo-iof", "IFO Malmö", "malmo-stad", "social"),
            ("malmo-jour", "Socialjouren Malmö", "malmo-stad", "social"),
            ("malmo-beroendecentrum", "Beroendecentrum Malmö", "region-skane", "health"))) as started:
        yield started


async def test_a_disclosure_and_a_block_lifting(chromium, service, tmp_path):
    server, dev = service
    social = await person(chromium, server)
    await social.sign_in("hsa-anna", "Anna Socialsekreterare", "malmo-iof", ["staff"])
    page = social.page
    await page.get_by_label("Personnummer eller samordningsnummer").nth(1).fill(MINOR)
    await page.locator("#name").fill("Ung Person")
    await page.get_by_role("button", name="Registrera").click()
    await page.get_by_role("button", name="Öppna relation").click()
    await page.wait_for_load_state()
    for title, category in (("Utlåtande till beroendevården", "statement"), ("Journalanteckning", "journal_note")):
        pdf = tmp_path / f"{category}.pdf"
        pdf.write_bytes(files.pdf())
        await page.locator("#category").select_option(category)
        await page.locator("#title").fill(title)
        await page.locator("#file").set_input_files(str(pdf))
        await page.get_by_role("button", name="Ladda upp").click()
        await page.wait_for_url("**/ui/clients/*")
        await page.get_by_role("link", name=title, exact=True).wait_for()  # the title links its page (#20)
    client_url = page.url.split("#")[0].split("?")[0]  # after an upload: ?uploaded=<id> (#20)
    client_id = client_url.rstrip("/").rsplit("/", 1)[1]

    # The disclosure: the statement only, to the clinic, under 18, with the need in words.
    form = page.locator("#disclosure-form")
    await form.get_by_label("Utlåtande till beroendevården").check()
    await form.locator("#to_unit").select_option("malmo-beroendecentrum")
    await form.get_by_label("Personen är under 18 år").check()
    await form.locator("#need").fill(NEED)
    await social.shot("disclosure-form")
    await form.get_by_role("button", name="Lämna ut").click()
    await page.locator("#disclosures td", has_text=NEED).wait_for()
    await social.shot("disclosures-made")

    # The clinician: no relation, reads exactly what was disclosed, from the page of what the unit received.
    clinician = await person(chromium, server)
    await clinician.sign_in("hsa-bertil", "Bertil Läkare", "malmo-beroendecentrum", ["staff"])
    cpage = clinician.page
    await clinician.go(f"/ui/clients/{client_id}")
    await cpage.get_by_role("link", name="Se vad som lämnats ut till din enhet utan samtycke").click()
    await cpage.get_by_text(NEED).wait_for()
    items = await cpage.locator("section.card li").all_inner_texts()
    assert len(items) == 1 and "Utlåtande till beroendevården" in items[0] and "Journalanteckning" not in items[0]
    async with cpage.expect_download() as download:
        await cpage.get_by_role("link", name="Ladda ned").click()
    assert (await download.value).suggested_filename
    await clinician.shot("disclosures-received")

    # The night unit holds a blocked assessment (blocked on the client's request, through the API).
    jour = {"Authorization": "Bearer " + mint_dev_token(dev, sub="hsa-jour", roles=["staff"], unit="malmo-jour")}
    async with aiohttp.ClientSession() as http:
        async with http.post(server.make_url(f"/v1/clients/{client_id}/relations"), headers=jour, json={}) as r:
            assert r.status == 201
        data = aiohttp.FormData()
        data.add_field("metadata", json.dumps({"category": "assessment", "title": "Jourens bedömning"}),
                       content_type="application/json")
        data.add_field("file", files.pdf(), filename="j.pdf", content_type="application/pdf")
        async with http.post(server.make_url(f"/v1/clients/{client_id}/documents"), headers=jour, data=data) as r:
            document = await r.json()
        async with http.post(server.make_url(f"/v1/documents/{document['id']}/block"), headers=jour,
                             json={"reason": "klientens begäran"}) as r:
            assert r.status == 200

    # The social worker learns that blocked information exists (not where or what) and lifts it on consent.
    await social.go(f"/ui/clients/{client_id}")
    notice = page.locator("#blocked-notice")
    await notice.wait_for()
    assert "Jourens" not in await notice.inner_text() and "malmo-jour" not in await notice.inner_text()
    assert await page.get_by_role("cell", name="Jourens bedömning", exact=True).count() == 0
    lifting = page.locator("#lifting-form")
    await lifting.locator("#lifting-reason").fill("Klienten samtycker muntligt till att spärren hävs i dag")
    await social.shot("blocked-notice")
    await lifting.get_by_role("button", name="Häv spärren").click()
    await page.get_by_role("cell", name="Jourens bedömning", exact=True).wait_for()
    assert await page.locator("#blocked-notice").count() == 0
    await social.shot("block-lifted")
