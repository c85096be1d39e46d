"""Per-request context: the runtime, the authenticated caller, the request id."""
from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from policies.roles import Permission

from ..audit import Action, Caller
from ..auth import bearer_token, principal
from ..domain.units import unit_zone
from ..runtime import Runtime
from .routing import Endpoint, Handler

RUNTIME = web.AppKey("runtime", Runtime)
REQUEST_ID = web.RequestKey("request_id", str)


def runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


# The audited action each route's handler stands for (set by the app from the route tables): a request refused
# for its token's unit is audited under the action it asked for.
ATTEMPTED = web.AppKey("attempted_actions", dict)
# By permission, where the permission names one audited action; a route whose handler does another says so
# itself (Endpoint.action). Permissions outside (units) are audited as auth.unknown_unit.
_ACTION_OF: dict[Permission, Action] = {
    Permission.AUDIT_EXTRACT: Action.AUDIT_EXTRACT,
    Permission.AUDIT_READ: Action.AUDIT_READ,
    Permission.AUDIT_REVIEW: Action.EMERGENCY_REVIEW,
    Permission.CLIENT_LOOKUP: Action.CLIENT_LOOKUP,
    Permission.CLIENT_READ: Action.CLIENT_READ,
    Permission.CLIENT_REGISTER: Action.CLIENT_REGISTER,
    Permission.CONSENT_CONFIRM: Action.CONSENT_CONFIRM,
    Permission.CONSENT_GRANT: Action.CONSENT_GRANT,
    Permission.CONSENT_READ: Action.CONSENT_READ,
    Permission.CONSENT_REVOKE: Action.CONSENT_REVOKE,
    Permission.DOCUMENT_BLOCK: Action.DOCUMENT_BLOCK,
    Permission.DOCUMENT_CREATE: Action.DOCUMENT_CREATE,
    Permission.DOCUMENT_LIST: Action.DOCUMENT_LIST,
    Permission.DOCUMENT_READ_CONTENT: Action.DOCUMENT_READ_CONTENT,
    Permission.DOCUMENT_READ_METADATA: Action.DOCUMENT_READ_METADATA,
    Permission.DOCUMENT_SHRED: Action.DOCUMENT_SHRED,
    Permission.EMERGENCY_OPEN: Action.EMERGENCY_OPEN,
    Permission.RELATION_END: Action.RELATION_END,
    Permission.RELATION_LIST: Action.RELATION_LIST,
    Permission.RELATION_OPEN: Action.RELATION_OPEN,
}


def attempted_actions(endpoints: Iterable[Endpoint]) -> dict[Handler, Action]:
    """Handler → the audited action its route stands for (app start-up)."""
    return {endpoint.handler: endpoint.action or _ACTION_OF.get(endpoint.permission, Action.AUTH_UNKNOWN_UNIT)
            for endpoint in endpoints if endpoint.permission is not None}


async def authenticate(request: web.Request, *, unit_checked_later: bool = False) -> Caller:
    """Verify the bearer token and its unit (must exist and be active); raises Unauthorized / UnknownUnit.

    `unit_checked_later`: the handler's own facts query checks that the unit is active
    (documents.open_content does), saving a round trip on the hottest path; the unit's
    zone then comes from memory when it is known (a unit's zone never changes).
    """
    action = request.app.get(ATTEMPTED, {}).get(request.match_info.handler, Action.AUTH_UNKNOWN_UNIT)
    return await caller_of(request, bearer_token(request.headers.get("Authorization")),
                           unit_checked_later=unit_checked_later, action=action)


async def caller_of(request: web.Request, token: str, *, unit_checked_later: bool = False,
                    action: Action = Action.AUTH_UNKNOWN_UNIT) -> Caller:
    """The caller a token names (the API's header, or the web interface's session); raises Unauthorized / UnknownUnit.

    A token that verified but names an unknown or inactive unit is refused with an audit event under `action`
    (domain.units.unit_zone); a token that did not verify leaves none: anyone can send garbage.
    """
    rt = runtime(request)
    claims = rt.verifier.verify(token)
    zone = None
    if claims.unit is not None:
        zone = rt.unit_zones.get(claims.unit) if unit_checked_later else None
        if zone is None:
            unchecked = Caller(principal=principal(claims, None), request_id=request[REQUEST_ID], remote_addr=request.remote)
            zone = await unit_zone(rt, unchecked, action)
    return Caller(principal=principal(claims, zone), request_id=request[REQUEST_ID], remote_addr=request.remote)
