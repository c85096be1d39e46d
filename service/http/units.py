"""Units (admin): POST/GET /v1/units, PATCH /v1/units/{unit_id}."""
from __future__ import annotations

from aiohttp import web

from policies.roles import Permission

from ..domain import units
from . import cursor
from .context import authenticate, runtime
from .routing import PAGE_QUERY, Routes, by_id, json_response, page_params, page_response, read_body
from .schemas import Page, Unit, UnitIn, UnitPatch

routes = Routes("units")


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
    "/v1/units/{unit_id}", summary="Activate or deactivate a unit", permission=Permission.UNIT_WRITE, body=UnitPatch,
    responses={200: Unit}, errors=((404, "not_found"),),
)
async def patch_unit(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    body = await read_body(request, UnitPatch)
    unit = await units.set_active(runtime(request), caller.principal, request.match_info["unit_id"], active=body.active)
    return json_response(Unit, unit)
