"""Per-request context: the runtime, the authenticated caller, the request id."""
from __future__ import annotations

from aiohttp import web

from ..audit import Caller
from ..auth import bearer_token, principal
from ..domain.units import unit_zone
from ..runtime import Runtime

RUNTIME = web.AppKey("runtime", Runtime)
REQUEST_ID = web.RequestKey("request_id", str)


def runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


async def authenticate(request: web.Request, *, unit_checked_later: bool = False) -> Caller:
    """Verify the bearer token and its unit (must exist and be active); raises Unauthorized / UnknownUnit.

    `unit_checked_later`: the handler's own facts query checks that the unit is active
    (documents.open_content does), saving a round trip on the hottest path; the unit's
    zone then comes from memory when it is known (a unit's zone never changes).
    """
    return await caller_of(request, bearer_token(request.headers.get("Authorization")),
                           unit_checked_later=unit_checked_later)


async def caller_of(request: web.Request, token: str, *, unit_checked_later: bool = False) -> Caller:
    """The caller a token names (the API's header, or the web interface's session); raises Unauthorized / UnknownUnit."""
    rt = runtime(request)
    claims = rt.verifier.verify(token)
    zone = None
    if claims.unit is not None:
        zone = rt.unit_zones.get(claims.unit) if unit_checked_later else None
        if zone is None:
            zone = await unit_zone(rt, claims.unit)
    return Caller(principal=principal(claims, zone), request_id=request[REQUEST_ID], remote_addr=request.remote)
