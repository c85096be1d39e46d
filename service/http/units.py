"""Units (admin): POST/GET /v1/units, PATCH /v1/units/{unit_id}."""
from __future__ import annotations

import re

from aiohttp import web

from policies.roles import Permission

from ..audit import Action
from ..domain import units
from ..errors import NotFound
from . import cursor
from .context import authenticate, runtime
from .routing import PAGE_QUERY, Routes, by_id, json_response, page_params, page_response, read_body
from .schemas import Page, Succession, SuccessionIn, SuccessionPreview, Unit, UnitIn, UnitPatch

routes = Routes("units")
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,63}")


@routes.post(
    "/v1/units", summary="Create a unit (idempotent for the same body)", permission=Permission.UNIT_WRITE, body=UnitIn,
    responses={201: Unit, 200: Unit}, errors=((409, "conflict"),),
)
async def create_unit(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    body = await read_body(request, UnitIn)
    unit, created = await units.create(
        runtime(request), caller.principal, unit_id=body.id, name=body.name, organisation=body.organisation, domain=body.domain
    )
    return json_response(Unit, unit, status=201 if created else 200)


@routes.get("/v1/units", summary="List units", permission=Permission.UNIT_LIST, responses={200: Page[Unit]}, query=PAGE_QUERY)
async def list_units(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    after, limit = page_params(request)
    after_id = cursor.decode(after, length=1)[0] if after else ""
    return page_response(Unit, await units.page(runtime(request), caller.principal, after=after_id, limit=limit), by_id)


@routes.patch(
    "/v1/units/{unit_id}", summary="Activate or deactivate a unit (a succeeded unit is never activated again: 409)",
    permission=Permission.UNIT_WRITE, body=UnitPatch, responses={200: Unit}, errors=((404, "not_found"), (409, "conflict")),
)
async def patch_unit(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    body = await read_body(request, UnitPatch)
    unit = await units.set_active(runtime(request), caller.principal, request.match_info["unit_id"], active=body.active)
    return json_response(Unit, unit)


@routes.post(
    "/v1/units/{unit_id}/succession",
    summary="A reorganisation: the successor (same zone) takes over the unit's documents, active relations, SIP plans, "
            "and the consents and disclosures naming it; the unit is deactivated (one transaction)",
    permission=Permission.UNIT_WRITE, action=Action.UNIT_SUCCESSION, body=SuccessionIn, responses={200: Succession},
    errors=((404, "not_found"), (409, "conflict"), (409, "blocked_documents"), (422, "different_zone")),
)
async def succeed_unit(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    body = await read_body(request, SuccessionIn)
    moved = await units.succession(runtime(request), caller, request.match_info["unit_id"], successor=body.successor,
                                   effective_at=body.effective_at, move_blocked=body.blocked_documents == "move")
    return json_response(Succession, moved)


@routes.get(
    "/v1/units/{unit_id}/succession",
    summary="Preview of a succession: how many documents, active relations, consents, disclosures and SIP plans it "
            "would move "
            "(extends API-1.1)",
    permission=Permission.UNIT_WRITE, responses={200: SuccessionPreview}, errors=((404, "not_found"),),
    query=(("successor", {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,63}$"},
            "the successor in view: counts the blocked documents that would move to it (404 for no such unit)"),),
)
async def preview_succession(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    successor = request.query.get("successor")
    if successor is not None and not _SLUG.fullmatch(successor):
        raise NotFound(f"no unit {successor}")  # never a unit's id (units are slugs): the unknown unit's answer
    preview = await units.succession_preview(runtime(request), caller.principal, request.match_info["unit_id"],
                                             successor)
    return json_response(SuccessionPreview, preview)
