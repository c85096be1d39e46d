"""Per-request context: the runtime, the authenticated caller, the request id."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from aiohttp import web

from policies.audit import organisation_gate
from policies.model import Principal
from policies.personal_number import InvalidPersonalNumber, parse_personal_number
from policies.roles import Permission, role_gate

from ..audit import Action, Caller
from ..auth import TokenClaims, bearer_token, client_principal, principal
from ..domain.access import refuse
from ..domain.units import unit_zone
from ..errors import Unauthorized
from ..runtime import Runtime
from .routing import Endpoint, Handler

RUNTIME = web.AppKey("runtime", Runtime)
REQUEST_ID = web.RequestKey("request_id", str)


def runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


def over_tls(request: web.Request) -> bool:
    """Whether the browser reached this service over TLS: to this process, or to a proxy that ends TLS in front of
    it (BRYGGA_SECURE_COOKIES=always; the service then sees plain HTTP). Decides Secure and `__Host-` cookies,
    Strict-Transport-Security and the origin the identity provider sends the browser back to."""
    if request.secure:
        return True
    rt = request.app.get(RUNTIME)
    return rt is not None and rt.settings.secure_cookies == "always"


def host_cookie(request: web.Request, name: str) -> tuple[str, str | None]:
    """The name and path of a cookie of this service: `__Host-<name>` at Path=/ over TLS, which a browser takes
    only Secure, from this very host (no Domain) and over TLS, so neither a sibling subdomain nor a network
    attacker answering a plain-HTTP request can plant or overwrite it (insider attack 11, finding 2); the plain
    name (path None: the caller's own) only where the cookie cannot be Secure, plain-HTTP development."""
    return (f"__Host-{name}", "/") if over_tls(request) else (name, None)


@dataclass(frozen=True, slots=True)
class Gate:
    """A route's permission (its role gate) and the audited action its handler stands for."""

    permission: Permission
    action: Action


# Each route handler's Gate (set by the app from the route tables): a request refused for its token's unit or
# its roles is audited under the action it asked for.
ATTEMPTED = web.AppKey("attempted_actions", dict)
# By permission, where the permission names one audited action; a route whose handler does another says so
# itself (Endpoint.action). Permissions outside (units) are audited as auth.unknown_unit.
_ACTION_OF: dict[Permission, Action] = {
    Permission.AUDIT_EXTRACT: Action.AUDIT_EXTRACT,
    Permission.AUDIT_READ: Action.AUDIT_READ,
    Permission.AUDIT_REVIEW: Action.EMERGENCY_REVIEW,
    Permission.BLOCK_LIFT: Action.BLOCK_LIFT,
    Permission.CLIENT_LOOKUP: Action.CLIENT_LOOKUP,
    Permission.CLIENT_NETWORK: Action.CLIENT_NETWORK,
    Permission.CLIENT_READ: Action.CLIENT_READ,
    Permission.CLIENT_REGISTER: Action.CLIENT_REGISTER,
    Permission.CONSENT_CONFIRM: Action.CONSENT_CONFIRM,
    Permission.CONSENT_GRANT: Action.CONSENT_GRANT,
    Permission.CONSENT_READ: Action.CONSENT_READ,
    Permission.CONSENT_REVOKE: Action.CONSENT_REVOKE,
    Permission.DISCLOSURE_CREATE: Action.DISCLOSURE_CREATE,
    Permission.DISCLOSURE_LIST: Action.DISCLOSURE_LIST,
    Permission.DOCUMENT_BLOCK: Action.DOCUMENT_BLOCK,
    Permission.DOCUMENT_CORRECT: Action.DOCUMENT_CORRECT,
    Permission.DOCUMENT_CREATE: Action.DOCUMENT_CREATE,
    Permission.DOCUMENT_LIST: Action.DOCUMENT_LIST,
    Permission.DOCUMENT_READ_CONTENT: Action.DOCUMENT_READ_CONTENT,
    Permission.DOCUMENT_READ_METADATA: Action.DOCUMENT_READ_METADATA,
    Permission.DOCUMENT_SHRED: Action.DOCUMENT_SHRED,
    Permission.FOLLOWUP_READ: Action.FOLLOWUP_LIST,
    Permission.FOLLOWUP_WRITE: Action.FOLLOWUP_CREATE,
    Permission.INDICATORS_READ: Action.INDICATORS_READ,
    Permission.RETENTION_READ: Action.RETENTION_PLAN,
    Permission.RETENTION_WRITE: Action.RETENTION_RULES_SET,
    Permission.EMERGENCY_OPEN: Action.EMERGENCY_OPEN,
    Permission.RELATION_END: Action.RELATION_END,
    Permission.RELATION_LIST: Action.RELATION_LIST,
    Permission.RELATION_OPEN: Action.RELATION_OPEN,
    Permission.SIP_CREATE: Action.SIP_CREATE,
    Permission.SIP_OVERDUE: Action.SIP_OVERDUE,
    Permission.SIP_READ: Action.SIP_READ,
    Permission.SIP_WRITE: Action.SIP_UPDATE,
}


def attempted_actions(endpoints: Iterable[Endpoint]) -> dict[Handler, Gate]:
    """Handler → its route's permission and the audited action it stands for (app start-up)."""
    return {endpoint.handler: Gate(endpoint.permission,
                                   endpoint.action or _ACTION_OF.get(endpoint.permission, Action.AUTH_UNKNOWN_UNIT))
            for endpoint in endpoints if endpoint.permission is not None}


# Path parameters an audit event names, where the route has them and they are well formed.
_PATH_IDS = ("client_id", "document_id", "consent_id")


def _path_ids(request: web.Request) -> dict[str, UUID]:
    ids = {}
    for name in _PATH_IDS:
        try:
            ids[name] = UUID(request.match_info[name])
        except (KeyError, ValueError):
            continue
    return ids


async def authenticate(request: web.Request, *, unit_checked_later: bool = False) -> Caller:
    """Verify the bearer token and its unit (must exist and be active), then the role gate of the route's
    permission; raises Unauthorized / UnknownUnit / Forbidden.

    The role gate comes before the handler reads path ids or the body (API-1.1 "Order of checks"): a caller
    whose roles may never make the call learns nothing of the body's validity. The refusal is audited under
    the route's action, naming the client, document or consent of a well-formed path, as the handler's own
    refusal did (routes without an audited action, the units', are refused without one).

    `unit_checked_later`: the handler's own facts query checks that the unit is active
    (documents.open_content does), saving a round trip on the hottest path; the unit's
    zone then comes from memory when it is known (a unit's zone never changes).
    """
    gate = request.app.get(ATTEMPTED, {}).get(request.match_info.handler)
    action = gate.action if gate is not None else Action.AUTH_UNKNOWN_UNIT
    token = bearer_token(request.headers.get("Authorization"))
    caller = await caller_of(request, token, unit_checked_later=unit_checked_later, action=action)
    if gate is not None:
        decision = role_gate(caller.principal.roles, gate.permission)
        if decision:
            decision = organisation_gate(caller.principal, gate.permission)
        if not decision:
            if unit_checked_later:  # authentication comes first: an inactive unit's token is refused as such
                caller = await caller_of(request, token, action=action)
            ids = _path_ids(request)
            await refuse(runtime(request), caller, decision, action if action is not Action.AUTH_UNKNOWN_UNIT else None,
                         client_id=ids.get("client_id"), document_id=ids.get("document_id"),
                         consent_id=ids.get("consent_id"))
    return caller


async def caller_of(request: web.Request, token: str, *, unit_checked_later: bool = False,
                    action: Action = Action.AUTH_UNKNOWN_UNIT, id_token: bool = False) -> Caller:
    """The caller a token names (the API's header, or the web interface's session); raises Unauthorized / UnknownUnit.

    A token that verified but names an unknown or inactive unit is refused with an audit event under `action`
    (domain.units.unit_zone); a token that did not verify leaves none: anyone can send garbage.
    `id_token`: a web session begun by the OpenID Connect sign-in holds an ID token, whose audience is the
    client id (never accepted by the API, whose audience is BRYGGA_JWT_AUDIENCE).
    """
    rt = runtime(request)
    claims = await (rt.id_token_verifier if id_token else rt.verifier).verify_current(token)
    if claims.personal_number is not None:
        return Caller(principal=_client(rt, claims), request_id=request[REQUEST_ID], remote_addr=request.remote)
    zone = None
    if claims.unit is not None:
        zone = rt.unit_zones.get(claims.unit) if unit_checked_later else None
        if zone is None:
            unchecked = Caller(principal=principal(claims, None), request_id=request[REQUEST_ID], remote_addr=request.remote)
            zone = await unit_zone(rt, unchecked, action)
    return Caller(principal=principal(claims, zone), request_id=request[REQUEST_ID], remote_addr=request.remote)


def _client(rt: Runtime, claims: TokenClaims) -> Principal:
    """A client's principal: the blind index of their (canonical) personal number to find them by, and a blind
    id of it, under its own kind, as the actor the audit log names; the number itself goes no further."""
    assert claims.personal_number is not None
    try:
        canonical = parse_personal_number(claims.personal_number, today=rt.today()).canonical
    except InvalidPersonalNumber:
        raise Unauthorized("the token's personal number is not a valid personnummer or samordningsnummer") from None
    sealer = rt.field_sealer
    return client_principal(claims, index=sealer.blind_index(canonical, kind="personal_number"),
                            blind_id=sealer.blind_index(canonical, kind="client_actor").hex()[:32])
