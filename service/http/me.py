"""The client's own view: /v1/me…, and /v1/documents/{id}/release for the owning unit's staff (API-1.1)."""
from __future__ import annotations

from aiohttp import web

from policies.roles import Permission

from ..audit import Action
from ..domain import me
from . import cursor
from .audit import _after_seq
from .context import authenticate, runtime
from .documents import stream_content
from .routing import PAGE_QUERY, Routes, by_seq, by_time_and_id, json_response, page_params, page_response, path_uuid, read_body
from .schemas import ConsentOut, Me, MeAccessLogEntry, MeConsentIn, MeDocument, MeRevokeIn, Page, ReleaseIn, ReleaseOut

routes = Routes("me")
_NOT_FOUND = ((404, "not_found"),)
_RULES = ((422, "same_zone"), (422, "invalid_period"))


@routes.get("/v1/me", summary="The caller's own record (empty when never registered)", permission=Permission.ME_READ,
            responses={200: Me})
async def read_me(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    return json_response(Me, await me.record(runtime(request), caller))


@routes.get("/v1/me/consents", summary="Every consent of the caller's, from and to every zone, oldest first",
            permission=Permission.ME_READ, action=Action.CONSENT_READ, responses={200: Page[ConsentOut]},
            query=PAGE_QUERY)
async def list_my_consents(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    after_cursor, limit = page_params(request)
    page = await me.consents(runtime(request), caller, after=cursor.decode_time_id(after_cursor), limit=limit)
    return page_response(ConsentOut, page, by_time_and_id("recorded_at"))


@routes.post("/v1/me/consents", summary="Give an electronic consent (adults only)", permission=Permission.ME_CONSENT_GRANT,
             action=Action.CONSENT_GRANT, body=MeConsentIn, responses={201: ConsentOut},
             errors=((403, "minor"), *_NOT_FOUND, *_RULES))
async def give_my_consent(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    body = await read_body(request, MeConsentIn)
    return json_response(ConsentOut, await me.give_consent(runtime(request), caller, body.command()), status=201)


@routes.post("/v1/me/consents/{consent_id}/revoke",
             summary="Revoke one of the caller's consents, in force for staff's very next request",
             permission=Permission.ME_CONSENT_REVOKE, action=Action.CONSENT_REVOKE, body=MeRevokeIn,
             responses={200: ConsentOut}, errors=_NOT_FOUND)
async def revoke_my_consent(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    consent_id = path_uuid(request, "consent_id")
    body = await read_body(request, MeRevokeIn)
    return json_response(ConsentOut, await me.revoke_consent(runtime(request), caller, consent_id, reason=body.reason))


@routes.get("/v1/me/access-log", summary="Every access to the caller's records, allowed or denied, oldest first",
            permission=Permission.ME_ACCESS_LOG, responses={200: Page[MeAccessLogEntry]}, query=PAGE_QUERY)
async def my_access_log(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    after_cursor, limit = page_params(request)
    page = await me.access_log(runtime(request), caller, after=_after_seq(after_cursor), limit=limit)
    return page_response(MeAccessLogEntry, page, by_seq)


@routes.get("/v1/me/documents", summary="The caller's documents their owning units released to them",
            permission=Permission.ME_DOCUMENTS, action=Action.DOCUMENT_LIST, responses={200: Page[MeDocument]},
            query=PAGE_QUERY)
async def my_documents(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    after_cursor, limit = page_params(request)
    page = await me.documents(runtime(request), caller, after=cursor.decode_time_id(after_cursor), limit=limit)
    return page_response(MeDocument, page, by_time_and_id("visible_from"))


@routes.get("/v1/me/documents/{document_id}/content",
            summary="A released document's content, streamed after each segment is authenticated",
            permission=Permission.ME_DOCUMENTS, action=Action.DOCUMENT_READ_CONTENT,
            responses={200: "the document's bytes, with its stored Content-Type (one of the allowed types)"},
            content_type="*/*", errors=(*_NOT_FOUND, (410, "shredded"), (500, "integrity_error")))
async def my_document_content(request: web.Request) -> web.StreamResponse:
    caller = await authenticate(request)
    return await stream_content(request, caller, path_uuid(request, "document_id"), purpose=None)


@routes.post("/v1/documents/{document_id}/release",
             summary="Release a document to its client's own view (the owning unit; a health document from a date)",
             permission=Permission.DOCUMENT_RELEASE, body=ReleaseIn, responses={200: ReleaseOut},
             errors=((403, "not_owning_unit"), *_NOT_FOUND, (410, "shredded"), (422, "delay_not_allowed")))
async def release_document(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    document_id = path_uuid(request, "document_id")
    body = await read_body(request, ReleaseIn)
    released = await me.release(runtime(request), caller, document_id, visible_from=body.visible_from)
    return json_response(ReleaseOut, released)
