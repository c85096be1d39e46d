"""OpenID Connect: the issuer's discovery document, its JWKS kept fresh, and the code exchange of the web sign-in.

API-1.1 "Identity providers": with BRYGGA_OIDC_ISSUER the keys come from the
`jwks_uri` of `<issuer>/.well-known/openid-configuration` instead of a file, so an
identity provider that rotates its keys needs no restart here.

PyJWT's PyJWKClient is not used: it fetches with urllib (blocking the event loop) and
fetches again on every unknown `kid`, so anyone who can send a request could make this
service hammer the identity provider with made-up key ids (jpadilla/pyjwt#929). The
fetch here is aiohttp's; PyJWT only parses the keys (auth.parse_jwks).
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import jwt

from .auth import JwksError, parse_jwks

log = logging.getLogger("brygga.oidc")

REFRESH_MIN_SECONDS = 30.0  # an unknown kid fetches the JWKS again at most this often (API-1.1)
MAX_AGE_SECONDS = 3600.0  # a set this old is fetched again at the next token, so removed keys stop working
MAX_DOCUMENT_BYTES = 1 << 20
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=10)


class OidcError(RuntimeError):
    """The identity provider could not be reached or answered something unusable."""


@dataclass(frozen=True, slots=True)
class Discovery:
    """What Brygga uses of the issuer's discovery document (OpenID Connect Discovery 1.0 §3)."""

    issuer: str
    jwks_uri: str
    authorization_endpoint: str
    token_endpoint: str
    end_session_endpoint: str | None = None


async def _json(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    """(status, parsed JSON body) of a request, the body capped at 1 MiB; raises OidcError."""
    try:
        async with http.request(method, url, timeout=HTTP_TIMEOUT, allow_redirects=False, **kwargs) as response:
            body = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):  # read() gives one chunk, not the body
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise OidcError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
            try:
                return response.status, json.loads(body)
            except ValueError:
                raise OidcError(f"{url} answered {response.status} without JSON") from None
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise OidcError(f"{url} cannot be reached: {type(exc).__name__}") from None


async def discover(http: aiohttp.ClientSession, issuer: str) -> Discovery:
    """The issuer's discovery document; raises OidcError. Its `issuer` must equal ours exactly (§4.3), so a
    document served for another issuer (a mix-up, a misdirected proxy) is never trusted."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    status, document = await _json(http, "GET", url)
    if status != 200 or not isinstance(document, dict):
        raise OidcError(f"{url} answered {status}")
    if document.get("issuer") != issuer:
        raise OidcError(f"{url} names issuer {document.get('issuer')!r}, not {issuer!r}")
    # The keys and every endpoint over TLS like the issuer itself (http only for an http issuer, which settings
    # allow on this machine alone): a plain-HTTP jwks_uri would let the network choose the keys, a plain-HTTP
    # end_session_endpoint would let it answer the sign-out (and keep the provider's session alive).
    scheme = "http://" if issuer.startswith("http://") else "https://"
    try:
        return Discovery(issuer=issuer, jwks_uri=_url(document, "jwks_uri", scheme),
                         authorization_endpoint=_url(document, "authorization_endpoint", scheme),
                         token_endpoint=_url(document, "token_endpoint", scheme),
                         end_session_endpoint=_url(document, "end_session_endpoint", scheme)
                         if document.get("end_session_endpoint") is not None else None)
    except KeyError as exc:
        raise OidcError(f"{url} lacks {exc.args[0]} (an {scheme} URL)") from None


def _url(document: Mapping[str, Any], name: str, scheme: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value.startswith(scheme):
        raise KeyError(name)
    return value


class IssuerKeys:
    """The issuer's signing keys (a KeySource for auth.TokenVerifier): fetched at start, again when a token
    names an unknown kid (at most every 30 s, whoever asks) and when the set is an hour old.

    A failed fetch keeps the last good set (an unreachable issuer must not sign everyone out), and is not
    tried again for 30 s either. Concurrent requests share one fetch (a lock). Before the first good fetch
    there are no keys and every token is refused (401), never accepted unverified.
    """

    def __init__(self, http: aiohttp.ClientSession, issuer: str, *, clock: Callable[[], float] = time.monotonic,
                 refresh_min_seconds: float = REFRESH_MIN_SECONDS, max_age_seconds: float = MAX_AGE_SECONDS) -> None:
        self._http = http
        self._issuer = issuer
        self.clock = clock  # settable by tests, which cannot wait 30 s
        self._refresh_min = refresh_min_seconds
        self._max_age = max_age_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._version = 0
        self._fetched_at: float | None = None  # the last good fetch
        self._attempted_at: float | None = None  # the last fetch, good or not
        self._lock = asyncio.Lock()
        self.discovery: Discovery | None = None
        self.fetches = 0  # fetch attempts of the JWKS, for the logs and the tests

    @property
    def keys(self) -> Mapping[str, jwt.PyJWK]:
        return self._keys

    @property
    def version(self) -> int:
        return self._version

    async def start(self) -> None:
        """The first fetch; an unreachable issuer is logged, not fatal (replicas must start during its outage)."""
        await self._refresh()

    def _due(self, kid: str | None) -> bool:
        now = self.clock()
        if self._attempted_at is not None and now - self._attempted_at < self._refresh_min:
            return False
        if self._fetched_at is None:
            return True
        return (kid is not None and kid not in self._keys) or now - self._fetched_at >= self._max_age

    async def ensure(self, kid: str | None) -> None:
        if self._due(kid):
            async with self._lock:
                if self._due(kid):  # another request may have fetched while this one waited
                    await self._refresh()

    async def current_discovery(self) -> Discovery:
        """The discovery document (for the web sign-in); fetched now if start() could not; raises OidcError."""
        if self.discovery is None:
            await self.ensure(None)
        if self.discovery is None:
            raise OidcError(f"the issuer {self._issuer} cannot be reached")
        return self.discovery

    async def _refresh(self) -> None:
        self._attempted_at = self.clock()
        self.fetches += 1
        try:
            discovery = await discover(self._http, self._issuer)
            status, document = await _json(self._http, "GET", discovery.jwks_uri)
            if status != 200:
                raise OidcError(f"{discovery.jwks_uri} answered {status}")
            keys = parse_jwks(document, f"the JWKS of {self._issuer}", strict=False)
        except (OidcError, JwksError) as exc:
            log.warning("identity provider keys not refreshed, keeping the last good set (%d keys): %s",
                        len(self._keys), exc)
            return
        self.discovery = discovery
        self._fetched_at = self._attempted_at
        if keys.keys() != self._keys.keys() or any(keys[kid].key != self._keys[kid].key for kid in keys):
            log.info("identity provider keys now %s", sorted(keys))
            self._keys = keys
            self._version += 1


@dataclass(frozen=True, slots=True)
class Tokens:
    id_token: str


class CodeRefused(OidcError):
    """The token endpoint refused the code (replayed, expired, another client's, wrong PKCE verifier)."""


async def exchange_code(http: aiohttp.ClientSession, discovery: Discovery, *, code: str, redirect_uri: str,
                        code_verifier: str, client_id: str, client_secret: str | None) -> Tokens:
    """The authorization code and its PKCE verifier for tokens at the token endpoint (RFC 6749 §4.1.3,
    RFC 7636 §4.5); raises CodeRefused or OidcError. A confidential client authenticates with HTTP Basic
    (client_secret_basic, every provider's default); a public one sends its id alone."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": code_verifier}
    headers = {"Accept": "application/json"}
    if client_secret is not None:  # RFC 6749 §2.3.1: each part form-encoded, then Basic
        pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    else:
        form["client_id"] = client_id
    status, document = await _json(http, "POST", discovery.token_endpoint, data=form, headers=headers)
    if status != 200 or not isinstance(document, dict):
        error = document.get("error") if isinstance(document, dict) else None
        raise CodeRefused(f"the identity provider refused the code ({error or status})")
    id_token = document.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise OidcError("the identity provider answered without an ID token (is the openid scope allowed?)")
    return Tokens(id_token=id_token)


def end_session_url(discovery: Discovery, *, client_id: str, post_logout_redirect_uri: str) -> str | None:
    """Where to send the browser so the provider ends its own session too (OpenID Connect RP-Initiated Logout
    1.0 §2); None when the provider publishes no end_session_endpoint. Without this, on a shared workstation
    the next person to press "sign in" would be signed in silently as the one who just signed out.

    `client_id` names us (so the provider accepts the registered post-logout redirect URI), never
    `id_token_hint`: a token in a URL stays in the browser's history and in every access log on the way
    (insider attack 11). The price: the provider asks the user to confirm, which it may skip for a hint."""
    if discovery.end_session_endpoint is None:
        return None
    query = urlencode({"client_id": client_id, "post_logout_redirect_uri": post_logout_redirect_uri})
    separator = "&" if "?" in discovery.end_session_endpoint else "?"
    return f"{discovery.end_session_endpoint}{separator}{query}"
