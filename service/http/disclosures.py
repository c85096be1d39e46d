"""Disclosures without consent (API-1.1; OSL 25:12, 26:9): /v1/clients/{id}/disclosures."""
from __future__ import annotations

from aiohttp import web

from policies.roles import Permission

from ..domain import disclosures
from . import cursor
from .context import authenticate, runtime
from .routing import PAGE_QUERY, Routes, by_time_and_id, json_response, page_params, page_response, path_uuid, read_body
from .schemas import DisclosureIn, DisclosureOut, Page

routes = Routes("disclosures")


@routes.post(
    "/v1/clients/{client_id}/disclosures",
    summary="Disclose named documents without consent to a unit of the other domain (OSL 25:12 / 26:9)",
    permission=Permission.DISCLOSURE_CREATE, body=DisclosureIn, responses={201: DisclosureOut},
    errors=((403, "not_owning_unit"), (404, "not_found"), (422, "same_domain"), (422, "ground_not_met")),
)
async def create_disclosure(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    client_id = path_uuid(request, "client_id")
    body = await read_body(request, DisclosureIn)
    disclosure = await disclosures.create(runtime(request), caller, client_id, body.command())
    return json_response(DisclosureOut, disclosure, status=201)


@routes.get(
    "/v1/clients/{client_id}/disclosures",
    summary="The disclosures the caller's unit made or received for the client, newest first",
    permission=Permission.DISCLOSURE_LIST, responses={200: Page[DisclosureOut]}, errors=((404, "not_found"),),
    query=PAGE_QUERY,
)
async def list_disclosures(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    client_id = path_uuid(request, "client_id")
    after, limit = page_params(request)
    before = cursor.decode_time_id(after) if after else None  # newest first: the cursor is the last one shown
    page = await disclosures.page(runtime(request), caller, client_id, before=before, limit=limit)
    return page_response(DisclosureOut, page, by_time_and_id("decided_at"))
