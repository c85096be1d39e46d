"""Documents: streamed multipart upload, listing, metadata, streamed download, shredding, blocking."""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Iterator
from contextlib import aclosing, contextmanager
from typing import TypeVar
from uuid import UUID

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from pydantic import ValidationError

from crypto import DecryptionFailed
from policies.roles import Permission

from ..audit import Action, Caller
from ..domain import documents, versions
from ..errors import InvalidJson, InvalidRequest, RequestTimeout, TooLarge, UnsupportedMediaType, ValidationFailed
from . import cursor
from .context import authenticate, runtime
from .routing import (
    PAGE_QUERY,
    Routes,
    body_error,
    by_time_and_id,
    json_response,
    page_params,
    page_response,
    path_uuid,
    read_body,
    write_within,
)
from .schemas import (
    CATEGORIES,
    PURPOSES,
    CorrectionForm,
    CorrectionMetadataIn,
    Document,
    DocumentMetadataIn,
    DocumentVersions,
    Page,
    ReasonIn,
    ShredIn,
    UploadForm,
)

log = logging.getLogger("brygga.http.documents")
routes = Routes("documents")
_METADATA_LIMIT = 64 * 1024
_CHUNK = 64 * 1024
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,128}")
_NOT_FOUND = ((404, "not_found"),)
# What an upload's body may carry beyond the document (BRYGGA_MAX_DOCUMENT_BYTES): the metadata part and the
# multipart framing (boundaries, part headers; aiohttp allows a header line up to 8 KiB).
UPLOAD_FRAMING = _METADATA_LIMIT + 64 * 1024
T = TypeVar("T")


@contextmanager
def multipart_framing(what: str) -> Iterator[None]:
    """A malformed multipart body is the caller's error (400 invalid_request), never a 500.

    aiohttp raises ValueError for a missing or wrong boundary, a body that ends early or a second read after the
    end, LineTooLong for a part header line over 8 KiB (e.g. a 10,000-character filename), and
    RequestPayloadError / ContentEncodingError for a body it cannot decode.
    """
    try:
        yield
    except (ValueError, HttpProcessingError, RequestPayloadError):
        raise InvalidRequest(f"the multipart body is malformed ({what})") from None


async def body_read(awaitable: Awaitable[T], what: str, seconds: float | None = None) -> T:
    """One read of a multipart body: malformed is 400 invalid_request; nothing for `seconds` is 408 request_timeout."""
    try:
        async with asyncio.timeout(seconds):
            with multipart_framing(what):
                return await awaitable
    except TimeoutError:
        raise RequestTimeout(f"the upload stopped: nothing of its body came for {seconds:g} s") from None


async def next_part(reader: MultipartReader, what: str, seconds: float | None = None) -> BodyPartReader | MultipartReader | None:
    return await body_read(reader.next(), what, seconds)


M = TypeVar("M", DocumentMetadataIn, CorrectionMetadataIn)


async def _metadata(part: BodyPartReader | MultipartReader | None, seconds: float,
                    model: type[M] = DocumentMetadataIn) -> M:  # type: ignore[assignment]
    if not isinstance(part, BodyPartReader) or part.name != "metadata":
        raise InvalidRequest("the first part must be `metadata` (JSON), then `file`")
    raw = bytearray()
    while True:
        chunk = await body_read(part.read_chunk(8192), "metadata", seconds)
        if not chunk:
            break
        raw += chunk
        if len(raw) > _METADATA_LIMIT:
            raise InvalidRequest("the metadata part is too large")
    try:
        return model.model_validate_json(bytes(raw), strict=True)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise InvalidJson("the metadata part is not valid JSON") from None
        raise body_error(exc) from None


async def _file_chunks(reader: MultipartReader, part: BodyPartReader) -> AsyncIterator[bytes]:
    """The file part's bytes as they arrive (documents.create bounds the wait for each)."""
    while True:
        with multipart_framing("file"):
            chunk = await part.read_chunk(_CHUNK)
        if not chunk:
            break
        yield chunk
    if await next_part(reader, "after file") is not None:
        raise InvalidRequest("nothing may follow the `file` part")


def refuse_declared_too_large(request: web.Request, max_document_bytes: int) -> None:
    """413 too_large for a declared Content-Length no upload within the limit can have, before a byte is read.

    The body may exceed the document limit by the multipart framing: the metadata part (at most 64 KiB),
    boundaries and part headers (UPLOAD_FRAMING). A body without Content-Length (chunked) is held to the limit
    as it streams.
    """
    if request.content_length is not None and request.content_length > max_document_bytes + UPLOAD_FRAMING:
        raise TooLarge(f"the declared body is over the limit of {max_document_bytes} bytes for the document "
                       f"and {UPLOAD_FRAMING} for the multipart framing")


def _uuid_or_none(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None


@routes.post(
    "/v1/clients/{client_id}/documents", summary="Upload a document (multipart: metadata, then file), streamed and encrypted",
    permission=Permission.DOCUMENT_CREATE, body=UploadForm, body_media="multipart/form-data",
    headers=(("Idempotency-Key", "a retry with the same key, metadata and content returns the first document (to a "
              "caller who may read it)", {"type": "string", "pattern": f"^{_IDEMPOTENCY_KEY.pattern}$"}),),
    responses={201: Document, 200: Document},
    errors=((400, "empty_file"), (404, "not_found"), (408, "request_timeout"), (409, "idempotency_conflict"),
            (415, "content_type_mismatch")),
)
async def upload_document(request: web.Request) -> web.Response:
    """Checks in the contract's order: token, role (audited), path, headers, declared size, metadata, the file's head;
    only then does documents.create take a database connection (a client that stalls before holds none)."""
    caller = await authenticate(request)
    rt = runtime(request)
    await documents.gate_upload(rt, caller, _uuid_or_none(request.match_info["client_id"]))
    client_id = path_uuid(request, "client_id")
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidRequest("Idempotency-Key must be 1 to 128 visible ASCII characters")
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType("send the document as multipart/form-data")
    refuse_declared_too_large(request, rt.settings.max_document_bytes)
    seconds = rt.settings.body_chunk_timeout
    with multipart_framing("boundary"):
        reader = await request.multipart()
    metadata = await _metadata(await next_part(reader, "first part", seconds), seconds)
    part = await next_part(reader, "second part", seconds)
    if not isinstance(part, BodyPartReader) or part.name != "file":
        raise InvalidRequest("the second part must be `file`")
    upload = documents.Upload(category=metadata.category, title=metadata.title, declared_type=part.headers.get("Content-Type"),
                              chunks=_file_chunks(reader, part), idempotency_key=key)
    document, created = await documents.create(rt, caller, client_id, upload)
    return json_response(Document, document, status=201 if created else 200)


_PURPOSE_HEADER = (("Brygga-Purpose", "why the caller reads (default care); a consent opens only for its purposes",
                    {"type": "string", "enum": list(PURPOSES)}),)


@routes.get(
    "/v1/clients/{client_id}/documents", summary="The client's documents the caller may see, and only those",
    permission=Permission.DOCUMENT_LIST, responses={200: Page[Document]}, errors=_NOT_FOUND, headers=_PURPOSE_HEADER,
    query=(("category", {"type": "string", "enum": list(CATEGORIES)}, "only documents of this category"), *PAGE_QUERY),
)
async def list_documents(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    client_id = path_uuid(request, "client_id")
    after_cursor, limit = page_params(request)
    category = request.query.get("category")
    if category is not None and category not in CATEGORIES:
        raise ValidationFailed([{"field": "category", "message": f"must be one of {', '.join(CATEGORIES)}"}])
    after = cursor.decode_time_id(after_cursor)
    page = await documents.page(runtime(request), caller, client_id, category=category, after=after, limit=limit,
                                purpose=_purpose(request))
    return page_response(Document, page, by_time_and_id("created_at"))


@routes.get(
    "/v1/documents/{document_id}", summary="A document's metadata (a tombstone once shredded)",
    permission=Permission.DOCUMENT_READ_METADATA, responses={200: Document}, headers=_PURPOSE_HEADER,
    errors=((404, "not_found"), (422, "validation_failed")),  # 422: a Brygga-Purpose that is not one of the purposes
)
async def read_document(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    document = await documents.read_metadata(runtime(request), caller, path_uuid(request, "document_id"),
                                             purpose=_purpose(request))
    return json_response(Document, document)


def _purpose(request: web.Request) -> str:
    purpose = request.headers.get("Brygga-Purpose", "care").strip()
    if purpose not in PURPOSES:
        raise ValidationFailed([{"field": "Brygga-Purpose", "message": f"must be one of {', '.join(PURPOSES)}"}])
    return purpose


@routes.get(
    "/v1/documents/{document_id}/content", summary="The plaintext, streamed after each segment is authenticated",
    permission=Permission.DOCUMENT_READ_CONTENT,
    responses={200: "the document's bytes, with its stored Content-Type (one of the allowed types)"},
    content_type="*/*",  # whichever allowed type the document has; never anything else (API.md "Documents")
    headers=_PURPOSE_HEADER,
    errors=((404, "not_found"), (410, "shredded"), (422, "validation_failed"), (500, "integrity_error")),
)
async def read_content(request: web.Request) -> web.StreamResponse:
    caller = await authenticate(request, unit_checked_later=True)  # open_content's facts query checks the unit
    return await stream_content(request, caller, path_uuid(request, "document_id"), purpose=_purpose(request))


_CONTENT_HEADERS = {
    "Content-Disposition": "attachment",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    # Should a browser render it after all (a PDF that is also HTML): no script, no fetch, a unique origin.
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


async def _body(first: bytes, rest: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
    """The first segment's plaintext, then the rest's; closing it closes the rest (which stops reading batches)."""
    async with aclosing(rest):
        yield first
        async for segment in rest:
            yield segment


async def stream_content(request: web.Request, caller: Caller, document_id: UUID, *,
                         purpose: str | None) -> web.StreamResponse:
    """Decide, audit, then send the authenticated plaintext (the API and the web interface both answer so)."""
    rt = runtime(request)
    content = await documents.open_content(rt, caller, document_id, purpose=purpose)  # a tampered start is a clean 500
    headers = {"Content-Type": content.content_type, **_CONTENT_HEADERS}
    if content.rest is None:  # one segment, its connection already back: headers and body in one write
        return web.Response(body=content.first, headers=headers)
    async with aclosing(_body(content.first, content.rest)) as body:  # closed even if the client goes away
        response = web.StreamResponse(headers=headers)
        response.content_length = content.size
        await response.prepare(request)
        try:
            if not await write_within(request, response, body, rt.settings.body_chunk_timeout):
                log.warning("a download's client stopped reading; connection cut", extra={"document_id": str(document_id)})
                return response
        except DecryptionFailed:
            # Bytes already went out: never send unauthenticated ones, cut the connection instead.
            log.error("stored ciphertext failed authentication mid-stream", extra={"document_id": str(document_id)})
            await documents.record_integrity_failure(rt, caller, document_id)
            if request.transport is not None:
                request.transport.abort()
            return response
    await response.write_eof()
    return response


@routes.delete(
    "/v1/documents/{document_id}", summary="Crypto-shred: destroy the data key and content, keep a tombstone",
    permission=Permission.DOCUMENT_SHRED, body=ShredIn, responses={204: None},
    errors=((403, "not_owning_unit"), (404, "not_found"), (409, "retention_minimum")),
)
async def shred_document(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    document_id = path_uuid(request, "document_id")
    body = await read_body(request, ShredIn)
    await documents.shred(runtime(request), caller, document_id, reason=body.reason, ivo_decision=body.ivo_decision)
    return web.Response(status=204)


async def _set_blocked(request: web.Request, *, blocked: bool) -> web.Response:
    caller = await authenticate(request)
    document_id = path_uuid(request, "document_id")
    body = await read_body(request, ReasonIn)
    document = await documents.set_blocked(runtime(request), caller, document_id, blocked=blocked, reason=body.reason)
    return json_response(Document, document)


@routes.post(
    "/v1/documents/{document_id}/block", summary="Block (spärr) on the client's request: visible only inside the owning unit",
    permission=Permission.DOCUMENT_BLOCK, body=ReasonIn, responses={200: Document},
    errors=((403, "not_owning_unit"), (404, "not_found")),
)
async def block_document(request: web.Request) -> web.Response:
    return await _set_blocked(request, blocked=True)


@routes.post(
    "/v1/documents/{document_id}/unblock", summary="Lift the client's block",
    permission=Permission.DOCUMENT_BLOCK, action=Action.DOCUMENT_UNBLOCK, body=ReasonIn, responses={200: Document},
    errors=((403, "not_owning_unit"), (404, "not_found")),
)
async def unblock_document(request: web.Request) -> web.Response:
    return await _set_blocked(request, blocked=False)


@routes.post(
    "/v1/documents/{document_id}/corrections",
    summary="Correct a document by a new version (multipart: metadata with the reason, then optionally the new file); "
            "the old version is kept (PDL 3:14)",
    permission=Permission.DOCUMENT_CORRECT, body=CorrectionForm, body_media="multipart/form-data",
    responses={201: Document},
    errors=((400, "empty_file"), (403, "not_owning_unit"), (404, "not_found"), (408, "request_timeout"),
            (410, "shredded"), (415, "content_type_mismatch")),
)
async def correct_document(request: web.Request) -> web.Response:
    """Checks in the contract's order like an upload's: token, role (audited), path, declared size, metadata, the
    file's head; then versions.correct decides on the document (the owning unit's) and writes."""
    caller = await authenticate(request)
    rt = runtime(request)
    await versions.gate_correct(rt, caller, _uuid_or_none(request.match_info["document_id"]))
    document_id = path_uuid(request, "document_id")
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType("send the correction as multipart/form-data")
    refuse_declared_too_large(request, rt.settings.max_document_bytes)
    seconds = rt.settings.body_chunk_timeout
    with multipart_framing("boundary"):
        reader = await request.multipart()
    metadata = await _metadata(await next_part(reader, "first part", seconds), seconds, CorrectionMetadataIn)
    part = await next_part(reader, "second part", seconds)
    if part is not None and (not isinstance(part, BodyPartReader) or part.name != "file"):
        raise InvalidRequest("the second part, if any, must be `file`")
    correction = versions.Correction(
        reason=metadata.reason, title=metadata.title,
        declared_type=part.headers.get("Content-Type") if part is not None else None,
        chunks=_file_chunks(reader, part) if isinstance(part, BodyPartReader) else None)
    document = await versions.correct(rt, caller, document_id, correction)
    return json_response(Document, document, status=201)


@routes.get(
    "/v1/documents/{document_id}/versions",
    summary="Every version of the document, oldest first; the last is the latest (readable by whoever may read it; "
            "staff and unit managers only: a system gets 403 forbidden_role)",
    permission=Permission.DOCUMENT_READ_METADATA, action=Action.DOCUMENT_READ_METADATA,
    responses={200: DocumentVersions}, headers=_PURPOSE_HEADER,
    errors=((404, "not_found"), (422, "validation_failed")),
)
async def document_versions(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    found = await versions.versions(runtime(request), caller, path_uuid(request, "document_id"),
                                    purpose=_purpose(request))
    return json_response(DocumentVersions, found)


@routes.get(
    "/v1/documents/{document_id}/versions/{number}/content",
    summary="One version's content (an old one stays readable by whoever may read the document)",
    permission=Permission.DOCUMENT_READ_CONTENT,
    responses={200: "the version's bytes, with its stored Content-Type (one of the allowed types)"},
    content_type="*/*", headers=_PURPOSE_HEADER,
    errors=((404, "not_found"), (410, "shredded"), (422, "validation_failed"), (500, "integrity_error")),
)
async def read_version_content(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    document_id = path_uuid(request, "document_id")
    number = _version_number(request.match_info["number"])
    content_type, body = await versions.version_content(runtime(request), caller, document_id, number,
                                                        purpose=_purpose(request))
    return web.Response(body=body, headers={"Content-Type": content_type, **_CONTENT_HEADERS})


def _version_number(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 1_000_000:
        raise ValidationFailed([{"field": "number", "message": "must be a version number from 1"}])
    return int(text)
