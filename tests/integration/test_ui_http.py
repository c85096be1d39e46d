"""The web interface over plain HTTP: sessions, CSRF, the staff and auditor pages, escaping, languages."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.app import create_app
from service.database import with_user
from service.http.context import RUNTIME
from service.ui.i18n import EN
from service.ui.staff import RULE_TEXT
from tests import files
from tests.integration.test_consents import consent_body

SWEDEN_NOW = datetime.now()
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "every form carries a CSRF token"
    return match.group(1)


@pytest.fixture
async def browser(settings):
    """A cookie-keeping client on the real app (cookies for 127.0.0.1 need the unsafe jar)."""
    async with TestClient(TestServer(create_app(settings)), cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        yield client


async def sign_in(browser, tokens, **claims) -> str:
    page = await browser.get("/ui/sign-in")
    html = await page.text()
    response = await browser.post("/ui/sign-in", data={"csrf": csrf_of(html), "token": tokens(**claims)},
                                  allow_redirects=False)
    assert response.status == 303, await response.text()
    return csrf_of(await (await browser.get("/ui/clients")).text()) if "auditor" not in claims.get("roles", ()) else ""


async def test_pages_need_a_session_and_carry_security_headers(browser):
    response = await browser.get("/ui/clients", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/ui/sign-in"
    cookie = response.headers["Set-Cookie"]  # an anonymous session: a CSRF secret for the sign-in form
    page = await browser.get("/ui/sign-in")
    assert page.status == 200 and page.content_type == "text/html"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"] and page.headers["X-Frame-Options"] == "DENY"
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui" in cookie
    assert "Secure" not in cookie  # plain HTTP here, and BRYGGA_SECURE_COOKIES is auto
    assert cookie.startswith("brygga_session=")  # no __Host- prefix without Secure
    assert "Strict-Transport-Security" not in page.headers
    assert '<html lang="sv">' in await page.text()


async def test_ui_without_its_slash_redirects_to_the_start_page(browser):
    response = await browser.get("/ui", allow_redirects=False)
    assert response.status in (302, 303) and response.headers["Location"] == "/ui/"
    assert response.content_type != "application/problem+json"
    assert response.headers["Cache-Control"] == "no-store" and response.headers["X-Content-Type-Options"] == "nosniff"
    followed = await browser.get("/ui")
    assert followed.status == 200 and followed.url.path == "/ui/sign-in"


async def test_behind_a_tls_proxy_the_session_cookie_is_secure(settings):
    app = create_app(replace(settings, secure_cookies="always"))  # TLS ended at the proxy: plain HTTP reaches us
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/ui/clients", allow_redirects=False)
    attributes = [part.strip().lower() for part in response.headers["Set-Cookie"].split(";")]
    assert "secure" in attributes and "httponly" in attributes


async def test_over_tls_a_planted_session_cookie_opens_nothing(settings, tokens, api):
    """Insider attack 11, finding 2: over TLS the session cookie is `__Host-brygga_session` (Secure, Path=/, no
    Domain), which a browser takes from this host over TLS only: a sibling subdomain or a network attacker
    answering plain HTTP can set `brygga_session` at most, and that one is not read. The attacker's own signed-in
    session planted so would have made the victim work as the attacker. Every answer carries HSTS."""
    app = create_app(replace(settings, secure_cookies="always"))  # TLS ended at the proxy
    async with TestClient(TestServer(app), cookie_jar=aiohttp.DummyCookieJar()) as client:
        await api.unit("iof-norr")
        page = await client.get("/ui/sign-in")
        (name, anonymous), = page.cookies.items()
        signed_in = await client.post("/ui/sign-in", allow_redirects=False, headers={"Cookie": f"{name}={anonymous.value}"},
                                      data={"csrf": csrf_of(await page.text()),
                                            "token": tokens(sub="mallory", unit="iof-norr", roles=["staff"])})
        assert signed_in.status == 303
        mallorys = signed_in.cookies[name].value
        assert (await client.get("/ui/clients", allow_redirects=False, headers={"Cookie": f"{name}={mallorys}"})).status == 200
        planted = await client.get("/ui/clients", allow_redirects=False, headers={"Cookie": f"brygga_session={mallorys}"})
        assert (planted.status, planted.headers["Location"]) == (303, "/ui/sign-in")

        assert name == "__Host-brygga_session"
        assert (anonymous["path"], anonymous["domain"], bool(anonymous["secure"])) == ("/", "", True)
        assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
        api_answer = await client.get("/v1/units")
        assert api_answer.status == 401 and api_answer.headers["Strict-Transport-Security"] == "max-age=31536000"


async def test_a_form_without_the_sessions_csrf_token_is_refused(browser, tokens, api, db):
    await browser.get("/ui/sign-in")
    response = await browser.post("/ui/sign-in", data={"csrf": "forged", "token": tokens(sub="x", roles=["auditor"])},
                                  allow_redirects=False)
    assert response.status == 403
    assert (await browser.get("/ui/clients", allow_redirects=False)).status == 303  # still not signed in
    await api.unit("iof-norr")
    csrf = await sign_in(browser, tokens, sub="anna", unit="iof-norr", roles=["staff"])
    refused = await browser.post("/ui/clients", data={"csrf": csrf[::-1], "new_personal_number": "19121212-1212",
                                                     "name": "Tolvan"}, allow_redirects=False)
    assert refused.status == 403
    assert (await browser.post("/ui/clients", data={"new_personal_number": "19121212-1212", "name": "T"},
                               allow_redirects=False)).status == 403
    assert await db.fetchval("SELECT count(*) FROM clients") == 0
    # (The clients page the sign-in lands on lists the unit's clients, "Mina klienter", #20: client.list.)
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE actor_sub IN ('x', 'anna') "
                             "AND action LIKE 'client.%' AND action <> 'client.list'") == 0


_TABLES = ("clients", "relations", "documents", "consents", "emergency_grants", "emergency_reviews", "audit_events",
           "disclosures", "disclosure_documents", "block_liftings")


async def _snapshot(db) -> dict:
    """Every row the service could have written, counted, and the consents' revocations and confirmations."""
    counts = {table: await db.fetchval(f"SELECT count(*) FROM {table}") for table in _TABLES}
    counts["consent changes"] = await db.fetch("SELECT id, revoked_at, confirmed_at FROM consents ORDER BY id")
    return counts


async def _two_zones(api, client, *, consent_by: str) -> tuple[str, dict, dict]:
    """Malmö's social unit (staff anna) and the region's clinic (staff bo), both with a relation to one client;
    a consent from social services to the clinic recorded by `consent_by` ("iof" or "clinic"), and the clinic's
    emergency access. (client id, consent, grant)."""
    await api.unit("iof-norr")
    await api.unit("beroende", organisation="region-skane", domain="health")
    people = {"iof": api.staff("iof-norr", sub="anna"), "clinic": api.staff("beroende", sub="bo")}
    person = (await api.register(people["iof"]))["id"]
    for headers in people.values():
        await api.relation(headers, person)
    consent = await client.post(f"/v1/clients/{person}/consents", headers=people[consent_by], json=consent_body())
    assert consent.status == 201, await consent.text()
    grant = await client.post(f"/v1/clients/{person}/emergency-access", headers=people["clinic"],
                              json={"reason": "Medvetslös patient, behöver läkemedelslistan"})
    assert grant.status == 201, await grant.text()
    return person, await consent.json(), await grant.json()


async def test_no_form_writes_anything_without_the_sessions_csrf_token(browser, tokens, api, client, db):
    """Each form that changes something, posted with everything right but the CSRF token: 403, nothing written
    (no row, no audit event, no revocation or confirmation)."""
    person, consent, grant = await _two_zones(api, client, consent_by="clinic")
    waiting = consent["id"]  # recorded by the receiving zone: the holding zone may confirm it
    csrf = await sign_in(browser, tokens, sub="anna", unit="iof-norr", roles=["staff"])
    forged = csrf[::-1]
    upload = aiohttp.FormData([("csrf", forged), ("category", "assessment"), ("title", "Utredning")])
    upload.add_field("file", files.pdf(800), filename="a.pdf", content_type="application/pdf")
    valid_until = (SWEDEN_NOW + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    consent_form = aiohttp.FormData([
        ("csrf", forged), ("from_zone", "malmo-stad/social"), ("to", "zone:region-skane/health"),
        ("given_by", "client"), ("form", "verbal"),
        ("valid_until", valid_until), ("categories", "assessment"), ("purposes", "care")])
    posts = [
        ("/ui/clients", {"csrf": forged, "new_personal_number": "19900101-0017", "name": "Ny"}),
        (f"/ui/clients/{person}/relation", {"csrf": forged}),
        (f"/ui/clients/{person}/emergency", {"csrf": forged, "reason": "Medvetslös patient, behöver läkemedelslistan"}),
        (f"/ui/clients/{person}/documents", upload),
        (f"/ui/clients/{person}/consents", consent_form),
        (f"/ui/consents/{waiting}/confirm", {"csrf": forged}),
        (f"/ui/consents/{waiting}/revoke", {"csrf": forged, "reason": "Klienten ångrade sig"}),
        (f"/ui/clients/{person}/disclosures", {"csrf": forged, "to_unit": "beroende", "ground": "ongoing_misuse",
                                               "need": "Behövs för behandlingen av missbruket.",
                                               "document_ids": str(uuid.uuid4())}),
        (f"/ui/clients/{person}/block-liftings", {"csrf": forged, "basis": "consent", "scope": "self", "hours": "4",
                                                  "reason": "klienten samtycker", "form": "verbal"}),
        (f"/ui/clients/{person}/shred", {"csrf": forged, "document_id": str(uuid.uuid4()), "reason": "fel klient",
                                         "ivo_decision": "IVO 1/2026"}),
    ]
    before = await _snapshot(db)
    for path, data in posts:
        response = await browser.post(path, data=data, allow_redirects=False)
        assert response.status == 403, (path, response.status)
        assert await _snapshot(db) == before, path
    await browser.post("/ui/sign-out", data={"csrf": csrf})
    await sign_in(browser, tokens, sub="auditor-1", roles=["auditor"], organisations=["region-skane"])
    page = await browser.get("/ui/audit/emergency-reviews")  # reading the queue is audited: counted from here
    assert page.status == 200
    before = await _snapshot(db)
    grant_id = grant["id"]
    response = await browser.post(f"/ui/audit/emergency-reviews/{grant_id}", allow_redirects=False,
                                  data={"csrf": csrf_of(await page.text())[::-1], "verdict": "justified",
                                        "comment": "Styrkt i journalen"})
    assert response.status == 403
    assert await _snapshot(db) == before


async def test_a_bad_token_and_an_expired_session_send_you_to_sign_in(browser, tokens, api):
    page = await browser.get("/ui/sign-in")
    bad = await browser.post("/ui/sign-in", data={"csrf": csrf_of(await page.text()), "token": "not-a-jwt"})
    assert bad.status == 401
    await api.unit("iof-norr")
    html = await (await browser.get("/ui/sign-in")).text()
    now = int(datetime.now().timestamp())
    token = tokens(sub="anna", unit="iof-norr", roles=["staff"], iat=now - 900, nbf=now - 900, exp=now - 120)
    response = await browser.post("/ui/sign-in", data={"csrf": csrf_of(html), "token": token}, allow_redirects=False)
    assert response.status == 401


async def test_the_staff_day_through_forms(browser, tokens, api, db):
    await api.unit("iof-norr")
    csrf = await sign_in(browser, tokens, sub="anna", name="Anna Socialsekreterare", unit="iof-norr", roles=["staff"])
    created = await browser.post("/ui/clients", data={"csrf": csrf, "new_personal_number": "19121212-1212",
                                                      "name": "Tolvan Tolvansson"}, allow_redirects=False)
    assert created.status == 303
    client_page = created.headers["Location"]
    no_relation = await browser.get(client_page)
    assert no_relation.status == 404 and "Öppna relation" in await no_relation.text()
    assert "Tolvan" not in await no_relation.text()
    await browser.post(f"{client_page}/relation", data={"csrf": csrf})
    page = await (await browser.get(client_page)).text()
    assert "Tolvan Tolvansson" in page and "Inga dokument som du får se." in page
    form = aiohttp.FormData()
    for key, value in (("csrf", csrf), ("category", "assessment"), ("title", XSS)):
        form.add_field(key, value)
    content = files.pdf()
    form.add_field("file", content, filename="u.pdf", content_type="application/pdf")
    uploaded = await browser.post(f"{client_page}/documents", data=form, allow_redirects=False)
    assert uploaded.status == 303, await uploaded.text()
    page = await (await browser.get(client_page)).text()
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page and XSS not in page
    assert 'class="badge basis own"' in page  # the basis in words (#20)
    link = re.search(r'href="(/ui/documents/[0-9a-f-]+/content)"', page).group(1)
    download = await browser.get(link)
    assert download.status == 200 and await download.read() == content
    found = await browser.post("/ui/clients/find", data={"csrf": csrf, "personal_number": "191212121212"},
                               allow_redirects=False)
    assert found.headers["Location"] == client_page
    missing = await browser.post("/ui/clients/find", data={"csrf": csrf, "personal_number": "19900101-0017"})
    assert missing.status == 404 and "Ingen klient med det numret." in await missing.text()
    actions = [r["action"] for r in await db.fetch("SELECT action FROM audit_events WHERE actor_sub = 'anna' "
                                                   "AND action <> 'client.list' ORDER BY seq")]  # Mina klienter (#20)
    assert actions[:3] == ["client.register", "client.read", "relation.open"]
    assert {"document.create", "document.list", "document.read_content", "client.lookup"} <= set(actions)
    assert "19121212" not in str(await db.fetch("SELECT * FROM audit_events"))


async def test_consent_form_shows_errors_beside_fields_then_records_and_revokes(browser, tokens, api, db):
    await api.unit("iof-norr")
    csrf = await sign_in(browser, tokens, sub="anna", unit="iof-norr", roles=["staff"])
    client_page = (await browser.post("/ui/clients", data={"csrf": csrf, "new_personal_number": "19121212-1212",
                                                           "name": "Tolvan"}, allow_redirects=False)).headers["Location"]
    await browser.post(f"{client_page}/relation", data={"csrf": csrf})
    fields = {"csrf": csrf, "from_zone": "malmo-stad/social", "to": "zone:region-skane/health",
              "given_by": "client", "form": "written", "note": XSS,
              "valid_until": (SWEDEN_NOW + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")}
    bad = await browser.post(f"{client_page}/consents", data={**fields, "to": "zone:malmo-stad/social"})
    html = await bad.text()
    assert bad.status == 422 and 'aria-invalid="true"' in html and "field-error" in html
    written = aiohttp.FormData(list(fields.items()) + [("categories", "assessment"), ("purposes", "care")])
    bad = await browser.post(f"{client_page}/consents", data=written)
    assert bad.status == 422 and "underskrivna formuläret" in await bad.text()
    verbal = aiohttp.FormData(list({**fields, "form": "verbal"}.items()) + [("categories", "assessment"), ("purposes", "care")])
    ok = await browser.post(f"{client_page}/consents", data=verbal, allow_redirects=False)
    assert ok.status == 303, await ok.text()
    page = await (await browser.get(f"{client_page}/consents")).text()
    assert "status-active" in page
    consent_id = re.search(r'/ui/consents/([0-9a-f-]+)/revoke', page).group(1)
    fhir = await browser.get(f"/ui/consents/{consent_id}/fhir")
    assert fhir.status == 200 and '"resourceType": "Consent"' in (await fhir.text()).replace("&#34;", '"')
    await browser.post(f"/ui/consents/{consent_id}/revoke", data={"csrf": csrf, "reason": "Klienten ångrade sig"})
    page = await (await browser.get(f"{client_page}/consents")).text()
    assert "status-revoked" in page and "/revoke" not in page
    assert await db.fetchval("SELECT revoked_at IS NOT NULL FROM consents WHERE id = $1", uuid.UUID(consent_id))


async def test_auditor_pages(browser, tokens, api):
    await api.unit("iof-norr")
    headers = api.staff("iof-norr")
    person = await api.register(headers)
    await api.relation(headers, person["id"])
    await sign_in(browser, tokens, sub="astrid", roles=["auditor"])
    home = await browser.get("/ui/", allow_redirects=False)
    assert home.headers["Location"] == "/ui/audit/events"
    for path in ("/ui/audit/events", "/ui/audit/chain", "/ui/audit/emergency-reviews", "/ui/audit/anomalies",
                 f"/ui/clients/{person['id']}/access-log", f"/ui/audit/events?client_id={person['id']}&decision=allow"):
        response = await browser.get(path)
        assert response.status == 200, (path, await response.text())
    assert "relation.open" in await (await browser.get("/ui/audit/events")).text()
    bad = await browser.get("/ui/audit/events?client_id=nope")
    assert bad.status == 422
    content = await browser.get("/ui/clients")
    assert content.status == 200  # the page exists; client content stays closed:
    assert (await browser.get(f"/ui/clients/{person['id']}")).status in (403, 404)


async def test_english_on_request(browser, tokens, api):
    await api.unit("iof-norr")
    csrf = await sign_in(browser, tokens, sub="anna", unit="iof-norr", roles=["staff"])
    await browser.post("/ui/language", data={"csrf": csrf, "lang": "en", "back": "/ui/clients"})
    page = await (await browser.get("/ui/clients")).text()
    assert '<html lang="en">' in page and "Sign out" in page and "Find client" in page


async def test_the_language_form_returns_only_to_a_page_of_the_interface(browser):
    """`back` becomes the Location header: CR/LF would split it (the connection died), another origin would make
    the form an open redirect. Both are refused with 400, the language unchanged; a page under /ui/ is where it goes."""
    csrf = csrf_of(await (await browser.get("/ui/sign-in")).text())
    for back in ("/ui/clients\r\nSet-Cookie: brygga_ui=stolen", "/ui/\nx", "//evil.example/ui/", "https://evil.example/ui/",
                 "/ui/\\evil.example", "/uifoo", "/ui/ x", "javascript:alert(1)"):
        refused = await browser.post("/ui/language", data={"csrf": csrf, "lang": "en", "back": back},
                                     allow_redirects=False)
        assert refused.status == 400, back
        assert "Location" not in refused.headers and "stolen" not in refused.headers.get("Set-Cookie", "")
        assert '<html lang="sv">' in await refused.text()
    for back, location in (("/ui/clients?q=a&b=1", "/ui/clients?q=a&b=1"), ("", "/ui/"),
                           ("/ui/clients/å", "/ui/clients/%C3%A5")):
        moved = await browser.post("/ui/language", data={"csrf": csrf, "lang": "en", "back": back}, allow_redirects=False)
        assert (moved.status, moved.headers["Location"]) == (303, location)


def test_every_template_string_has_its_english():
    templates = Path(__file__).resolve().parents[2] / "service" / "ui" / "templates"
    asked = set()
    for path in templates.glob("*.html"):
        asked |= set(re.findall(r'''t\(\s*["']([^"']+)["']\s*\)''', path.read_text()))
    missing = sorted(text for text in asked | set(RULE_TEXT.values()) if text not in EN)
    assert not missing, missing


def luhn_number(birth: str, serial: str = "238") -> str:
    """A valid personal number YYYYMMDD-NNNC for `birth` (YYYYMMDD)."""
    digits = birth[2:] + serial
    total = 0
    for i, d in enumerate(digits):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return f"{birth}-{serial}{(10 - total % 10) % 10}"


async def test_a_minors_own_consent_needs_the_maturity_assessment_shown_beside_the_field(browser, tokens, api):
    await api.unit("iof-norr")
    csrf = await sign_in(browser, tokens, sub="anna", unit="iof-norr", roles=["staff"])
    minor = luhn_number(f"{datetime.now().year - 15}0101")
    client_page = (await browser.post("/ui/clients", data={"csrf": csrf, "new_personal_number": minor,
                                                           "name": "Unga Ung"}, allow_redirects=False)).headers["Location"]
    await browser.post(f"{client_page}/relation", data={"csrf": csrf})
    fields = [("csrf", csrf), ("from_zone", "malmo-stad/social"), ("to", "zone:vgr/health"),
              ("given_by", "client"), ("form", "verbal"),
              ("valid_until", (SWEDEN_NOW + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")),
              ("categories", "*"), ("purposes", "care")]
    refused = await browser.post(f"{client_page}/consents", data=aiohttp.FormData(fields))
    html = await refused.text()
    assert refused.status == 422 and "mognadsbedömning" in html and 'role="alert"' in html
    accepted = await browser.post(f"{client_page}/consents", data=aiohttp.FormData(fields + [("maturity_assessed", "on")]),
                                  allow_redirects=False)
    assert accepted.status == 303, await accepted.text()


async def test_a_guardians_consent_names_the_guardian_through_the_form(browser, tokens, api, db):
    """The consent form carries the guardian and the maturity assessment (API-1.1 "Minors and guardians"): without
    the guardian a guardian's consent is refused beside the form, with it recorded, the number sealed."""
    await api.unit("iof-norr")
    csrf = await sign_in(browser, tokens, sub="anna", unit="iof-norr", roles=["staff"])
    minor = luhn_number(f"{datetime.now().year - 15}0101")
    client_page = (await browser.post("/ui/clients", data={"csrf": csrf, "new_personal_number": minor,
                                                           "name": "Unga Ung"}, allow_redirects=False)).headers["Location"]
    await browser.post(f"{client_page}/relation", data={"csrf": csrf})
    fields = [("csrf", csrf), ("from_zone", "malmo-stad/social"), ("to", "zone:vgr/health"),
              ("given_by", "guardian"), ("form", "verbal"),
              ("valid_until", (SWEDEN_NOW + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")),
              ("categories", "*"), ("purposes", "care")]
    refused = await browser.post(f"{client_page}/consents", data=aiohttp.FormData(fields))
    assert refused.status == 422 and "vårdnadshavarens namn och personnummer" in await refused.text()
    assert await db.fetchval("SELECT count(*) FROM consents") == 0
    guardian = luhn_number("19800101", "124")
    accepted = await browser.post(f"{client_page}/consents", allow_redirects=False, data=aiohttp.FormData(
        fields + [("guardian_name", "Vera Vårdnadshavare"), ("guardian_personal_number", guardian)]))
    assert accepted.status == 303, await accepted.text()
    page = await (await browser.get(f"{client_page}/consents")).text()
    assert guardian not in page and guardian.replace("-", "") not in page
    assert await db.fetchval("SELECT count(*) FROM consents WHERE given_by = 'guardian'") == 1
    own = fields[:3] + [("given_by", "client")] + fields[4:] + [
        ("maturity_assessed", "on"), ("maturity_assessed_by", "Anna Socialsekreterare"),
        ("maturity_assessed_at", SWEDEN_NOW.date().isoformat()), ("maturity_basis", "för kort")]
    short = await browser.post(f"{client_page}/consents", data=aiohttp.FormData(own))
    assert short.status == 422 and 'id="maturity_basis-error"' in await short.text()


async def test_emergency_access_shows_a_banner_while_active(browser, tokens, api):
    await api.unit("iof-norr")
    await api.unit("beroende", organisation="region-skane", domain="health")
    social = api.staff("iof-norr")
    person = await api.register(social)
    await api.relation(social, person["id"])
    csrf = await sign_in(browser, tokens, sub="bertil", unit="beroende", roles=["staff"])
    await browser.post(f"/ui/clients/{person['id']}/relation", data={"csrf": csrf})
    assert "Nödåtkomst aktiv" not in await (await browser.get(f"/ui/clients/{person['id']}")).text()
    short = await browser.post(f"/ui/clients/{person['id']}/emergency", data={"csrf": csrf, "reason": "kort", "domain": "health"})
    assert short.status == 422
    opened = await browser.post(f"/ui/clients/{person['id']}/emergency",
                                data={"csrf": csrf, "reason": "Medvetslös patient, behöver läkemedelslistan", "domain": "health"})
    page = await opened.text()
    assert opened.status == 200 and "Nödåtkomst aktiv till" in page and 'class="banner"' in page


async def test_social_staff_are_not_offered_emergency_access(browser, tokens, api, db):
    """Emergency access is health care's road: no form for a social unit, and a forged post is refused and audited."""
    await api.unit("iof-norr")
    social = api.staff("iof-norr", sub="anna")
    person = await api.register(social)
    await api.relation(social, person["id"])
    csrf = await sign_in(browser, tokens, sub="anna", unit="iof-norr", roles=["staff"])
    page = await (await browser.get(f"/ui/clients/{person['id']}")).text()
    assert "/emergency" not in page and "Öppna nödåtkomst" not in page
    forged = await browser.post(f"/ui/clients/{person['id']}/emergency",
                                data={"csrf": csrf, "reason": "Medvetslös patient, behöver läkemedelslistan", "domain": "health"})
    assert forged.status == 403
    assert await db.fetchval("SELECT count(*) FROM emergency_grants") == 0
    assert await db.fetchval("SELECT reason_codes FROM audit_events WHERE action = 'emergency.open'") == ["emergency_not_permitted"]


async def test_sign_out_and_a_session_that_loses_its_unit_end_at_once(browser, tokens, api):
    await api.unit("iof-norr")
    csrf = await sign_in(browser, tokens, sub="anna", unit="iof-norr", roles=["staff"])
    assert (await browser.get("/ui/clients", allow_redirects=False)).status == 200
    response = await browser.patch("/v1/units/iof-norr", headers=api.admin, json={"active": False})
    assert response.status == 200
    ended = await browser.get("/ui/clients", allow_redirects=False)
    assert (ended.status, ended.headers["Location"]) == (303, "/ui/sign-in?expired=1")
    assert (await browser.get("/ui/clients", allow_redirects=False)).status == 303  # the token left the cookie
    await browser.patch("/v1/units/iof-norr", headers=api.admin, json={"active": True})
    csrf = await sign_in(browser, tokens, sub="anna", unit="iof-norr", roles=["staff"])
    out = await browser.post("/ui/sign-out", data={"csrf": csrf}, allow_redirects=False)
    assert (out.status, out.headers["Location"]) == (303, "/ui/sign-in")
    assert (await browser.get("/ui/clients", allow_redirects=False)).status == 303


async def test_an_auditor_records_a_verdict_through_the_page(browser, tokens, api, db):
    await api.unit("iof-norr")
    await api.unit("beroende", organisation="region-skane", domain="health")
    social, clinician = api.staff("iof-norr"), api.staff("beroende", sub="bertil")
    person = await api.register(social)
    for headers in (social, clinician):
        await api.relation(headers, person["id"])
    opened = await browser.post(f"/v1/clients/{person['id']}/emergency-access", headers=clinician,
                                json={"reason": "Medvetslös patient, behöver läkemedelslistan"})
    grant = (await opened.json())["id"]
    await sign_in(browser, tokens, sub="astrid", roles=["auditor"])
    page = await (await browser.get("/ui/audit/emergency-reviews")).text()
    assert "Medvetslös patient" in page and f"/ui/audit/emergency-reviews/{grant}" in page
    saved = await browser.post(f"/ui/audit/emergency-reviews/{grant}",
                               data={"csrf": csrf_of(page), "verdict": "justified", "comment": "Akut läge, rimligt"},
                               allow_redirects=False)
    assert saved.status == 303
    reviewed = await (await browser.get("/ui/audit/emergency-reviews?status=reviewed")).text()
    assert "Akut läge, rimligt" in reviewed and "befogad" in reviewed
    assert await db.fetchval("SELECT verdict FROM emergency_reviews WHERE grant_id = $1::text::uuid", grant) == "justified"


@pytest.mark.parametrize("title,status", [("x" * 201, 422), ("Rapport\u202egnp.exe", 422), ("ok\x07", 422), ("Bra titel", 303)])
async def test_the_upload_form_applies_the_apis_title_rules(browser, tokens, api, db, title, status):
    await api.unit("iof-norr")
    csrf = await sign_in(browser, tokens, sub="anna", unit="iof-norr", roles=["staff"])
    client_page = (await browser.post("/ui/clients", data={"csrf": csrf, "new_personal_number": "19121212-1212",
                                                           "name": "Tolvan"}, allow_redirects=False)).headers["Location"]
    await browser.post(f"{client_page}/relation", data={"csrf": csrf})
    form = aiohttp.FormData()
    for key, value in (("csrf", csrf), ("category", "assessment"), ("title", title)):
        form.add_field(key, value)
    form.add_field("file", files.pdf(), filename="u.pdf", content_type="application/pdf")
    response = await browser.post(f"{client_page}/documents", data=form, allow_redirects=False)
    assert response.status == status
    assert await db.fetchval("SELECT count(*) FROM documents") == (1 if status == 303 else 0)


async def test_a_broken_multipart_upload_is_an_error_page_not_a_crash(browser, tokens, api):
    await api.unit("iof-norr")
    csrf = await sign_in(browser, tokens, sub="anna", unit="iof-norr", roles=["staff"])
    response = await browser.post(f"/ui/clients/{uuid.uuid4()}/documents", data=b"--nope\r\ngarbage",
                                  headers={"Content-Type": "multipart/form-data; boundary=other"})
    assert response.status == 400 and response.content_type == "text/html"
    assert csrf


# --- Server-side sessions (#11 item 13): signing out ends the session, not just the browser's copy ---

def session_cookie(client) -> str:
    """The session cookie's value as the client holds it (what someone could copy from the browser)."""
    return next(morsel.value for morsel in client.session.cookie_jar if morsel.key == "brygga_session")


async def replay(client, cookie: str, path: str = "/ui/clients") -> aiohttp.ClientResponse:
    """GET `path` from a fresh browser that presents only `cookie` (a saved copy)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as other:
        response = await other.get(client.make_url(path), headers={"Cookie": f"brygga_session={cookie}"},
                                   allow_redirects=False)
        await response.read()
        return response


def sealed_cookie(client, payload: dict) -> str:
    """A cookie sealed with the service's own key ring, as only the service could make it."""
    sealed = client.server.app[RUNTIME].field_sealer.seal(json.dumps(payload), record="ui_session", record_id="cookie",
                                                    field="session")
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def opened_cookie(client, cookie: str) -> dict:
    sealed = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
    return json.loads(client.server.app[RUNTIME].field_sealer.open(sealed, record="ui_session", record_id="cookie",
                                                             field="session"))


async def test_a_cookie_saved_before_sign_out_opens_nothing_after_it(browser, tokens, api, db):
    await api.unit("iof-norr")
    csrf = await sign_in(browser, tokens, sub="anna", unit="iof-norr", roles=["staff"])
    client_page = (await browser.post("/ui/clients", data={"csrf": csrf, "new_personal_number": "19121212-1212",
                                                           "name": "Tolvan"}, allow_redirects=False)).headers["Location"]
    await browser.post(f"{client_page}/relation", data={"csrf": csrf})
    saved = session_cookie(browser)
    assert (await replay(browser, saved, client_page)).status == 200  # the copy works while the session lives
    reads = await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'client.read'")
    out = await browser.post("/ui/sign-out", data={"csrf": csrf}, allow_redirects=False)
    assert (out.status, out.headers["Location"]) == (303, "/ui/sign-in")
    for path in (client_page, "/ui/clients"):
        replayed = await replay(browser, saved, path)
        assert (replayed.status, replayed.headers.get("Location")) == (303, "/ui/sign-in?expired=1")
        cleared = replayed.cookies["brygga_session"].value
        assert cleared != saved and "s" not in opened_cookie(browser, cleared)  # an anonymous session replaces it
    forged_post = await browser.post(f"{client_page}/relation", data={"csrf": csrf}, allow_redirects=False,
                                     headers={"Cookie": f"brygga_session={saved}"})
    assert forged_post.status == 303 and forged_post.headers["Location"].startswith("/ui/sign-in")
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'client.read'") == reads  # no access
    assert await db.fetchval("SELECT count(*) FROM ui_sessions WHERE ended_at IS NOT NULL") == 1


async def test_a_session_unused_for_the_idle_time_is_over(settings, tokens, api, db):
    now = [datetime.now(UTC)]
    app = create_app(replace(settings, ui_session_idle_minutes=10), clock=lambda: now[0])
    async with TestClient(TestServer(app), cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        await api.unit("iof-norr")
        hours = int(time.time()) + 4 * 3600
        await sign_in(client, tokens, sub="anna", unit="iof-norr", roles=["staff"], exp=hours)
        for minutes in (9, 9, 9):  # idle counts from the last page, not from sign-in
            now[0] += timedelta(minutes=minutes)
            assert (await client.get("/ui/clients", allow_redirects=False)).status == 200
        saved = session_cookie(client)
        now[0] += timedelta(minutes=11)
        idle = await client.get("/ui/clients", allow_redirects=False)
        assert (idle.status, idle.headers["Location"]) == (303, "/ui/sign-in?expired=1")
        assert (await replay(client, saved)).status == 303  # over for every copy of the cookie
        assert await db.fetchval("SELECT last_seen_at FROM ui_sessions") == now[0] - timedelta(minutes=11)


async def test_a_tampered_unknown_or_old_style_cookie_is_signed_out(browser, tokens, api):
    await api.unit("iof-norr")
    await sign_in(browser, tokens, sub="anna", unit="iof-norr", roles=["staff"])
    genuine = session_cookie(browser)
    tampered = genuine[:20] + ("A" if genuine[20] != "A" else "B") + genuine[21:]
    response = await replay(browser, tampered)
    assert (response.status, response.headers["Location"]) == (303, "/ui/sign-in")
    assert response.cookies["brygga_session"].value not in (tampered, genuine)
    unknown = sealed_cookie(browser, {"c": "x" * 43, "l": "sv", "s": base64.urlsafe_b64encode(os.urandom(32)).decode()})
    response = await replay(browser, unknown)
    assert (response.status, response.headers["Location"]) == (303, "/ui/sign-in?expired=1")
    # the stateless cookie of before, a valid token inside, sealed by the service itself: no longer a session
    old = sealed_cookie(browser, {"c": "x" * 43, "l": "sv", "e": int(time.time()) + 600,
                                  "t": tokens(sub="anna", unit="iof-norr", roles=["staff"])})
    response = await replay(browser, old)
    assert (response.status, response.headers["Location"]) == (303, "/ui/sign-in?expired=1")
    assert (await browser.get("/ui/clients", allow_redirects=False)).status == 200  # the genuine session lives on


async def test_the_database_holds_no_session_id_and_no_readable_token(browser, tokens, api, db):
    await api.unit("iof-norr")
    token = tokens(sub="anna", unit="iof-norr", roles=["staff"])
    html = await (await browser.get("/ui/sign-in")).text()
    await browser.post("/ui/sign-in", data={"csrf": csrf_of(html), "token": token}, allow_redirects=False)
    contents = opened_cookie(browser, session_cookie(browser))
    assert set(contents) == {"c", "l", "s"}  # the cookie: CSRF secret, language, session id; no token
    sid = base64.urlsafe_b64decode(contents["s"] + "=" * (-len(contents["s"]) % 4))
    assert len(sid) == 32
    row = await db.fetchrow("SELECT * FROM ui_sessions")
    assert bytes(row["id_hash"]) == hashlib.sha256(sid).digest()
    assert (row["sub"], row["unit"], row["ended_at"]) == ("anna", "iof-norr", None)
    dump = (await db.fetchval("SELECT string_agg(t::text, '') FROM ui_sessions t")).lower()
    for secret in (sid.hex(), contents["s"].lower(), token.lower(), token.split(".")[1].lower()):
        assert secret not in dump
    assert sid not in bytes(row["token_sealed"]) and token.encode() not in bytes(row["token_sealed"])


async def test_sessions_under_the_application_role_and_old_ones_cleaned_up(pg_server_dsn, database_url, settings,
                                                                          tokens, api, db):
    name = f"svc_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(pg_server_dsn)
    try:
        await admin.execute(f"CREATE ROLE {name} LOGIN IN ROLE brygga_app")
    finally:
        await admin.close()
    now = [datetime.now(UTC)]
    app = create_app(replace(settings, database_url=with_user(database_url, name)), clock=lambda: now[0])
    async with TestClient(TestServer(app), cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        await api.unit("iof-norr")
        csrf = await sign_in(client, tokens, sub="anna", unit="iof-norr", roles=["staff"], exp=int(time.time()) + 3 * 86400)
        assert (await client.post("/ui/sign-out", data={"csrf": csrf}, allow_redirects=False)).status == 303
        await sign_in(client, tokens, sub="bertil", unit="iof-norr", roles=["staff"], exp=int(time.time()) + 3 * 86400)
        assert [r["sub"] for r in await db.fetch("SELECT sub FROM ui_sessions ORDER BY created_at")] == ["anna", "bertil"]
        now[0] += timedelta(hours=25)  # anna's ended a day ago, bertil's idle as long: both go at the next sign-in
        await sign_in(client, tokens, sub="cecilia", unit="iof-norr", roles=["staff"], exp=int(time.time()) + 3 * 86400)
        assert [r["sub"] for r in await db.fetch("SELECT sub FROM ui_sessions")] == ["cecilia"]
    login = await asyncpg.connect(with_user(database_url, name))
    try:  # the service may mark sessions seen and ended, nothing else of a row
        assert await login.fetchval("SELECT has_column_privilege('ui_sessions', 'ended_at', 'UPDATE')") is True
        assert await login.fetchval("SELECT has_column_privilege('ui_sessions', 'token_sealed', 'UPDATE')") is False
        assert await login.fetchval("SELECT has_column_privilege('ui_sessions', 'id_hash', 'UPDATE')") is False
    finally:
        await login.close()


async def test_the_development_sign_in_exists_only_with_brygga_dev(settings, tmp_path):
    """Without BRYGGA_DEV=1 and without BRYGGA_JWKS the app does not start (no key anyone could sign in with);
    with BRYGGA_JWKS the form takes only a token; with BRYGGA_DEV=1 and no JWKS the form mints one."""
    from service.settings import SettingsError

    with pytest.raises(SettingsError, match="^BRYGGA_JWKS"):
        async with TestClient(TestServer(create_app(replace(settings, jwks_path=None)))):
            pass
    assert not (settings.data_dir / "dev").exists()

    async with TestClient(TestServer(create_app(replace(settings, dev=True))),
                          cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:  # BRYGGA_JWKS wins over BRYGGA_DEV
        html = await (await client.get("/ui/sign-in")).text()
        assert 'name="sub"' not in html
        minted = await client.post("/ui/sign-in", data={"csrf": csrf_of(html), "sub": "admin-1", "role_admin": "on"},
                                   allow_redirects=False)
        assert minted.status == 401

    dev = replace(settings, jwks_path=None, keyring_path=None, dev=True, data_dir=tmp_path / "dev-var")
    async with TestClient(TestServer(create_app(dev)), cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        html = await (await client.get("/ui/sign-in")).text()
        assert 'name="sub"' in html
        minted = await client.post("/ui/sign-in", data={"csrf": csrf_of(html), "sub": "admin-1", "role_admin": "on"},
                                   allow_redirects=False)
        assert (minted.status, minted.headers["Location"]) == (303, "/ui/")


async def test_the_holding_unit_confirms_a_waiting_consent_on_the_consents_page(browser, tokens, api, db):
    """The clinic records a consent from social services: it waits, and social services see and confirm it."""
    await api.unit("iof-norr")
    await api.unit("beroende", organisation="region-skane", domain="health")
    social, clinician = api.staff("iof-norr", sub="anna"), api.staff("beroende", sub="bertil")
    person = await api.register(social)
    for headers in (social, clinician):
        await api.relation(headers, person["id"])
    body = {"from": {"organisation": "malmo-stad", "domain": "social"},
            "to": {"organisation": "region-skane", "domain": "health", "unit": None}, "categories": ["assessment"],
            "purposes": ["care"], "valid_until": (datetime.now().astimezone() + timedelta(days=30)).isoformat(),
            "given_by": "client", "form": "verbal"}
    recorded = await browser.post(f"/v1/clients/{person['id']}/consents", headers=clinician, json=body)
    consent_id = (await recorded.json())["id"]
    page_path = f"/ui/clients/{person['id']}/consents"

    # The receiving zone sees it waiting, in words, without a button.
    await sign_in(browser, tokens, sub="bertil", unit="beroende", roles=["staff"])
    page = await (await browser.get(page_path)).text()
    assert "status-awaiting_confirmation" in page and "Väntar på bekräftelse" in page
    assert f"/ui/consents/{consent_id}/confirm" not in page and "väntar på zonen som har uppgifterna" in page

    # The holding zone sees it with the button, and a notice.
    csrf = await sign_in(browser, tokens, sub="anna", unit="iof-norr", roles=["staff"])
    page = await (await browser.get(page_path)).text()
    assert f'action="/ui/consents/{consent_id}/confirm"' in page and "väntar på er bekräftelse" in page
    refused = await browser.post(f"/ui/consents/{consent_id}/confirm", data={"csrf": "forged"})
    assert refused.status == 403
    assert await db.fetchval("SELECT confirmed_at FROM consents WHERE id = $1", uuid.UUID(consent_id)) is None
    await browser.post("/ui/language", data={"csrf": csrf, "lang": "en", "back": page_path})
    english = await (await browser.get(page_path)).text()
    assert "Awaiting confirmation" in english and ">Confirm</button>" in english
    confirmed = await browser.post(f"/ui/consents/{consent_id}/confirm", data={"csrf": csrf}, allow_redirects=False)
    assert (confirmed.status, confirmed.headers["Location"]) == (303, page_path)
    page = await (await browser.get(page_path)).text()
    assert "status-active" in page and f"/ui/consents/{consent_id}/confirm" not in page
    assert await db.fetchval("SELECT confirmed_by FROM consents WHERE id = $1", uuid.UUID(consent_id)) == "anna"
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'consent.confirm' AND decision = 'allow'") == 1


async def test_the_web_interface_refuses_what_the_api_refuses_instead_of_cutting_it(browser, tokens, api, client, db):
    """A revocation reason or a verdict's comment over the API's limit is refused with 422, nothing recorded; it
    was cut to fit and stored shortened. A form field before an upload's file is refused the same way."""
    person, consent, grant = await _two_zones(api, client, consent_by="iof")
    csrf = await sign_in(browser, tokens, sub="anna", unit="iof-norr", roles=["staff"])
    consent_id = consent["id"]
    revoked = await browser.post(f"/ui/consents/{consent_id}/revoke", data={"csrf": csrf, "reason": "x" * 1001})
    assert revoked.status == 422
    assert await db.fetchval("SELECT revoked_at FROM consents WHERE id = $1", uuid.UUID(consent_id)) is None
    upload = aiohttp.FormData([("csrf", csrf), ("category", "assessment"), ("title", "T" * 1500)])
    upload.add_field("file", files.pdf(800), filename="a.pdf", content_type="application/pdf")
    refused = await browser.post(f"/ui/clients/{person}/documents", data=upload)
    assert refused.status == 422 and await db.fetchval("SELECT count(*) FROM documents") == 0
    await browser.post("/ui/sign-out", data={"csrf": csrf})
    await sign_in(browser, tokens, sub="auditor-1", roles=["auditor"], organisations=["region-skane"])
    page = await browser.get("/ui/audit/emergency-reviews")
    reviewed = await browser.post(f"/ui/audit/emergency-reviews/{grant['id']}",
                                  data={"csrf": csrf_of(await page.text()), "verdict": "justified",
                                        "comment": "y" * 2001})
    assert reviewed.status == 422
    assert await db.fetchval("SELECT count(*) FROM emergency_reviews") == 0


async def test_the_auditors_filters_follow_the_apis_rules(browser, tokens, api, client):
    """One parser for the API's and the form's filters (service/http/filters.py): what the API refuses the page
    refuses (it ignored a bad decision and flag, and let until come before since), what a form sends it reads."""
    await sign_in(browser, tokens, sub="astrid", roles=["auditor"])
    auditor = tokens.auth(sub="astrid", roles=["auditor"])
    for form_query, api_query in (({"decision": "maybe"}, {"decision": "maybe"}),
                                  ({"flagged": "perhaps"}, {"flagged": "perhaps"}),
                                  ({"actor": "a\x00b"}, {"actor": "a\x00b"}),
                                  ({"since": "2026-11-25T10:00", "until": "2026-11-25T09:00"},
                                   {"since": "2026-11-25T10:00:00+01:00", "until": "2026-11-25T09:00:00+01:00"})):
        assert (await browser.get("/ui/audit/events", params=form_query)).status == 422, form_query
        assert (await client.get("/v1/audit/events", headers=auditor, params=api_query)).status == 422, api_query
    fine = await browser.get("/ui/audit/events", params={"decision": "", "flagged": "yes", "since": "2026-11-25T09:00",
                                                          "client_id": "", "actor": ""})
    assert fine.status == 200


async def test_the_disclosure_form_refuses_what_the_api_refuses_and_writes_nothing(browser, tokens, api, client, db):
    await api.unit("iof-norr")
    await api.unit("beroende", organisation="region-skane", domain="health")
    csrf = await sign_in(browser, tokens, sub="anna", unit="iof-norr", roles=["staff"])
    staff = api.staff("iof-norr", sub="anna")
    person = (await api.register(staff, "20121212-1212", "Ung Person"))["id"]
    await api.relation(staff, person)
    form = aiohttp.FormData()
    form.add_field("metadata", '{"category": "statement", "title": "Utlåtande"}', content_type="application/json")
    form.add_field("file", files.pdf(), filename="u.pdf", content_type="application/pdf")
    document = await (await client.post(f"/v1/clients/{person}/documents", headers=staff, data=form)).json()
    refused = await browser.post(f"/ui/clients/{person}/disclosures", data={
        "csrf": csrf, "to_unit": "beroende", "ground": "under_18", "need": "för kort", "document_ids": document["id"]})
    assert refused.status == 422
    page = await refused.text()
    assert 'role="alert"' in page and "20" in page and "Utlämna utan samtycke" in page
    assert await db.fetchval("SELECT count(*) FROM disclosures") == 0
    made = await browser.post(f"/ui/clients/{person}/disclosures", allow_redirects=False, data={
        "csrf": csrf, "to_unit": "beroende", "ground": "under_18",
        "need": "Beroendevården behöver utlåtandet för behandlingen.", "document_ids": document["id"]})
    assert made.status == 303
    assert await db.fetchval("SELECT count(*) FROM disclosures") == 1


async def test_a_relation_opened_through_the_page_says_its_kind_and_why(browser, tokens, api, db):
    await api.unit("iof-norr")
    csrf = await sign_in(browser, tokens, sub="anna", unit="iof-norr", roles=["staff"])
    client_page = (await browser.post("/ui/clients", data={"csrf": csrf, "new_personal_number": "19121212-1212",
                                                           "name": "Tolvan"}, allow_redirects=False)).headers["Location"]
    page = await (await browser.get(client_page)).text()
    assert 'name="kind"' in page and "PDL 4 kap. 1 §" in page
    too_long = await browser.post(f"{client_page}/relation", data={"csrf": csrf, "kind": "sip", "reason": "x" * 501})
    assert too_long.status == 422 and await db.fetchval("SELECT count(*) FROM relations") == 0
    opened = await browser.post(f"{client_page}/relation", allow_redirects=False,
                                data={"csrf": csrf, "kind": "sip", "reason": "Samordnad plan med beroendevården"})
    assert opened.status == 303
    assert await db.fetchval("SELECT kind FROM relations") == "sip"
    event = await db.fetchval("SELECT reason_codes FROM audit_events WHERE action = 'relation.open' AND decision = 'allow'")
    assert list(event) == ["relation_kind:sip", "relation_reason:stated"]
