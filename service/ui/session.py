"""The web interface's session: a sealed cookie holding the bearer token, a CSRF secret and the language.

Stateless, so any replica serves it: AES-256-GCM under the key ring (crypto/fields.py,
bound to the record `ui_session`), HttpOnly, SameSite=Strict, Secure over TLS (or always: BRYGGA_SECURE_COOKIES), Path=/ui.
It lives no longer than its token; every request verifies the token again, so a
session ends when the token expires or its unit is deactivated.
"""
from __future__ import annotations

import base64
import hmac
import json
import secrets
from dataclasses import dataclass, replace

from aiohttp import web

from crypto import DecryptionFailed

from ..http.context import runtime

COOKIE = "brygga_session"
LANGUAGES = ("sv", "en")
_SEAL = {"record": "ui_session", "record_id": "cookie", "field": "session"}
_SESSION = web.RequestKey("ui_session", object)


@dataclass(frozen=True, slots=True)
class Session:
    csrf: str
    token: str | None = None
    lang: str = "sv"
    expires: int | None = None  # the token's exp (Unix seconds)
    fresh: bool = False  # not yet sent to the browser

    def signed_in(self) -> bool:
        return self.token is not None


def new(lang: str = "sv") -> Session:
    return Session(csrf=secrets.token_urlsafe(32), lang=lang, fresh=True)


def load(request: web.Request) -> Session:
    """The request's session, or a new anonymous one (with its own CSRF secret)."""
    if _SESSION in request:
        return request[_SESSION]
    session = None
    raw = request.cookies.get(COOKIE)
    if raw:
        try:
            sealed = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
            data = json.loads(runtime(request).sealer.open(sealed, **_SEAL))
            session = Session(csrf=data["c"], token=data.get("t"), lang=data.get("l", "sv"), expires=data.get("e"))
        except (ValueError, KeyError, TypeError, DecryptionFailed):
            session = None  # tampered, from another key ring, or old: start over
    request[_SESSION] = session or new()
    return request[_SESSION]


def store(request: web.Request, response: web.StreamResponse, session: Session) -> None:
    """Send `session` as the cookie (and remember it for the rest of the request)."""
    request[_SESSION] = replace(session, fresh=False)
    payload = json.dumps({"c": session.csrf, "t": session.token, "l": session.lang, "e": session.expires})
    sealed = runtime(request).sealer.seal(payload, **_SEAL)
    max_age = None
    if session.expires is not None:
        max_age = max(0, session.expires - int(runtime(request).clock().timestamp()))
    secure = request.secure or runtime(request).settings.secure_cookies == "always"  # TLS ended at a proxy
    response.set_cookie(COOKIE, base64.urlsafe_b64encode(sealed).decode().rstrip("="), path="/ui", httponly=True,
                        secure=secure, samesite="Strict", max_age=max_age)


def csrf_ok(session: Session, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(session.csrf.encode(), presented.encode())
