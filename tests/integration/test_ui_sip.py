"""The SIP pages over HTTP (issue 16): the purpose chooser shows SIP documents of another zone under coordination
only, and the unit manager's page lists plans past their follow-up date, without their content."""
from __future__ import annotations

from datetime import date, timedelta

from tests import files
from tests.integration.test_consents import HEALTH_SKANE, SOCIAL_MALMO, consent_body
from tests.integration.test_sip_plans import TITLE, plan_body
from tests.integration.test_ui_http import browser, sign_in  # noqa: F401  (fixture)


async def test_sip_documents_of_another_zone_show_under_coordination_only(browser, tokens, api, client):
    await api.unit("iof", **SOCIAL_MALMO)
    await api.unit("beroendecentrum", **HEALTH_SKANE)
    social, clinic = api.staff("iof"), api.staff("beroendecentrum")
    person = (await api.register(social))["id"]
    for headers in (social, clinic):
        await api.relation(headers, person)
    uploaded = await client.post(f"/v1/clients/{person}/documents", headers=social, data=files.upload("sip", "SIP-protokoll"))
    assert uploaded.status == 201
    consent = await client.post(f"/v1/clients/{person}/consents", headers=social,
                                json=consent_body(categories=["sip"], purposes=["care", "coordination"]))
    assert consent.status == 201
    await sign_in(browser, tokens, sub="staff-of-beroendecentrum", unit="beroendecentrum", roles=["staff"])
    care = await (await browser.get(f"/ui/clients/{person}")).text()
    coordination = await (await browser.get(f"/ui/clients/{person}?purpose=coordination")).text()
    assert "SIP-protokoll" not in care and "SIP-protokoll" in coordination
    assert "?purpose=coordination" in coordination and 'value="coordination" selected' in coordination


async def test_the_unit_managers_page_lists_plans_past_their_follow_up(browser, tokens, api, client):
    await api.unit("iof", **SOCIAL_MALMO)
    social = api.staff("iof")
    person = (await api.register(social))["id"]
    await api.relation(social, person)
    past = plan_body(participants=[{"unit": "iof"}, {"external": "Mamma Eva"}], start_date=(date.today() - timedelta(days=60)).isoformat(),
                     next_follow_up=(date.today() - timedelta(days=3)).isoformat(),
                     efforts=[{"text": "Stöd", "provided_by_unit": "iof"}, {"text": "Stöd", "provided_by_external": "Mamma Eva"}])
    created = await client.post(f"/v1/clients/{person}/sip-plans", headers=social, json=past)
    assert created.status == 201, await created.text()
    plan = await created.json()
    await sign_in(browser, tokens, sub="chef", unit="iof", roles=["unit_manager"])
    page = await (await browser.get("/ui/sip-plans/overdue")).text()
    assert f"/ui/sip-plans/{plan['id']}" in page and TITLE not in page and ">3<" in page
