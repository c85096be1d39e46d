"""Route tables that carry their own documentation, and the small helpers handlers share.

Every route is declared once, with what the OpenAPI document needs (auth, body,
responses, errors); the app registers the handlers and service/openapi.py
describes them from the same declarations.
"""
from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, ValidationError

from policies.roles import Permission

from ..audit import Action
from ..domain.paging import Paged
from ..errors import InvalidJson, InvalidRequest, NotFound, UnsupportedMediaType, ValidationFailed
from . import cursor
from .filters import instant
from .schemas import Page

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One route and its documentation."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    permission: Permission | None = None  # None: public, no token
    body: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel] | str | None] = field(default_factory=dict)
    errors: tuple[tuple[int, str], ...] = ()
    # (name, type or JSON Schema, description): a schema when the handler accepts less than the bare type,
    # so the document states the rule the handler enforces (an enum, a format, a pattern).
    query: tuple[tuple[str, str | dict[str, Any], str], ...] = ()
    headers: tuple[tuple[str, str] | tuple[str, str, dict[str, Any]], ...] = ()  # request headers: (name, description[, schema])
    content_type: str = "application/json"  # of the success response
    also_content: tuple[str, ...] = ()  # other media types of the success response, chosen by Accept (text/csv)
    body_media: str = "application/json"
    # The audited action, where the permission's own (http.context) is not it: a refusal for the token's
    # unit is recorded under it.
    action: Action | None = None
    # Response headers of the success responses: (name, description, JSON Schema).
    response_headers: tuple[tuple[str, str, dict[str, Any]], ...] = ()

    @property
    def authenticated(self) -> bool:
        return self.permission is not None


class Routes:
    """A resource's route table; `@routes.get(...)` declares and documents a handler."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.endpoints: list[Endpoint] = []

    def route(self, method: str, path: str, *, summary: str, **meta: Any) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.endpoints.append(Endpoint(method, path, handler, summary, self.tag, **meta))
            return handler

        return register

    def get(self, path: str, **meta: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **meta)

    def post(self, path: str, **meta: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **meta)

    def put(self, path: str, **meta: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **meta)

    def patch(self, path: str, **meta: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **meta)

    def delete(self, path: str, **meta: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **meta)


async def read_body(request: web.Request, model: type[M]) -> M:
    """Parse and validate a JSON body: 400 invalid_json / invalid_request (unknown field), 422 validation_failed."""
    raw = await request.read()
    if not raw.strip():
        raw = b"{}"
    elif request.content_type not in ("application/json", "application/octet-stream"):
        raise UnsupportedMediaType("send the body as application/json")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested past Python's stack limit
        raise InvalidJson("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValidationFailed([{"field": "", "message": "the body must be a JSON object"}])
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):  # nested past pydantic's limit (200)
            raise InvalidJson("the body is not valid JSON (nested too deep)") from None
        raise body_error(exc) from None


def body_error(exc: ValidationError) -> Exception:
    # Only location and message: an error's input may be a personal number.
    errors = [{"field": ".".join(str(part) for part in error["loc"]), "message": error["msg"]} for error in exc.errors()]
    unknown = [e["field"] for e, raw in zip(errors, exc.errors(), strict=True) if raw["type"] == "extra_forbidden"]
    if unknown:
        return InvalidRequest(f"unknown field(s): {', '.join(unknown)}", fields=unknown)
    return ValidationFailed(errors)


def path_uuid(request: web.Request, name: str) -> UUID:
    """A UUID path parameter; anything else reads as not found (ids are not enumerable)."""
    try:
        return UUID(request.match_info[name])
    except ValueError:
        raise NotFound() from None


def json_response(model: type[BaseModel] | None, data: Any, *, status: int = 200) -> web.Response:
    """Serialize `data` through its documented model, so responses match the OpenAPI document."""
    body = model.model_validate(data).model_dump_json() if model is not None else json.dumps(data)
    return web.Response(body=body, status=status, content_type="application/json")


_LIMIT_MAX = 500


def page_params(request: web.Request) -> tuple[str | None, int]:
    """(cursor, limit) from the query; 422 validation_failed when limit is not 1..500."""
    raw = request.query.get("limit", "50")
    if not re.fullmatch(r"[0-9]{1,4}", raw) or not 1 <= int(raw) <= _LIMIT_MAX:
        raise ValidationFailed([{"field": "limit", "message": f"must be a whole number from 1 to {_LIMIT_MAX}"}])
    return request.query.get("cursor") or None, int(raw)


def page_response(model: type[BaseModel], page: Paged[dict[str, Any]], key: Callable[[dict[str, Any]], list[Any]]) -> web.Response:
    """A page in the contract's one shape, `{"items", "next_cursor"}`: the cursor is the last item's sort key
    (`key`), when more follow. Every listing answers through here."""
    next_cursor = cursor.encode([str(part) for part in key(page.items[-1])]) if page.more and page.items else None
    return json_response(Page[model], {"items": page.items, "next_cursor": next_cursor})  # type: ignore[valid-type]


def by_seq(item: dict[str, Any]) -> list[Any]:
    """The sort key of the audit log's listings."""
    return [item["seq"]]


def by_id(item: dict[str, Any]) -> list[Any]:
    """The sort key of a listing in id order (units)."""
    return [item["id"]]


def by_time_and_id(field: str) -> Callable[[dict[str, Any]], list[Any]]:
    """The sort key (timestamp `field`, id) of a listing in time order (http/cursor.py decode_time_id)."""
    return lambda item: [item[field].isoformat(), item["id"]]


PAGE_QUERY = (
    ("limit", "integer", "page size, 1 to 500 (default 50)"),
    ("cursor", "string", "opaque cursor from next_cursor of the previous page"),
)


# The OpenAPI schema of a query parameter query_instant reads: RFC 3339 date-time (an offset is required).
INSTANT = {"type": "string", "format": "date-time"}
# A free-text query value the database compares with stored text: anything but U+0000, which PostgreSQL cannot hold.
FREE_TEXT = {"type": "string", "pattern": "^[^\\u0000]*$"}


def query_bool(request: web.Request, name: str) -> bool | None:
    """A boolean query value (`true` or `false`, nothing else), or None; 422 validation_failed otherwise."""
    raw = request.query.get(name)
    if raw not in (None, "true", "false"):
        raise ValidationFailed([{"field": name, "message": "must be true or false"}])
    return None if raw is None else raw == "true"


def query_instant(request: web.Request, name: str) -> datetime | None:
    """An ISO 8601 instant with an offset from the query, in UTC; None when absent; 422 validation_failed otherwise."""
    return instant(request.query.get(name), name)  # one rule for instants, the API's and the form's


async def write_within(request: web.Request, response: web.StreamResponse, chunks: AsyncIterable[bytes],
                       seconds: float) -> bool:
    """Write `chunks` to a prepared streamed response, each within `seconds`; False when the client stopped reading.

    A client that takes nothing for BRYGGA_BODY_CHUNK_TIMEOUT is cut (its connection aborted), as an upload that
    stops sending is: else it holds a task, a socket and whatever the stream holds for as long as it likes.
    Errors of `chunks` itself propagate.
    """
    try:
        async for chunk in chunks:
            async with asyncio.timeout(seconds):
                await response.write(chunk)
    except TimeoutError:
        if request.transport is not None:
            request.transport.abort()
        return False
    return True
