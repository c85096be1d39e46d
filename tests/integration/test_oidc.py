"""OpenID Connect against a real OpenID provider (npm oidc-provider on Node, started here; tests/oidc_provider.py).

Brygga finds the provider's keys through its discovery document, maps its claims (HSA-id as the user, groups
through BRYGGA_ROLE_MAP), follows its key rotation while running, keeps its keys while it is down, and signs
a browser in by authorization code with PKCE, state and nonce; the attacks on that flow are refused.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import math
import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import aiohttp
import jwt
import pytest
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization

from service.app import create_app
from service.http.context import RUNTIME
from service.oidc import REFRESH_MIN_SECONDS, IssuerKeys
from tests.oidc_provider import SKIP_REASON, WEB_CLIENT, WEB_SECRET, Provider, api_client, basic, free_port, signing_key, web_client

pytestmark = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")

ADMIN, STAFF, UNMAPPED = "api-admin", "api-staff", "api-unmapped"
ROLE_MAP = (("brygga-admin", ("admin",)), ("brygga-staff", ("staff",)), ("brygga-chefer", ("staff", "unit_manager")),
            ("brygga-invanare", ("client",)))
PERSONAL_NUMBER = "19121212-1212"
UNIT = "malmo-iof"


def _whole(seconds: float) -> float:
    """The next whole second: the tests then move the clock by whole seconds and compare exactly. From a
    fractional start, (t + 30) + 3600 - (t + 30) is 3600 less a rounding error for about one start in six, and a
    set exactly an hour old counted as younger (a test that failed now and then)."""
    return float(math.ceil(seconds))


class Clock:
    """The key cache's monotonic clock, moved by hand: the tests cannot wait 30 s for a refetch."""

    def __init__(self) -> None:
        self.now = _whole(time.monotonic())  # where the real one stood at the first fetch

    def __call__(self) -> float:
        return self.now


class Oidc:
    """A provider and a Brygga trusting it (its issuer, its web client, HSA-id as sub, groups as roles)."""

    def __init__(self, provider: Provider, server: TestServer, clock: Clock) -> None:
        self.provider, self.server, self.clock = provider, server, clock

    @property
    def keys(self) -> IssuerKeys:
        source = self.server.app[RUNTIME].verifier.source
        assert isinstance(source, IssuerKeys)
        return source

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def call(self, token: str, path: str = "/v1/units", method: str = "GET", **kwargs) -> tuple[int, dict]:
        async with aiohttp.ClientSession() as http, http.request(
                method, self.url(path), headers={"Authorization": f"Bearer {token}"}, **kwargs) as response:
            return response.status, await response.json(content_type=None)

    async def token(self, client_id: str) -> str:
        return await self.provider.access_token(client_id, f"{client_id}-secret")


@pytest.fixture
async def oidc(settings, tmp_path):
    async with serving(settings, tmp_path) as oidc:
        yield oidc


@contextlib.asynccontextmanager
async def serving(settings, tmp_path, port: int | None = None, **changes) -> AsyncIterator[Oidc]:
    """A provider and a Brygga (on `port`) trusting it, `changes` made to Brygga's settings (the provider's access
    tokens are for Brygga's audience, BRYGGA_JWT_AUDIENCE)."""
    port = port or free_port()
    audience = changes.get("jwt_audience", settings.jwt_audience)
    provider = Provider(tmp_path, audience, [signing_key("key-1")], clients=[
        web_client(f"http://127.0.0.1:{port}"),
        api_client(ADMIN, {"hsa_id": "SE2321000016-ADM1", "groups": ["brygga-admin"]}),
        api_client(STAFF, {"hsa_id": "SE2321000016-STF1", "groups": ["brygga-staff", "other-group"], "unit": UNIT}),
        api_client(UNMAPPED, {"hsa_id": "SE2321000016-UNM1", "groups": ["admin"]}),  # a role's name, not mapped
    ], accounts={
        "anna": {"hsa_id": "SE2321000016-ANNA", "name": "Anna Andersson", "groups": ["brygga-staff"], "unit": UNIT},
        "mallory": {"hsa_id": "SE2321000016-MALL", "name": "Mallory", "groups": ["brygga-staff"], "unit": UNIT},
        "ghost": {"hsa_id": "SE2321000016-GHST", "groups": ["brygga-staff"], "unit": "no-such-unit"},
        "tolvan": {"groups": ["brygga-invanare"], "personal_number": PERSONAL_NUMBER},  # a citizen: no HSA-id
    })
    await provider.start()
    brygga = replace(settings, **{**dict(
        jwks_path=None, oidc_issuer=provider.issuer, oidc_client_id=WEB_CLIENT, oidc_client_secret=WEB_SECRET,
        oidc_scopes="openid profile brygga", claim_sub="hsa_id", claim_roles="groups", role_map=ROLE_MAP,
        claim_personal_number="personal_number"), **changes})
    server = TestServer(create_app(brygga), host="127.0.0.1", port=port)
    clock = Clock()
    try:
        await server.start_server()
        oidc = Oidc(provider, server, clock)
        clock.now = _whole(time.monotonic())  # at or after the first fetch
        oidc.keys.clock = clock
        status, _ = await oidc.call(await oidc.token(ADMIN), "/v1/units", "POST",
                                    json={"id": UNIT, "name": "IFO Malmö", "organisation": "malmo-stad", "domain": "social"})
        assert status == 201
        yield oidc
    finally:
        await server.close()
        await provider.stop()


# --- tokens for the API -------------------------------------------------------------------------------------------

async def test_keys_come_from_discovery_and_claims_are_mapped(oidc, db):
    """The provider's access tokens open the API: the HSA-id claim is the actor, a mapped group the role, an unmapped
    group (even one named like a role) grants nothing."""
    assert oidc.keys.discovery is not None and oidc.keys.discovery.jwks_uri == f"{oidc.provider.issuer}/jwks"
    assert sorted(oidc.keys.keys) == ["key-1"]
    staff = await oidc.token(STAFF)
    status, body = await oidc.call(staff, "/v1/clients", "POST",
                                   json={"personal_number": "19121212-1212", "name": "Tolvan Tolvansson"})
    assert status == 201, body
    actor = await db.fetchrow("SELECT actor_sub, actor_roles, actor_unit FROM audit_events WHERE action = 'client.register'")
    assert (actor["actor_sub"], list(actor["actor_roles"]), actor["actor_unit"]) == ("SE2321000016-STF1", ["staff"], UNIT)
    status, body = await oidc.call(await oidc.token(UNMAPPED))
    assert (status, body["code"]) == (401, "invalid_token")
    assert "no Brygga role" in body["detail"]


async def test_a_token_of_another_issuer_is_refused(oidc, tmp_path):
    """Another provider (same audience, even the same kid) is not ours: its tokens are refused."""
    other = Provider(tmp_path, oidc.provider.audience, [signing_key("key-1")],
                     clients=[api_client(ADMIN, {"hsa_id": "SE2321000016-ADM1", "groups": ["brygga-admin"]})])
    await other.start()
    try:
        token = await other.access_token(ADMIN, f"{ADMIN}-secret")
    finally:
        await other.stop()
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == other.issuer
    status, body = await oidc.call(token)
    assert (status, body["code"]) == (401, "invalid_token")
    assert status == 401 and (await oidc.call(await oidc.token(ADMIN)))[0] == 200


def _forged(header: dict, claims: dict, sign) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


async def test_algorithm_swaps_are_refused(oidc):
    """`alg: none` and HS256 keyed with the provider's published public key (algorithm confusion), each under the
    provider's own kid and with claims copied from a real token: refused before any signature check."""
    real = await oidc.token(ADMIN)
    claims = jwt.decode(real, options={"verify_signature": False})
    published = oidc.keys.keys["key-1"]
    pem = published.key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    async with aiohttp.ClientSession() as http, http.get(oidc.keys.discovery.jwks_uri) as response:
        jwk_json = json.dumps((await response.json())["keys"][0]).encode()
    forgeries = [
        _forged({"alg": "none", "kid": "key-1", "typ": "at+jwt"}, claims, lambda _: b""),
        _forged({"alg": "HS256", "kid": "key-1"}, claims, lambda data: hmac.new(pem, data, hashlib.sha256).digest()),
        _forged({"alg": "HS256", "kid": "key-1"}, claims, lambda data: hmac.new(jwk_json, data, hashlib.sha256).digest()),
        _forged({"alg": "HS256"}, claims, lambda data: hmac.new(pem, data, hashlib.sha256).digest()),
    ]
    for forged in forgeries:
        status, body = await oidc.call(forged)
        assert (status, body["code"]) == (401, "invalid_token"), body
    assert (await oidc.call(real))[0] == 200


# --- the provider's keys over time -------------------------------------------------------------------------------

async def test_key_rotation_at_the_provider_while_brygga_runs(oidc):
    """A new kid is fetched (at most once in 30 s, however many tokens name unknown kids); a removed key stops
    working once the set is fetched again, even for a token Brygga had verified before."""
    old = await oidc.token(ADMIN)
    assert (await oidc.call(old))[0] == 200
    key_2 = signing_key("key-2")
    await oidc.provider.restart([key_2, *oidc.provider.keys])  # key-2 signs from now on, key-1 still published
    new = await oidc.token(ADMIN)
    assert jwt.get_unverified_header(new)["kid"] == "key-2"
    fetches = oidc.keys.fetches
    status, body = await oidc.call(new)  # fetched at start less than 30 s ago: not yet
    assert (status, body["code"]) == (401, "invalid_token") and oidc.keys.fetches == fetches

    oidc.clock.now += REFRESH_MIN_SECONDS
    assert (await oidc.call(new))[0] == 200  # unknown kid, 30 s on: fetched, found
    assert oidc.keys.fetches == fetches + 1 and sorted(oidc.keys.keys) == ["key-1", "key-2"]
    for kid in ("made-up-1", "made-up-2", "made-up-3"):  # unknown kids within 30 s: no fetch at all
        header = {"alg": "ES256", "kid": kid}
        assert (await oidc.call(_forged(header, {"iss": oidc.provider.issuer}, lambda _: b"x" * 64)))[0] == 401
    assert oidc.keys.fetches == fetches + 1
    assert (await oidc.call(old))[0] == 200  # remembered, its key still published

    await oidc.provider.restart([key_2])  # key-1 withdrawn
    oidc.clock.now += 3600  # the set's age: fetched again at the next token
    assert (await oidc.call(new))[0] == 200
    assert sorted(oidc.keys.keys) == ["key-2"]
    status, body = await oidc.call(old)
    assert (status, body["code"]) == (401, "invalid_token")
    assert "unknown" in body["detail"]


async def test_the_last_good_keys_are_kept_while_the_provider_is_down(oidc, caplog):
    token = await oidc.token(ADMIN)
    await oidc.provider.stop()
    oidc.clock.now += 3600 + REFRESH_MIN_SECONDS
    fetches = oidc.keys.fetches
    with caplog.at_level(logging.WARNING, logger="brygga.oidc"):
        assert (await oidc.call(token))[0] == 200
    assert oidc.keys.fetches == fetches + 1 and sorted(oidc.keys.keys) == ["key-1"]
    assert "keeping the last good set (1 keys)" in caplog.text


# --- the web sign-in ---------------------------------------------------------------------------------------------

class Browser:
    """A cookie jar that follows redirects by hand, so a test can stop at (and tamper with) each step."""

    def __init__(self, oidc: Oidc, *, tls: bool = False) -> None:
        """`tls`: Brygga stands behind a TLS proxy (BRYGGA_SECURE_COOKIES=always), so the browser believes it
        speaks HTTPS and sends Secure cookies."""
        self.oidc = oidc
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(  # cookies for 127.0.0.1
            unsafe=True, treat_as_secure_origin=oidc.url("/") if tls else None))

    async def close(self) -> None:
        await self.http.close()

    async def get(self, url: str) -> tuple[int, str, str | None]:
        async with self.http.get(url, allow_redirects=False) as response:
            return response.status, await response.text(), response.headers.get("Location")

    async def authorization_request(self) -> str:
        """Brygga's redirect to the provider (state, nonce, PKCE challenge in it)."""
        status, _, location = await self.get(self.oidc.url("/ui/oidc/start"))
        assert status == 303 and location is not None and location.startswith(self.oidc.provider.issuer)
        return location

    async def login_at_provider(self, authorize: str, login: str = "anna") -> str:
        """Through the provider's login page; returns the callback URL it sends the browser to (not followed)."""
        url = authorize
        for _ in range(10):
            status, text, location = await self.get(url)
            if status in (302, 303) and location is not None:
                url = location if location.startswith("http") else self.oidc.provider.issuer + location
                if url.startswith(self.oidc.url("/ui/oidc/callback")):
                    return url
                continue
            action = re.search(r'action="([^"]+)"', text)
            assert status == 200 and action is not None, text[:500]
            async with self.http.post(self.oidc.provider.issuer + action.group(1) if action.group(1).startswith("/")
                                      else action.group(1), allow_redirects=False,
                                      data={"prompt": "login", "login": login, "password": "x"}) as response:
                assert response.status in (302, 303), await response.text()
                location = response.headers["Location"]
                url = location if location.startswith("http") else self.oidc.provider.issuer + location
            if url.startswith(self.oidc.url("/ui/oidc/callback")):
                return url
        raise AssertionError("the provider never sent the browser back")

    async def sign_out_at_provider(self, end_session: str) -> str:
        """Through the provider's end-session page (it asks to confirm); returns where it sends the browser."""
        status, text, _ = await self.get(end_session)
        assert status == 200, text[:500]
        form = re.search(r'<form[^>]*action="([^"]+)"', text)
        fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', text))
        assert form is not None and "xsrf" in fields, text[:500]
        action = form.group(1) if form.group(1).startswith("http") else self.oidc.provider.issuer + form.group(1)
        async with self.http.post(action, data={**fields, "logout": "yes"}, allow_redirects=False) as response:
            assert response.status in (302, 303), await response.text()
            location = response.headers["Location"]
        for _ in range(5):  # the provider's own redirects, if any, until it sends the browser elsewhere
            url = location if location.startswith("http") else self.oidc.provider.issuer + location
            if not url.startswith(self.oidc.provider.issuer):
                return url
            status, _, next_location = await self.get(url)
            assert status in (302, 303) and next_location is not None, f"the provider kept the browser at {url}"
            location = next_location
        raise AssertionError("the provider never let the browser go")

    async def signed_in(self) -> bool:
        status, _, location = await self.get(self.oidc.url("/ui/clients"))
        return status == 200


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    return urlunsplit(parts._replace(query=urlencode({**query, **changes})))


@pytest.fixture
async def browser(oidc):
    browser = Browser(oidc)
    yield browser
    await browser.close()


def _refusals(caplog) -> list[str]:
    return [record.refusal for record in caplog.records if hasattr(record, "refusal")]


async def test_sign_in_by_code_with_pkce_state_and_nonce_then_sign_out_ends_the_session(oidc, browser):
    authorize = await browser.authorization_request()
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["client_id"] == [WEB_CLIENT]
    assert all(len(query[name][0]) >= 43 for name in ("state", "nonce", "code_challenge"))
    assert not await browser.signed_in()
    callback = await browser.login_at_provider(authorize)
    status, text, _ = await browser.get(callback)
    assert status == 200 and 'http-equiv="refresh" content="0;url=/ui/"' in text
    assert await browser.signed_in()
    status, text, _ = await browser.get(oidc.url("/ui/clients"))
    assert "Anna Andersson" in text

    saved = {cookie.key: cookie.value for cookie in browser.http.cookie_jar}
    csrf = re.search(r'name="csrf" value="([^"]+)"', text).group(1)
    async with browser.http.post(oidc.url("/ui/sign-out"), data={"csrf": csrf}, allow_redirects=False) as response:
        assert response.status == 200  # on to the provider, to end its session too (RP-initiated logout)
        onward = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', await response.text()).group(1)
        location = urlsplit(onward.replace("&amp;", "&"))
    assert f"{location.scheme}://{location.netloc}{location.path}" == oidc.keys.discovery.end_session_endpoint
    # No token in the URL (a browser's history and every access log keep it: insider attack 11): the client id
    # names us, and the provider takes the registered post-logout redirect URI on it.
    assert parse_qs(location.query) == {"client_id": [WEB_CLIENT], "post_logout_redirect_uri": [oidc.url("/ui/sign-in")]}
    assert "eyJ" not in onward
    assert not await browser.signed_in()
    assert await browser.sign_out_at_provider(onward.replace("&amp;", "&")) == oidc.url("/ui/sign-in")
    url = await browser.authorization_request()  # the provider's session is over: its login page, not a callback
    for _ in range(5):
        status, text, location = await browser.get(url)
        if status not in (302, 303) or location is None or location.startswith(oidc.url("/")):
            break
        url = location if location.startswith("http") else oidc.provider.issuer + location
    assert status == 200 and 'name="login"' in text, (status, location)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as thief:  # the saved cookie
        thief.cookie_jar.update_cookies({"brygga_session": saved["brygga_session"]}, response_url=oidc.server.make_url("/ui/"))
        async with thief.get(oidc.url("/ui/clients"), allow_redirects=False) as response:
            assert (response.status, response.headers["Location"]) == (303, "/ui/sign-in?expired=1")


async def test_a_wrong_state_is_refused(oidc, browser, caplog):
    callback = await browser.login_at_provider(await browser.authorization_request())
    with caplog.at_level(logging.WARNING, logger="brygga.ui.oidc"):
        status, text, _ = await browser.get(_with_query(callback, state="an-attacker-s-state"))
    assert status == 400 and "state stämmer inte" in text
    assert _refusals(caplog) == ["state_mismatch"]
    assert not await browser.signed_in()
    status, text, _ = await browser.get(callback)  # the login cookie went with the refusal: the real one is late too
    assert status == 400 and not await browser.signed_in()


async def test_a_replayed_code_is_refused(oidc, browser, caplog):
    callback = await browser.login_at_provider(await browser.authorization_request())
    login_cookie = next(cookie.value for cookie in browser.http.cookie_jar if cookie.key == "brygga_oidc")
    assert (await browser.get(callback))[0] == 200 and await browser.signed_in()
    with caplog.at_level(logging.WARNING, logger="brygga.ui.oidc"):
        status, text, _ = await browser.get(callback)  # the same browser: its login is over
        assert status == 400
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as thief:  # URL and cookie both
            thief.cookie_jar.update_cookies({"brygga_oidc": login_cookie},
                                            response_url=oidc.server.make_url("/ui/oidc/callback"))
            async with thief.get(callback, allow_redirects=False) as response:
                assert response.status == 401 and "redan använd" in await response.text()
            async with thief.get(oidc.url("/ui/clients"), allow_redirects=False) as response:
                assert response.status == 303
    assert _refusals(caplog) == ["no_login", "code_refused"]


async def test_a_wrong_nonce_is_refused(oidc, browser, caplog):
    """An ID token minted for another login (here: the authorization request's nonce swapped on its way to the
    provider) is refused even though state and the PKCE verifier are right."""
    authorize = _with_query(await browser.authorization_request(), nonce="a-nonce-of-another-login-0123456789abcdef")
    callback = await browser.login_at_provider(authorize)
    with caplog.at_level(logging.WARNING, logger="brygga.ui.oidc"):
        status, text, _ = await browser.get(callback)
    assert status == 401 and "nonce stämmer inte" in text
    assert _refusals(caplog) == ["nonce_mismatch"] and not await browser.signed_in()


async def test_an_intercepted_code_without_the_verifier_is_refused(oidc, browser, caplog):
    """PKCE: a code redeemed by another browser's login (its own state, its own verifier) is refused by the provider."""
    victim = Browser(oidc)
    try:
        stolen = parse_qs(urlsplit(await victim.login_at_provider(await victim.authorization_request())).query)["code"][0]
    finally:
        await victim.close()
    attacker_state = parse_qs(urlsplit(await browser.authorization_request()).query)["state"][0]
    with caplog.at_level(logging.WARNING, logger="brygga.ui.oidc"):
        status, _, _ = await browser.get(oidc.url("/ui/oidc/callback?" + urlencode({"code": stolen, "state": attacker_state})))
    assert status == 401 and _refusals(caplog) == ["code_refused"] and not await browser.signed_in()


async def test_a_planted_login_cookie_signs_no_one_in_as_its_planter(settings, tmp_path, caplog):
    """Insider attack 11, finding 2 (login CSRF): Mallory starts a sign-in, logs in at the provider as herself and
    stops before the callback; she plants her login cookie in the victim's browser and sends it to her callback
    URL. Over TLS the login cookie is `__Host-brygga_oidc` (Secure, Path=/, no Domain), which neither a sibling
    subdomain nor a plain-HTTP answer can set: the name they can set is not read, and the victim stays Anna."""
    port = free_port()  # behind the proxy the redirect URI is set (here: the test's plain-HTTP origin)
    async with serving(settings, tmp_path, port, secure_cookies="always",
                       oidc_redirect_uri=f"http://127.0.0.1:{port}/ui/oidc/callback") as oidc:
        mallory, victim = Browser(oidc, tls=True), Browser(oidc, tls=True)
        try:
            callback = await mallory.login_at_provider(await mallory.authorization_request(), login="mallory")
            login = next(cookie for cookie in mallory.http.cookie_jar if "brygga_oidc" in cookie.key)
            assert (await victim.get(await victim.login_at_provider(await victim.authorization_request())))[0] == 200
            assert "Anna Andersson" in (await victim.get(oidc.url("/ui/clients")))[1]

            victim.http.cookie_jar.update_cookies({"brygga_oidc": login.value},  # what an attacker can plant
                                                  response_url=oidc.server.make_url("/ui/oidc/callback"))
            with caplog.at_level(logging.WARNING, logger="brygga.ui.oidc"):
                status, _, _ = await victim.get(callback)
            assert status == 400 and _refusals(caplog) == ["no_login"]
            status, text, _ = await victim.get(oidc.url("/ui/clients"))
            assert status == 200 and "Anna Andersson" in text and "Mallory" not in text

            assert (login.key, login["path"], bool(login["secure"])) == ("__Host-brygga_oidc", "/", True)
            async with aiohttp.ClientSession() as http, http.get(oidc.url("/ui/oidc/start"), allow_redirects=False) as r:
                sent = [value for value in r.headers.getall("Set-Cookie") if "brygga_oidc" in value]
            assert len(sent) == 1 and "domain" not in sent[0].lower()
        finally:
            await mallory.close()
            await victim.close()


async def test_a_signed_in_user_of_an_unknown_unit_is_refused_and_audited(oidc, browser, db, caplog):
    callback = await browser.login_at_provider(await browser.authorization_request(), login="ghost")
    with caplog.at_level(logging.WARNING, logger="brygga.ui.oidc"):
        status, text, _ = await browser.get(callback)
    assert status == 401 and _refusals(caplog) == ["unknown_unit"] and not await browser.signed_in()
    row = await db.fetchrow("SELECT actor_sub, actor_unit, action, decision, reason_codes FROM audit_events "
                            "WHERE reason_codes && ARRAY['unknown_unit']")
    assert (row["actor_sub"], row["actor_unit"], row["action"], row["decision"], list(row["reason_codes"])) == (
        "SE2321000016-GHST", "no-such-unit", "auth.unknown_unit", "deny", ["unknown_unit"])


async def test_a_client_signs_in_by_their_personal_number_claim(oidc, browser, db):
    """A person (no HSA-id, group mapped to `client`) is known by BRYGGA_CLAIM_PERSONAL_NUMBER: their own pages,
    audited under their blind id, never the number or the provider's sub."""
    callback = await browser.login_at_provider(await browser.authorization_request(), login="tolvan")
    assert (await browser.get(callback))[0] == 200
    status, _, location = await browser.get(oidc.url("/ui/"))
    assert (status, location) == (303, "/ui/me/")
    status, text, _ = await browser.get(oidc.url("/ui/me/"))
    assert status == 200
    actors = [row["actor_sub"] for row in await db.fetch("SELECT actor_sub FROM audit_events WHERE action = 'me.read'")]
    assert len(actors) == 1 and actors[0].startswith("client:") and PERSONAL_NUMBER[-4:] not in actors[0]
    assert "tolvan" not in actors[0]


async def test_with_an_issuer_the_pasted_token_and_development_sign_in_are_gone(oidc, browser):
    status, text, _ = await browser.get(oidc.url("/ui/sign-in"))
    assert status == 200 and 'href="/ui/oidc/start"' in text and 'name="token"' not in text and 'name="sub"' not in text
    csrf = re.search(r'name="csrf" value="([^"]+)"', text).group(1)
    token = await oidc.token(STAFF)
    async with browser.http.post(oidc.url("/ui/sign-in"), data={"csrf": csrf, "token": token},
                                 allow_redirects=False) as response:
        assert response.status == 401
    assert not await browser.signed_in()


async def test_the_id_token_is_not_an_api_token(oidc):
    """The session's ID token (audience: the client id) opens no API call (audience BRYGGA_JWT_AUDIENCE)."""
    id_token = await _id_token(oidc)
    assert jwt.decode(id_token, options={"verify_signature": False})["aud"] == WEB_CLIENT
    status, body = await oidc.call(id_token)
    assert (status, body["code"]) == (401, "invalid_token") and "audience" in body["detail"]


async def test_the_id_token_is_not_an_api_token_even_where_both_have_one_audience(settings, tmp_path, db):
    """Insider attack 11, finding 1: a provider (or an operator) giving the web client and the API one audience
    (settings refuse it; a token of another installation's provider may still carry it): the ID token, which
    carries the sign-in's nonce, opens no API call, while the provider's access tokens still do."""
    async with serving(settings, tmp_path, jwt_audience=WEB_CLIENT) as oidc:
        id_token = await _id_token(oidc)
        assert jwt.decode(id_token, options={"verify_signature": False})["aud"] == WEB_CLIENT
        status, body = await oidc.call(id_token, "/v1/clients", "POST",
                                       json={"personal_number": PERSONAL_NUMBER, "name": "Tolvan Tolvansson"})
        assert (status, body["code"]) == (401, "invalid_token") and "ID token" in body["detail"], body
        assert (await oidc.call(id_token))[0] == 401
        assert await db.fetchval("SELECT count(*) FROM audit_events WHERE actor_sub = 'SE2321000016-ANNA'") == 0
        status, body = await oidc.call(await oidc.token(STAFF), "/v1/clients", "POST",
                                       json={"personal_number": PERSONAL_NUMBER, "name": "Tolvan Tolvansson"})
        assert status == 201, body


async def _id_token(oidc: Oidc) -> str:
    """An ID token of Anna's, by a login of this test's own (PKCE verifier known here)."""
    verifier = base64.urlsafe_b64encode(b"v" * 32).decode().rstrip("=")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    redirect_uri = oidc.url("/ui/oidc/callback")
    browser = Browser(oidc)
    try:
        authorize = f"{oidc.provider.issuer}/auth?" + urlencode({
            "response_type": "code", "client_id": WEB_CLIENT, "redirect_uri": redirect_uri, "scope": "openid brygga",
            "state": "s" * 43, "nonce": "n" * 43, "code_challenge": challenge, "code_challenge_method": "S256"})
        code = parse_qs(urlsplit(await browser.login_at_provider(authorize)).query)["code"][0]
    finally:
        await browser.close()
    async with aiohttp.ClientSession() as http, http.post(
            oidc.provider.token_endpoint, headers={"Authorization": basic(WEB_CLIENT, WEB_SECRET)},
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                  "code_verifier": verifier}) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["id_token"]

