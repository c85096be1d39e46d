"""The web interface's session: a sealed cookie (CSRF secret, language, session id) and a row on the server.

Signed in, the session lives in `ui_sessions` (service/store/ui_sessions.py): the cookie
carries a random 256-bit id, the table its SHA-256 and the bearer token sealed (bound
to the row). Signing out ends the row, so a cookie saved before it opens nothing; so
do a session unused for BRYGGA_UI_SESSION_IDLE_MINUTES and one past its token's exp.
Every page looks the row up (one statement on its primary key, which also marks it
seen) and verifies the token again, so a session also ends when its unit is deactivated.
Before sign-in the session is the cookie alone (a CSRF secret for the sign-in form and
the language), so an anonymous visitor writes nothing to the database.

The cookie is sealed with AES-256-GCM under the key ring (crypto/fields.py, bound to the
record `ui_session`): HttpOnly, SameSite=Strict. Over TLS (or behind a TLS proxy:
BRYGGA_SECURE_COOKIES=always) it is `__Host-brygga_session`, Secure, Path=/, so no other host
and no plain-HTTP answer can plant one; only in plain-HTTP development it is `brygga_session`,
Path=/ui. Any replica serves it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from crypto import DecryptionFailed

from ..domain import ui_sessions
from ..http.context import host_cookie, runtime

COOKIE = "brygga_session"
LANGUAGES = ("sv", "en")
_SEAL = {"record": "ui_session", "record_id": "cookie", "field": "session"}
@dataclass(frozen=True, slots=True)
class Session:
    csrf: str
    lang: str = "sv"
    sid: bytes | None = None  # the server-side session's id: only the cookie holds it, the table its hash
    token: str | None = None  # from the live session's row
    expires: int | None = None  # the token's exp (Unix seconds)
    fresh: bool = False  # not yet sent to the browser
    lapsed: bool = False  # the cookie named a session that is over (ended, expired, idle) or unknown
    id_token: bool = False  # `token` is an ID token of the OpenID Connect sign-in (audience: the client id)

    def signed_in(self) -> bool:
        return self.token is not None


_SESSION = web.RequestKey("ui_session", Session)
# Sealed before an ID token in the session's row (a JWT never holds a colon): the kind of token decides
# which audience it is verified for on every page.
_ID_TOKEN = "oidc:"


def new(lang: str = "sv", *, lapsed: bool = False) -> Session:
    return Session(csrf=secrets.token_urlsafe(32), lang=lang, fresh=True, lapsed=lapsed)


def id_hash(sid: bytes) -> bytes:
    """What the table keeps of a session id: its SHA-256 (the id is 256 random bits, so no salt is needed)."""
    return hashlib.sha256(sid).digest()


def _token_seal(sid: bytes) -> dict[str, str]:
    return {"record": "ui_session", "record_id": id_hash(sid).hex(), "field": "token"}


def cookie_name(request: web.Request) -> str:
    """`__Host-brygga_session` over TLS, `brygga_session` in plain-HTTP development (http.context.host_cookie)."""
    return host_cookie(request, COOKIE)[0]


def _now(request: web.Request) -> datetime:
    return runtime(request).clock()


def _cookie(request: web.Request) -> dict[str, Any] | None:
    """The cookie's contents; None when absent, tampered with or sealed by another key ring."""
    raw = request.cookies.get(cookie_name(request))
    if not raw:
        return None
    try:
        sealed = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        data = json.loads(runtime(request).field_sealer.open(sealed, **_SEAL))
        return data if isinstance(data, dict) and isinstance(data.get("c"), str) else None
    except (ValueError, TypeError, DecryptionFailed):
        return None


async def resolve(request: web.Request) -> Session:
    """The request's session, its row looked up once (page() calls this first); a new anonymous one otherwise.

    A cookie naming a session that is over gets a new anonymous session (`lapsed`), which
    replaces the cookie in the answer; so does a cookie of the old stateless kind (a token inside).
    """
    if _SESSION in request:
        return request[_SESSION]
    data = _cookie(request)
    chosen = data.get("l") if data is not None else None
    lang = chosen if isinstance(chosen, str) and chosen in LANGUAGES else "sv"  # LANGUAGES holds only str
    if data is None:
        session = new()
    elif "t" in data:  # the old stateless kind, a token inside
        session = new(lang, lapsed=True)
    elif "s" in data:
        live = await _live(request, data["s"])
        session = replace(live, csrf=data["c"], lang=lang) if live is not None else new(lang, lapsed=True)
    else:
        session = Session(csrf=data["c"], lang=lang)
    request[_SESSION] = session
    return session


async def _live(request: web.Request, encoded: object) -> Session | None:
    """The session the cookie's id names, if it is live (and now seen); None otherwise."""
    try:
        sid = base64.urlsafe_b64decode(str(encoded) + "=" * (-len(str(encoded)) % 4))
    except ValueError:
        return None
    rt = runtime(request)
    row = await ui_sessions.live(rt, id_hash(sid), now=_now(request))
    if row is None:
        return None
    try:
        token = rt.field_sealer.open_text(bytes(row["token_sealed"]), **_token_seal(sid))
    except DecryptionFailed:
        return None  # sealed under a key no longer in the ring: sign in again
    id_token = token.startswith(_ID_TOKEN)
    return Session(csrf="", sid=sid, token=token.removeprefix(_ID_TOKEN), expires=int(row["expires_at"].timestamp()),
                   id_token=id_token)


def load(request: web.Request) -> Session:
    """The session resolve() found for this request."""
    try:
        return request[_SESSION]
    except KeyError:
        raise RuntimeError("the session is resolved by page() before a handler runs") from None


async def begin(request: web.Request, response: web.StreamResponse, *, token: str, sub: str, unit: str | None,
                exp: int, id_token: bool = False) -> Session:
    """Start a server-side session for a verified token and send its cookie; ends the one this browser had.

    A new session id and CSRF secret with every sign-in: anything planted before it is worthless after.
    Sessions over for more than a day are deleted on the way (sign-ins are rare; pages never wait for it).
    """
    rt = runtime(request)
    previous = load(request)
    sid = secrets.token_bytes(32)
    now = _now(request)
    await ui_sessions.begin(rt, id_hash=id_hash(sid), sub=sub, unit=unit,
                            token_sealed=rt.field_sealer.seal((_ID_TOKEN if id_token else "") + token,
                                                              **_token_seal(sid)), now=now,
                            expires_at=datetime.fromtimestamp(exp, UTC),
                            replacing=id_hash(previous.sid) if previous.sid is not None else None)
    session = replace(new(previous.lang), sid=sid, token=token, expires=exp, id_token=id_token)
    store(request, response, session)
    return session


async def end(request: web.Request, response: web.StreamResponse) -> None:
    """End this browser's session on the server (sign-out, or its token no longer valid) and send an anonymous cookie."""
    session = load(request)
    if session.sid is not None:
        await ui_sessions.end(runtime(request), id_hash(session.sid), now=_now(request))
    store(request, response, new(session.lang))


def store(request: web.Request, response: web.StreamResponse, session: Session) -> None:
    """Send `session` as the cookie (and remember it for the rest of the request).

    The cookie holds the CSRF secret, the language and the session id; never the token.
    """
    request[_SESSION] = replace(session, fresh=False)
    payload = {"c": session.csrf, "l": session.lang}
    if session.sid is not None:
        payload["s"] = base64.urlsafe_b64encode(session.sid).decode().rstrip("=")
    sealed = runtime(request).field_sealer.seal(json.dumps(payload), **_SEAL)
    max_age = None
    if session.expires is not None:
        max_age = max(0, session.expires - int(_now(request).timestamp()))
    name, path = host_cookie(request, COOKIE)
    response.set_cookie(name, base64.urlsafe_b64encode(sealed).decode().rstrip("="), path=path or "/ui", httponly=True,
                        secure=path is not None, samesite="Strict", max_age=max_age)


def csrf_ok(session: Session, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(session.csrf.encode(), presented.encode())
