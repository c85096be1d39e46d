"""The web sign-in by OpenID Connect: authorization code with PKCE (S256), state and nonce (API-1.1 "Identity
providers"; OpenID Connect Core 1.0 §3.1, RFC 7636, RFC 9700 §2.1).

`/ui/oidc/start` sends the browser to the issuer's authorization endpoint with a fresh state, nonce and
PKCE challenge; the three secrets stay in a sealed, HttpOnly cookie of their own (ten minutes; over TLS
`__Host-brygga_oidc`, Secure, Path=/, which no other host and no plain-HTTP answer can plant: a planted login
cookie would sign the browser in as its planter; `brygga_oidc`, Path=/ui/oidc only in plain-HTTP
development). It is SameSite=Lax, not Strict like the session cookie: the identity provider's
redirect back is a cross-site navigation, on which a Strict cookie is not sent. `/ui/oidc/callback` takes
the cookie once (it is cleared in every answer, so the same callback cannot be replayed in this browser),
checks `state`, exchanges the code with the PKCE verifier (the provider refuses a code used before, or one
for another verifier: an intercepted code is useless elsewhere), verifies the ID token (the issuer's
keys, issuer, audience = client id, times, claim mapping) and its `nonce`, and only then begins the
server-side session (ui/session.py), which holds the ID token and verifies it again on every page.

A refusal is a sign-in page with the reason (401; 400 for a request no provider sends) and a log line
with its code; like any token that does not verify, it writes no audit event (there is no verified actor
to name, and anyone can send garbage). A verified token naming an unknown or inactive unit is refused and
audited as `auth.unknown_unit`, the same way a pasted token is.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import jwt
from aiohttp import web

from crypto import DecryptionFailed

from ..errors import Unauthorized, UnknownUnit
from ..http.context import host_cookie
from ..oidc import CodeRefused, Discovery, IssuerKeys, OidcError, exchange_code
from .pages import finish, page, render, rt
from .signin import ROLES, begin, configured, origin

log = logging.getLogger("brygga.ui.oidc")

COOKIE = "brygga_oidc"
PATH = "/ui/oidc"
CALLBACK = "/ui/oidc/callback"
LOGIN_SECONDS = 600  # a sign-in not finished in ten minutes starts again
_SEAL = {"record": "oidc_login", "record_id": "cookie", "field": "login"}

# Refusal code → (HTTP status, the page's message, in Swedish; i18n.EN has the English).
REFUSALS: dict[str, tuple[int, str]] = {
    "no_login": (400, "Ingen inloggning pågår i den här webbläsaren (eller så tog den för lång tid). Börja om."),
    "state_mismatch": (400, "Inloggningen kom inte från den här webbläsarens begäran (state stämmer inte). Börja om."),
    "provider_error": (401, "Identitetstjänsten avbröt inloggningen."),
    "code_refused": (401, "Identitetstjänsten godtog inte inloggningskoden (redan använd, för gammal eller inte din)."),
    "provider_unreachable": (503, "Identitetstjänsten svarar inte just nu. Försök igen om en stund."),
    "token_refused": (401, "Identitetstjänstens token godtogs inte."),
    "nonce_mismatch": (401, "Identitetstjänstens token hörde inte till den här inloggningen (nonce stämmer inte)."),
    "unknown_unit": (401, "Din enhet finns inte i Brygga eller är inte aktiv."),
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _redirect_uri(request: web.Request) -> str:
    """BRYGGA_OIDC_REDIRECT_URI, else this request's origin + /ui/oidc/callback (registered at the provider, so
    a forged Host header only sends the provider a redirect URI it refuses)."""
    return rt(request).settings.oidc_redirect_uri or origin(request) + CALLBACK


def _set_login(request: web.Request, response: web.StreamResponse, login: dict[str, Any] | None) -> None:
    """Send the login cookie (`login` sealed), or clear it (None)."""
    name, path = host_cookie(request, COOKIE)
    secure = path is not None
    if login is None:
        response.del_cookie(name, path=path or PATH, secure=secure, httponly=True, samesite="Lax")
        return
    sealed = rt(request).field_sealer.seal(json.dumps(login), **_SEAL)
    response.set_cookie(name, _b64(sealed), path=path or PATH, httponly=True, secure=secure, samesite="Lax",
                        max_age=LOGIN_SECONDS)


def _login(request: web.Request) -> dict[str, Any] | None:
    """The login cookie's state, nonce and verifier, if present, intact and not past its ten minutes."""
    raw = request.cookies.get(host_cookie(request, COOKIE)[0])
    if not raw:
        return None
    try:
        sealed = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        login = json.loads(rt(request).field_sealer.open(sealed, **_SEAL))
    except (ValueError, TypeError, DecryptionFailed):
        return None
    if not isinstance(login, dict) or not all(isinstance(login.get(k), str) for k in ("s", "n", "v")):
        return None
    if not isinstance(login.get("e"), int) or login["e"] < time.time():
        return None
    return login


@page(signed_in=False)
async def start(request: web.Request) -> web.Response:
    """To the identity provider's authorization endpoint, with a fresh state, nonce and PKCE challenge."""
    if not configured(request):
        raise web.HTTPNotFound()
    settings = rt(request).settings
    try:
        discovery = await _discovery(request)
    except OidcError as exc:
        return _refuse(request, "provider_unreachable", str(exc))
    state, nonce, verifier = _b64(secrets.token_bytes(32)), _b64(secrets.token_bytes(32)), _b64(secrets.token_bytes(32))
    challenge = _b64(hashlib.sha256(verifier.encode()).digest())
    query = urlencode({
        "response_type": "code", "client_id": settings.oidc_client_id, "redirect_uri": _redirect_uri(request),
        "scope": " ".join(dict.fromkeys(["openid", *settings.oidc_scopes.split()])),
        "state": state, "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256",
    })
    separator = "&" if "?" in discovery.authorization_endpoint else "?"
    response = web.Response(status=303, headers={"Location": f"{discovery.authorization_endpoint}{separator}{query}"})
    _set_login(request, response, {"s": state, "n": nonce, "v": verifier, "e": int(time.time()) + LOGIN_SECONDS})
    return finish(request, response)


@page(signed_in=False)
async def callback(request: web.Request) -> web.Response:
    """The provider's answer: state, code exchange with the verifier, ID token and nonce; then the session."""
    if not configured(request):
        raise web.HTTPNotFound()
    login = _login(request)
    query = request.query
    if login is None:
        return _refuse(request, "no_login", "no login cookie, or it expired")
    state = query.get("state", "")
    if not hmac.compare_digest(state.encode(), login["s"].encode()):
        return _refuse(request, "state_mismatch", "the callback's state is not the login's")
    if "error" in query:
        return _refuse(request, "provider_error", f"the provider answered {query.get('error')!r}")
    code = query.get("code", "")
    if not code:
        return _refuse(request, "code_refused", "the callback carries no code")
    runtime = rt(request)
    settings = runtime.settings
    assert runtime.http is not None and settings.oidc_client_id is not None  # configured()
    try:
        discovery = await _discovery(request)
        tokens = await exchange_code(runtime.http, discovery, code=code, redirect_uri=_redirect_uri(request),
                                     code_verifier=login["v"], client_id=settings.oidc_client_id,
                                     client_secret=settings.oidc_client_secret)
    except CodeRefused as exc:
        return _refuse(request, "code_refused", str(exc))
    except OidcError as exc:
        return _refuse(request, "provider_unreachable", str(exc))
    try:
        claims = await runtime.id_token_verifier.verify_current(tokens.id_token)
        nonce = _unverified_nonce(tokens.id_token)  # the signature verified just above
        if not hmac.compare_digest(nonce.encode(), login["n"].encode()):
            return _refuse(request, "nonce_mismatch", "the ID token's nonce is not the login's")
        response = render(request, "oidc_signed_in.html")
        await begin(request, tokens.id_token, response, id_token=True)
    except UnknownUnit as exc:
        return _refuse(request, "unknown_unit", str(exc))
    except (Unauthorized, ValueError) as exc:
        return _refuse(request, "token_refused", str(exc))
    _set_login(request, response, None)
    log.info("signed in by the identity provider", extra={"roles": sorted(claims.roles)})
    return response


async def _discovery(request: web.Request) -> Discovery:
    """The issuer's discovery document (configured() means the verifier's keys are the issuer's); raises OidcError."""
    source = rt(request).verifier.source
    if not isinstance(source, IssuerKeys):
        raise OidcError("the verifier's keys are not an issuer's")
    return await source.current_discovery()


def _unverified_nonce(token: str) -> str:
    """The `nonce` claim of a token whose signature was verified; "" when absent (then it cannot match)."""
    nonce = jwt.decode(token, options={"verify_signature": False}).get("nonce")
    return nonce if isinstance(nonce, str) else ""


def _refuse(request: web.Request, code: str, detail: str) -> web.Response:
    """The sign-in page with the refusal's message; the login cookie cleared; a log line with its code."""
    status, message = REFUSALS[code]
    log.warning("OpenID Connect sign-in refused: %s (%s)", code, detail, extra={"refusal": code})
    response = render(request, "sign_in.html", http_status=status, development=False, units=[], roles=ROLES,
                      expired=False, error=message, oidc=True)
    _set_login(request, response, None)
    return response


def routes() -> list[web.RouteDef]:
    return [web.get(f"{PATH}/start", start), web.get(CALLBACK, callback)]
