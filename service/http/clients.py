"""Clients and their relations: /v1/clients…"""
from __future__ import annotations

from aiohttp import web

from policies.roles import Permission

from ..domain import clients, relations
from . import cursor
from .context import authenticate, runtime
from .routing import PAGE_QUERY, Routes, by_time_and_id, json_response, page_params, page_response, path_uuid, read_body
from .schemas import Client, ClientIn, ClientLookupIn, ClientRef, ClientWithName, Empty, Page, Relation, RelationIn

routes = Routes("clients")
_NOT_FOUND = ((404, "not_found"),)


@routes.post(
    "/v1/clients", summary="Register a client (the same personal number again returns the same id)",
    permission=Permission.CLIENT_REGISTER, body=ClientIn, responses={201: Client, 200: Client},
    errors=((422, "invalid_personal_number"),),
)
async def register_client(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    body = await read_body(request, ClientIn)
    client, created = await clients.register(runtime(request), caller, personal_number=body.personal_number, name=body.name)
    return json_response(Client, client, status=201 if created else 200)


@routes.post(
    "/v1/clients/lookup", summary="Find a client's id by personal number (POST: the number never goes in a URL)",
    permission=Permission.CLIENT_LOOKUP, body=ClientLookupIn, responses={200: ClientRef},
    errors=((404, "not_found"), (422, "invalid_personal_number")),
)
async def lookup_client(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    body = await read_body(request, ClientLookupIn)
    return json_response(ClientRef, await clients.lookup(runtime(request), caller, personal_number=body.personal_number))


@routes.get(
    "/v1/clients/{client_id}", summary="A client, for a caller whose unit has an active relation",
    permission=Permission.CLIENT_READ, responses={200: ClientWithName}, errors=(*_NOT_FOUND, (500, "integrity_error")),
)
async def read_client(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    client = await clients.read(runtime(request), caller, path_uuid(request, "client_id"))
    return json_response(ClientWithName, client)


@routes.post(
    "/v1/clients/{client_id}/relations",
    summary="Open the caller's unit's relation with the client, of a kind and for a reason (idempotent while active: "
            "the active relation is returned as it is)",
    permission=Permission.RELATION_OPEN, body=RelationIn, responses={201: Relation, 200: Relation}, errors=_NOT_FOUND,
)
async def open_relation(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    client_id = path_uuid(request, "client_id")
    body = await read_body(request, RelationIn)
    relation, created = await relations.open_relation(runtime(request), caller, client_id, kind=body.kind,
                                                      reason=body.reason)
    return json_response(Relation, relation, status=201 if created else 200)


@routes.post(
    "/v1/clients/{client_id}/relations/{relation_id}/end", summary="End the caller's unit's relation",
    permission=Permission.RELATION_END, body=Empty, responses={200: Relation}, errors=_NOT_FOUND,
)
async def end_relation(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    client_id, relation_id = path_uuid(request, "client_id"), path_uuid(request, "relation_id")
    await read_body(request, Empty)
    return json_response(Relation, await relations.end_relation(runtime(request), caller, client_id, relation_id))


@routes.get(
    "/v1/clients/{client_id}/relations", summary="Relations of units in the caller's own zone",
    permission=Permission.RELATION_LIST, responses={200: Page[Relation]}, errors=_NOT_FOUND, query=PAGE_QUERY,
)
async def list_relations(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    client_id = path_uuid(request, "client_id")
    after, limit = page_params(request)
    key = cursor.decode_time_id(after)
    page = await relations.page_in_zone(runtime(request), caller, client_id, after=key, limit=limit)
    return page_response(Relation, page, by_time_and_id("started_at"))
