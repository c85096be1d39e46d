"""The audit log for auditors: events, export, verification, checkpoints, keys; the client's extract."""
from __future__ import annotations

import re
from contextlib import aclosing

from aiohttp import web

from policies.audit import EventFilter
from policies.roles import Permission

from ..audit import Action
from ..domain import audit_log
from ..errors import ValidationFailed
from . import cursor
from .context import authenticate, runtime
from .filters import event_filter
from .routing import (
    FREE_TEXT,
    INSTANT,
    PAGE_QUERY,
    Routes,
    by_seq,
    json_response,
    page_params,
    page_response,
    path_uuid,
    query_bool,
    write_within,
)
from .schemas import AccessLogPage, AuditEvent, CheckpointOut, Page, PublicKeys, VerifyOut

routes = Routes("audit")
NDJSON = "application/x-ndjson"

_EVENT_QUERY = (
    ("client_id", {"type": "string", "format": "uuid"}, "events about this client"),
    ("actor", FREE_TEXT, "events by this user (the token's sub)"),
    ("unit", FREE_TEXT, "events by users of this unit"),
    ("action", {"type": "string", "enum": [action.value for action in Action]}, "one audited action"),
    ("decision", {"type": "string", "enum": ["allow", "deny"]}, "allow or deny"),
    ("flagged", "boolean", "true: only emergency accesses; false: only the others"),
    ("since", INSTANT, "events at or after this instant"),
    ("until", INSTANT, "events before this instant"),
    *PAGE_QUERY,
)


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed([{"field": name, "message": message}])



def _filters(request: web.Request) -> EventFilter:
    return event_filter(request.query)


def _after_seq(after_cursor: str | None) -> int:
    if not after_cursor:
        return 0
    (seq,) = cursor.decode(after_cursor, length=1)
    if not seq.isdigit():
        raise _invalid("cursor", "not a cursor this endpoint issued")
    return int(seq)


def _wants_ndjson(request: web.Request) -> bool:
    return any(part.split(";")[0].strip() == NDJSON for part in request.headers.get("Accept", "").split(","))


@routes.get(
    "/v1/audit/events", summary="Audit events, oldest first; Accept: application/x-ndjson streams every match",
    permission=Permission.AUDIT_READ, responses={200: Page[AuditEvent]}, query=_EVENT_QUERY,
)
async def list_events(request: web.Request) -> web.StreamResponse:
    caller = await authenticate(request)
    filters = _filters(request)
    rt = runtime(request)
    if _wants_ndjson(request):
        # The stream holds a pool connection and a transaction: closed whatever ends it (a client that goes
        # away makes a write raise), or each abandoned export would keep its connection for good.
        async with aclosing(await audit_log.stream(rt, caller, filters)) as lines:
            response = web.StreamResponse(headers={"Content-Type": NDJSON, "Cache-Control": "no-store"})
            await response.prepare(request)
            if not await write_within(request, response, lines, rt.settings.body_chunk_timeout):
                return response  # a reader that took nothing was cut: else it would hold the connection and snapshot
        await response.write_eof()
        return response
    after_cursor, limit = page_params(request)
    return page_response(AuditEvent, await audit_log.page(rt, caller, filters, after=_after_seq(after_cursor), limit=limit),
                         by_seq)


@routes.get(
    "/v1/audit/verify", summary="Walk the hash chain and every signed checkpoint; name the first bad seq",
    permission=Permission.AUDIT_READ, responses={200: VerifyOut},
    errors=((403, "whole_log_only"), (422, "validation_failed")),
    query=(("checkpoint_seq", {"type": "integer", "minimum": 0},
            "a checkpoint (or head) you kept: its seq; the whole log's auditor only (organisations [\"*\"]), "
            "else 403 whole_log_only"),
           ("checkpoint_hash", {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "…and its hash (hex); the chain must still hold it, else truncated")),
)
async def verify(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    seq, chain_hash = request.query.get("checkpoint_seq"), request.query.get("checkpoint_hash")
    held = None
    if seq is not None or chain_hash is not None:
        if seq is None or not seq.isdigit():
            raise _invalid("checkpoint_seq", "a whole number, given together with checkpoint_hash")
        if chain_hash is None or not re.fullmatch(r"[0-9a-f]{64}", chain_hash):
            raise _invalid("checkpoint_hash", "64 lower-case hex digits, given together with checkpoint_seq")
        held = (int(seq), bytes.fromhex(chain_hash))
    return json_response(VerifyOut, await audit_log.verify(runtime(request), caller, held=held))


@routes.get(
    "/v1/audit/checkpoints", summary="Signed checkpoints of the chain head, oldest first",
    permission=Permission.AUDIT_READ, responses={200: Page[CheckpointOut]},
    query=(("latest", "boolean", "true: only the newest checkpoint (extension)"), *PAGE_QUERY),
)
async def list_checkpoints(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    after_cursor, limit = page_params(request)
    latest = query_bool(request, "latest") or False
    page = await audit_log.checkpoints(runtime(request), caller, after=_after_seq(after_cursor), limit=limit,
                                       latest=latest)
    return page_response(CheckpointOut, page, by_seq)


@routes.get(
    "/v1/audit/public-key", summary="The Ed25519 keys that verify checkpoints (current and earlier)",
    permission=Permission.AUDIT_READ, responses={200: PublicKeys},
)
async def public_key(request: web.Request) -> web.Response:
    await audit_log.read_keys(runtime(request), await authenticate(request))
    return json_response(PublicKeys, {"keys": audit_log.public_keys(runtime(request))})


@routes.get(
    "/v1/clients/{client_id}/access-log",
    summary="Who read the client's data: name, unit, organisation, when, what, on which basis (PDL 8:5)",
    permission=Permission.AUDIT_EXTRACT, responses={200: AccessLogPage}, errors=((404, "not_found"),),
    query=PAGE_QUERY,
)
async def access_log(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    client_id = path_uuid(request, "client_id")
    after_cursor, limit = page_params(request)
    page = await audit_log.access_log(runtime(request), caller, client_id, after=_after_seq(after_cursor), limit=limit)
    next_cursor = cursor.encode([str(part) for part in by_seq(page.items[-1])]) if page.more and page.items else None
    return json_response(AccessLogPage, {"items": page.items, "next_cursor": next_cursor,
                                         "archived_before": await audit_log.archived_before(runtime(request))})
