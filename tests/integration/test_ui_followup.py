"""Follow-up in the web interface (issue 17): a visit recorded in a few clicks with today's date, refused in words
beside the form (nothing stored), never without the session's CSRF token; the indicator page draws its charts as SVG
on the server and marks the suppressed cells."""
from __future__ import annotations

from tests.integration.test_consents import HEALTH_SKANE, SOCIAL_MALMO
from tests.integration.test_indicators import personal_number
from tests.integration.test_ui_http import browser, csrf_of, sign_in  # noqa: F401  (fixture)


async def test_a_visit_and_a_score_through_the_forms(browser, tokens, api, db):
    await api.unit("iof", **SOCIAL_MALMO)
    staff = api.staff("iof", sub="anna")
    person = (await api.register(staff))["id"]
    await api.relation(staff, person)
    await sign_in(browser, tokens, sub="anna", unit="iof", roles=["staff"])
    client_page = await (await browser.get(f"/ui/clients/{person}")).text()
    assert f"/ui/clients/{person}/followup" in client_page
    page = await (await browser.get(f"/ui/clients/{person}/followup")).text()
    csrf = csrf_of(page)
    saved = await browser.post(f"/ui/clients/{person}/followup/contact", allow_redirects=False,
                               data={"csrf": csrf, "on": "2025-03-01", "kind": "individual", "with_unit": ""})
    assert saved.status == 303, await saved.text()
    refused = await browser.post(f"/ui/clients/{person}/followup/assessment",
                                 data={"csrf": csrf, "instrument": "AUDIT-C", "score": "13", "on": "2025-03-01"})
    assert refused.status == 422 and "AUDIT-C scores 0-12" in await refused.text()
    forged = await browser.post(f"/ui/clients/{person}/followup/contact", allow_redirects=False,
                                data={"csrf": csrf[::-1], "on": "2025-03-02", "kind": "phone"})
    assert forged.status == 403
    rows = await db.fetch("SELECT kind, detail FROM followup_records")
    assert [(r["kind"], r["detail"]) for r in rows] == [("contact", "individual")]
    listed = await (await browser.get(f"/ui/clients/{person}/followup")).text()
    assert "2025-03-01 Enskilt" in listed


async def test_the_indicator_page_draws_svg_and_marks_suppressed_cells(browser, tokens, api, client, db):
    await api.unit("iof", **SOCIAL_MALMO)
    await api.unit("beroendecentrum", **HEALTH_SKANE)
    staff = api.staff("iof")
    for n in range(6):
        person = (await api.register(staff, personal_number(n, female=True), f"P {n}"))["id"]
        await api.relation(staff, person)
        response = await client.post(f"/v1/clients/{person}/contacts", headers=staff,
                                     json={"on": "2025-02-02", "kind": "group"})
        assert response.status == 201
    man = (await api.register(staff, personal_number(30, female=False), "M"))["id"]
    await api.relation(staff, man)
    assert (await client.post(f"/v1/clients/{man}/contacts", headers=staff,
                              json={"on": "2025-02-03", "kind": "phone"})).status == 201
    await sign_in(browser, tokens, sub="chef", unit="iof", roles=["unit_manager"])
    page = await browser.get("/ui/indicators", params=[("period", "2025"), ("unit", "iof"), ("group_by", "sex"),
                                                       ("group_by", "age_band")])
    html = await page.text()
    assert page.status == 200, html
    assert "<svg" in html and "Personer efter kön och ålder" in html
    chart, table = html.split('<table id="indicators">', 1)
    assert "✕ dold" in chart  # the one man's bar is marked, not drawn
    assert "<td>persons</td><td>male</td><td>all</td><td><span class=\"suppressed\"" in table
    assert "<td>contacts_group</td><td>all</td><td>all</td><td>6</td>" in table
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    events = await db.fetch("SELECT actor_sub, decision FROM audit_events WHERE action = 'indicators.read'")
    assert [(e["actor_sub"], e["decision"]) for e in events] == [("chef", "allow")]
