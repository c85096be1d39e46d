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


async def test_a_record_is_voided_with_a_reason_on_the_client_page(browser, tokens, api, client, db):
    """Each of the unit's own records has a void form: a reason is required (refused beside the list, nothing
    changed), never without the CSRF token; voided, the record stays listed, marked, with no form, and the event is
    the API's."""
    await api.unit("iof", **SOCIAL_MALMO)
    staff = api.staff("iof", sub="anna")
    person = (await api.register(staff))["id"]
    await api.relation(staff, person)
    response = await client.post(f"/v1/clients/{person}/contacts", headers=staff,
                                 json={"on": "2025-03-01", "kind": "phone"})
    contact = (await response.json())["id"]
    await sign_in(browser, tokens, sub="anna", unit="iof", roles=["staff"])
    page = await (await browser.get(f"/ui/clients/{person}/followup")).text()
    action = f"/ui/clients/{person}/followup/contact/{contact}/void"
    assert f'action="{action}"' in page
    csrf = csrf_of(page)
    refused = await browser.post(action, data={"csrf": csrf, "reason": "  "})
    assert refused.status == 422 and 'role="alert"' in await refused.text()
    forged = await browser.post(action, allow_redirects=False, data={"csrf": csrf[::-1], "reason": "Fel klient"})
    assert forged.status == 403
    assert await db.fetchval("SELECT voided_at FROM followup_records WHERE id = $1", contact) is None
    voided = await browser.post(action, allow_redirects=False, data={"csrf": csrf, "reason": "Fel klient"})
    assert voided.status == 303, await voided.text()
    assert await db.fetchval("SELECT voided_by FROM followup_records WHERE id = $1", contact) == "anna"
    listed = await (await browser.get(f"/ui/clients/{person}/followup")).text()
    assert "2025-03-01 Telefon" in listed and "makulerad" in listed and f'action="{action}"' not in listed
    events = await db.fetch("SELECT actor_sub, decision FROM audit_events WHERE action = 'followup.void'")
    assert [(e["actor_sub"], e["decision"]) for e in events] == [("anna", "allow")]


async def test_the_indicator_page_draws_visits_per_month(browser, tokens, api, client, db):
    """A year's page has a chart of the visits of each month, drawn as SVG on the server: February's six group
    visits are drawn, its one phone call is suppressed and the bar is marked as partly hidden; a quarter's page
    has its three months."""
    await api.unit("iof", **SOCIAL_MALMO)
    staff = api.staff("iof")
    for n in range(6):
        person = (await api.register(staff, personal_number(n, female=True), f"P {n}"))["id"]
        await api.relation(staff, person)
        assert (await client.post(f"/v1/clients/{person}/contacts", headers=staff,
                                  json={"on": "2025-02-02", "kind": "group"})).status == 201
    man = (await api.register(staff, personal_number(30, female=False), "M"))["id"]
    await api.relation(staff, man)
    assert (await client.post(f"/v1/clients/{man}/contacts", headers=staff,
                              json={"on": "2025-02-03", "kind": "phone"})).status == 201
    await sign_in(browser, tokens, sub="chef", unit="iof", roles=["unit_manager"])
    page = await browser.get("/ui/indicators", params={"period": "2025", "unit": "iof"})
    html = await page.text()
    assert page.status == 200, html
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    chart = html.split('aria-label="Besök per månad"', 1)[1].split("</svg>", 1)[0]
    assert [f"2025-{m:02d}" in chart for m in range(1, 13)] == [True] * 12
    february = chart.split(">2025-02<", 1)[1].split(">2025-03<", 1)[0]
    assert '>6 <tspan class="suppressed">+ ✕ delvis dold</tspan>' in february
    quarter = await (await browser.get("/ui/indicators", params={"period": "2025-Q1", "unit": "iof"})).text()
    chart = quarter.split('aria-label="Besök per månad"', 1)[1].split("</svg>", 1)[0]
    assert "2025-03" in chart and "2025-04" not in chart
    month = await (await browser.get("/ui/indicators", params={"period": "2025-02", "unit": "iof"})).text()
    assert "Besök per månad" not in month


async def test_the_indicator_page_says_when_the_years_tables_are_being_made(browser, tokens, api, client, monkeypatch):
    import dataclasses
    import time

    from service.domain import indicators
    from service.http.context import RUNTIME

    await api.unit("iof", **SOCIAL_MALMO)
    staff = api.staff("iof")
    person = (await api.register(staff, personal_number(1, female=True), "P"))["id"]
    await api.relation(staff, person)
    assert (await client.post(f"/v1/clients/{person}/contacts", headers=staff,
                              json={"on": "2025-02-02", "kind": "group"})).status == 201
    rt = browser.server.app[RUNTIME]
    rt.settings = dataclasses.replace(rt.settings, indicators_wait=0.0)
    suppress = indicators._suppress

    def slow(*args):
        time.sleep(0.5)
        return suppress(*args)
    monkeypatch.setattr(indicators, "_suppress", slow)
    await sign_in(browser, tokens, sub="chef", unit="iof", roles=["unit_manager"])
    page = await browser.get("/ui/indicators", params={"period": "2025", "unit": "iof"})
    html = await page.text()
    assert page.status == 503 and page.headers["Retry-After"] == "30", html
    assert 'id="indicators-making"' in html and "Årets tabeller görs nu" in html and '<table id="indicators">' not in html
    await rt.indicator_builds[2025]
    page = await browser.get("/ui/indicators", params={"period": "2025", "unit": "iof"})
    assert page.status == 200 and '<table id="indicators">' in await page.text()
