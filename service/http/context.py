"""Per-request context: the runtime, the authenticated caller, the request id."""
from __future__ import annotations

from aiohttp import web

from policies.model import Zone

from ..audit import Caller
from ..auth import bearer_token, principal
from ..errors import UnknownUnit
from ..runtime import Runtime
from ..store import units as units_store

RUNTIME = web.AppKey("runtime", Runtime)
REQUEST_ID = web.RequestKey("request_id", str)


def runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


async def authenticate(request: web.Request) -> Caller:
    """Verify the bearer token and its unit (must exist and be active); raises Unauthorized / UnknownUnit."""
    return await caller_of(request, bearer_token(request.headers.get("Authorization")))


async def caller_of(request: web.Request, token: str) -> Caller:
    """The caller a token names (the API's header, or the web interface's session); raises Unauthorized / UnknownUnit."""
    rt = runtime(request)
    claims = rt.verifier.verify(token)
    zone = None
    if claims.unit is not None:
        async with rt.pool.acquire() as conn:
            unit = await units_store.get(conn, claims.unit)
        if unit is None or not unit["active"]:
            raise UnknownUnit("the token's unit does not exist or is inactive")
        zone = Zone(unit["organisation"], unit["domain"])
    return Caller(principal=principal(claims, zone), request_id=request[REQUEST_ID], remote_addr=request.remote)
