"""Joint plans (SIP) and the client's care network (API-1.1 "Joint plans (SIP)"): /v1/clients/{id}/sip-plans,
/v1/sip-plans/{id}…, /v1/clients/{id}/network."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from policies.roles import Permission

from ..audit import Action
from ..domain import sip
from ..errors import ValidationFailed
from . import cursor
from .context import authenticate, runtime
from .routing import PAGE_QUERY, Routes, by_time_and_id, json_response, page_params, page_response, path_uuid, read_body
from .schemas import Empty, Network, Page, SipFollowUpIn, SipPlanIn, SipPlanOut, SipPlanSummary, SipVersionOut

routes = Routes("sip")
_ETAG = (("ETag", "the plan's version, quoted (\"3\"): send it back as If-Match to save over it",
          {"type": "string", "pattern": "^\"[0-9]+\"$"}),)
_IF_MATCH = (("If-Match", "the version the change is made over (the ETag read: \"3\"; 3 is accepted too); required",
              {"type": "string"}),)
_HIDDEN = ((404, "not_found"),)  # no plan, not a participant, no relation, no consent in force: alike


def _plan_response(plan: dict[str, Any], *, status: int = 200) -> web.Response:
    response = json_response(SipPlanOut, plan, status=status)
    response.headers["ETag"] = f'"{plan["version"]}"'
    return response


@routes.post(
    "/v1/clients/{client_id}/sip-plans",
    summary="Start a coordinated individual plan (SIP) of the client, held by the caller's zone (version 1)",
    permission=Permission.SIP_CREATE, body=SipPlanIn, responses={201: SipPlanOut}, response_headers=_ETAG,
    errors=(*_HIDDEN, (422, "consent_required")),
)
async def create_sip_plan(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    client_id = path_uuid(request, "client_id")
    body = await read_body(request, SipPlanIn)
    return _plan_response(await sip.create(runtime(request), caller, client_id, body.content()), status=201)


@routes.get(
    "/v1/clients/{client_id}/sip-plans",
    summary="The client's SIP plans the caller's unit takes part in and may read now, newest first",
    permission=Permission.SIP_READ, action=Action.SIP_LIST, responses={200: Page[SipPlanSummary]}, errors=_HIDDEN,
    query=PAGE_QUERY,
)
async def list_sip_plans(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    client_id = path_uuid(request, "client_id")
    after, limit = page_params(request)
    before = cursor.decode_time_id(after) if after else None
    page = await sip.page_of_client(runtime(request), caller, client_id, before=before, limit=limit)
    return page_response(SipPlanSummary, page, by_time_and_id("created_at"))


@routes.get(
    "/v1/sip-plans/{plan_id}", summary="A SIP plan: its latest version and its follow-ups (ETag: the version)",
    permission=Permission.SIP_READ, responses={200: SipPlanOut}, response_headers=_ETAG, errors=_HIDDEN,
)
async def read_sip_plan(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    return _plan_response(await sip.read(runtime(request), caller, path_uuid(request, "plan_id")))


@routes.get(
    "/v1/sip-plans/{plan_id}/versions", summary="A SIP plan's versions, oldest first, each with its whole content",
    permission=Permission.SIP_READ, action=Action.SIP_VERSIONS, responses={200: Page[SipVersionOut]}, errors=_HIDDEN,
    query=PAGE_QUERY,
)
async def list_sip_versions(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    plan_id = path_uuid(request, "plan_id")
    after, limit = page_params(request)
    version = _version_cursor(after) if after else 0
    page = await sip.versions(runtime(request), caller, plan_id, after=version, limit=limit)
    return page_response(SipVersionOut, page, lambda item: [item["version"]])


def _version_cursor(after: str) -> int:
    """The version a versions cursor names (the last one shown); 422 validation_failed when it is not one."""
    (value,) = cursor.decode(after, length=1)
    if not isinstance(value, str) or not value.isdigit() or len(value) > 9:
        raise ValidationFailed([{"field": "cursor", "message": "not a cursor of this listing"}])
    return int(value)


@routes.put(
    "/v1/sip-plans/{plan_id}",
    summary="Save a new version of a SIP plan over the version read (If-Match)",
    permission=Permission.SIP_WRITE, action=Action.SIP_UPDATE, body=SipPlanIn, responses={200: SipPlanOut},
    response_headers=_ETAG, headers=_IF_MATCH,
    errors=(*_HIDDEN, (409, "plan_closed"), (412, "version_conflict"), (422, "consent_required"),
            (428, "precondition_required")),
)
async def update_sip_plan(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    plan_id = path_uuid(request, "plan_id")
    body = await read_body(request, SipPlanIn)
    if_match = sip.parse_if_match(request.headers.get("If-Match"))
    return _plan_response(await sip.update(runtime(request), caller, plan_id, body.content(), if_match=if_match))


@routes.post(
    "/v1/sip-plans/{plan_id}/follow-ups", summary="Record a follow-up of a SIP plan, and when the next is",
    permission=Permission.SIP_WRITE, action=Action.SIP_FOLLOW_UP, body=SipFollowUpIn, responses={201: SipPlanOut},
    response_headers=_ETAG, errors=(*_HIDDEN, (409, "plan_closed")),
)
async def follow_up_sip_plan(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    plan_id = path_uuid(request, "plan_id")
    body = await read_body(request, SipFollowUpIn)
    return _plan_response(await sip.follow_up(runtime(request), caller, plan_id, body.command()), status=201)


@routes.post(
    "/v1/sip-plans/{plan_id}/close", summary="Close a SIP plan (a closed plan is returned as it is)",
    permission=Permission.SIP_WRITE, action=Action.SIP_CLOSE, body=Empty, responses={200: SipPlanOut},
    response_headers=_ETAG, errors=(*_HIDDEN, (403, "not_holding_zone")),
)
async def close_sip_plan(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    plan_id = path_uuid(request, "plan_id")
    await read_body(request, Empty)
    return _plan_response(await sip.close(runtime(request), caller, plan_id))


@routes.get(
    "/v1/clients/{client_id}/network",
    summary="The client's care network: units with an active relation in the caller's zone and in zones whose "
            "consent for coordination covers it",
    permission=Permission.CLIENT_NETWORK, responses={200: Network}, errors=_HIDDEN,
)
async def client_network(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    client_id = path_uuid(request, "client_id")
    return json_response(Network, {"items": await sip.network(runtime(request), caller, client_id)})

