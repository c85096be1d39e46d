"""Signing in and out. The seam: a page gets a bearer token from somewhere and calls `begin()`.

Today the token comes from the development key (development only) or is pasted
from the organisation's identity provider; an OIDC authorization-code callback
would verify its ID/access token and call `begin()` the same way.
"""
from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import quote, urlsplit

from aiohttp import web

from policies.model import Role

from ..devkeys import mint_dev_token, split_organisations
from ..domain import units as units_domain
from ..errors import InvalidRequest, Unauthorized, UnknownUnit
from ..http.context import caller_of, over_tls
from ..oidc import IssuerKeys, OidcError, end_session_url
from . import session as sessions
from .pages import CALLER, SIGN_IN, finish, form, page, redirect, render, rt

ROLES = [role.value for role in Role]


def configured(request: web.Request) -> bool:
    """The sign-in by the identity provider is offered (ui/oidc.py): an issuer and a client id are set. Then
    it is the only one: no development sign-in and no pasted token (a token leaked from an API caller
    must not become a browser session)."""
    settings = rt(request).settings
    return settings.oidc_issuer is not None and settings.oidc_client_id is not None


def _development(request: web.Request) -> bool:
    """The development sign-in: only with BRYGGA_DEV=1 and the service trusting its own development key."""
    return rt(request).settings.dev_tokens


async def begin(request: web.Request, token: str, response: web.StreamResponse, *, id_token: bool = False) -> None:
    """Verify `token` (signature, time, unit) and start a server-side session with it; raises Unauthorized.

    `id_token`: an ID token of the OpenID Connect sign-in (service/ui/oidc.py), verified for the client id."""
    caller = await caller_of(request, token, id_token=id_token)
    claims = (rt(request).id_token_verifier if id_token else rt(request).verifier).verify(token)
    # The caller's sub, not the token's: a client's is their blind id, never the personal number (#18).
    await sessions.begin(request, response, token=token, sub=caller.principal.sub, unit=claims.unit, exp=claims.exp,
                         id_token=id_token)
    request[CALLER] = caller


@page(signed_in=False)
async def sign_in_form(request: web.Request) -> web.Response:
    units = []
    if _development(request):
        units = await units_domain.development_sign_in_units(rt(request))
    return render(request, "sign_in.html", development=_development(request), units=units, roles=ROLES,
                  expired="expired" in request.query, error=None, oidc=configured(request))


@page(signed_in=False)
async def sign_in(request: web.Request) -> web.Response:
    data = await form(request)
    if configured(request):
        return render(request, "sign_in.html", http_status=401, development=False, units=[], roles=ROLES,
                      expired=False, error="Logga in genom organisationens identitetstjänst.", oidc=True)
    if _development(request) and data.get("sub"):
        roles = [role for role in ROLES if data.get(f"role_{role}")]
        token = mint_dev_token(rt(request).settings, sub=data["sub"].strip(), roles=roles,
                               unit=data.get("unit") or None, name=data.get("name") or None, minutes=60,
                               organisations=split_organisations(data.get("organisations")))
    else:
        token = data.get("token", "").strip()
    response = redirect(request, "/ui/")
    try:
        await begin(request, token, response)
    except (Unauthorized, UnknownUnit, ValueError) as exc:
        return render(request, "sign_in.html", http_status=401, development=_development(request), units=[],
                      roles=ROLES, expired=False, error=str(exc), oidc=False)
    return response


@page(signed_in=False)
async def sign_out(request: web.Request) -> web.Response:
    """End the session on the server (a saved copy of the cookie opens nothing after this) and forget it here."""
    await form(request)
    session = sessions.load(request)
    provider = await _provider_sign_out(request) if session.id_token and session.token else None
    # On to the provider by a page, not a redirect: the form's CSP (form-action 'self') stops a redirect that
    # leaves this origin after a form post.
    response = render(request, "signed_out.html", provider=provider) if provider else redirect(request, SIGN_IN)
    await sessions.end(request, response)
    return response


async def _provider_sign_out(request: web.Request) -> str | None:
    """The provider's end-session URL for a session begun there (it comes back to the sign-in page), or None
    (no such endpoint, or the provider cannot be reached: Brygga's own session ends all the same)."""
    settings = rt(request).settings
    source = rt(request).verifier.source
    if not configured(request) or not isinstance(source, IssuerKeys):
        return None
    try:
        discovery = await source.current_discovery()
    except OidcError:
        return None
    assert settings.oidc_client_id is not None  # configured()
    return end_session_url(discovery, client_id=settings.oidc_client_id,
                           post_logout_redirect_uri=origin(request) + SIGN_IN)


def origin(request: web.Request) -> str:
    """This service's origin as the browser sees it: BRYGGA_OIDC_REDIRECT_URI's, else the request's (the
    provider accepts only redirect URIs registered with it, so a forged Host header gains nothing)."""
    settings = rt(request).settings
    if settings.oidc_redirect_uri:
        parts = urlsplit(settings.oidc_redirect_uri)
        return f"{parts.scheme}://{parts.netloc}"
    scheme = "https" if over_tls(request) else "http"
    return f"{scheme}://{request.host}"


# A page of this interface: /ui/ and what follows, without whitespace, control characters (CR/LF would split the
# Location header) or a backslash (which browsers read as a slash). Starting with "/ui/" it cannot name another
# origin (no //host, no scheme).
_BACK = re.compile(r"/ui/[^\x00-\x20\x7f-\x9f\\]*")


def _back(value: str | None) -> str:
    """Where the language form returns to: a page under /ui/ (default /ui/); raises InvalidRequest otherwise."""
    if not value:
        return "/ui/"
    if not _BACK.fullmatch(value):
        raise InvalidRequest("back must be a page of this interface (a path under /ui/)")
    return quote(value, safe="/?&=%:@!$'()*+,;~-._")  # a header is ASCII: other characters percent-encoded


@page(signed_in=False)
async def language(request: web.Request) -> web.Response:
    data = await form(request)
    chosen = data.get("lang")
    lang = chosen if chosen is not None and chosen in sessions.LANGUAGES else "sv"
    response = redirect(request, _back(data.get("back")))
    sessions.store(request, response, replace(sessions.load(request), lang=lang))
    return finish(request, response)


@page()
async def home(request: web.Request) -> web.Response:
    roles = request[CALLER].principal.roles
    if Role.CLIENT in roles:
        return redirect(request, "/ui/me/")
    return redirect(request, "/ui/audit/events" if Role.AUDITOR in roles and len(roles) == 1 else "/ui/clients")
