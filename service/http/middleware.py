"""Request ids, RFC 9457 problem+json for every error, metrics and one access-log line a request."""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import re
import time

import asyncpg
from aiohttp import ClientConnectionResetError, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler
from aiohttp.web_protocol import RequestPayloadError

from crypto import DecryptionFailed

from ..errors import (
    BryggaError,
    DatabaseUnavailable,
    IntegrityError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    StorageFull,
    TooLarge,
    ValidationFailed,
)
from ..logs import request_id_var
from ..metrics import child, http_latency, http_requests
from .context import REQUEST_ID, over_tls

log = logging.getLogger("brygga.http")
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_REQUEST_IDS = itertools.count(1)
_PROCESS_PREFIX = os.urandom(8).hex()  # made anew in each process (a fork included: see _new_prefix)


def _new_prefix() -> None:
    global _PROCESS_PREFIX, _REQUEST_IDS
    _PROCESS_PREFIX, _REQUEST_IDS = os.urandom(8).hex(), itertools.count(1)


os.register_at_fork(after_in_child=_new_prefix)


def new_request_id() -> str:
    """32 hex digits, unique without a system call: a random per-process prefix and a counter.

    A request id only has to be unique (logs and audit events quote it); it is not a secret, and a
    client may send its own in X-Request-Id.
    """
    return f"{_PROCESS_PREFIX}{next(_REQUEST_IDS):016x}"
# Errors that mean the database is unreachable right now, not that the request was wrong. InternalClientError is
# what asyncpg raises when the server ended a pooled connection (a FATAL on shutdown) after the pool handed it out
# but before the socket closed (MagicStack/asyncpg#1069): the connection is dropped on release, a retry gets a new one.
#
# Only connection errors: an OSError of a connection the pool could not make is already DatabaseUnavailable
# (database.BoundedPool), and any other OSError or timeout (a file, a socket to someone else) is a 500 to look
# into, not a "retry shortly". ConnectionError stays: a request has two connections, the client's
# (_client_gone) and the database's.
_DATABASE_DOWN = (ConnectionError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
                  asyncpg.InterfaceError, asyncpg.InternalClientError, asyncpg.exceptions.AdminShutdownError,
                  asyncpg.exceptions.CrashShutdownError)
# The access log's status for a request whose client went away before its answer was sent (nginx's 499).
CLIENT_CLOSED = 499


def _route(request: web.Request) -> str:
    """The matched route's template, for logs and metrics; "unmatched" when no route matched."""
    resource = request.match_info.route.resource
    return resource.canonical if resource else "unmatched"


def _client_gone(request: web.Request, exc: BaseException) -> bool:
    """Whether `exc` is the client's connection failing, not the database's.

    A write to a client that went away raises a ConnectionError (aiohttp: ClientConnectionResetError on a
    closed transport, ConnectionError("Connection lost") from a write waiting to drain), which is in
    _DATABASE_DOWN. It is the client's when this request's own transport is gone or closing; a failing
    database socket leaves the client's transport open, so that stays "database unavailable".
    """
    if not isinstance(exc, ConnectionError):
        return False
    transport = request.transport
    return isinstance(exc, ClientConnectionResetError) or transport is None or transport.is_closing()


# The response a handler already started streaming (set by response_headers when it is prepared).
_STARTED = web.RequestKey("started_response", web.StreamResponse)


_INTERNAL = "an internal error occurred; quote the request id"
_OUT_OF_RANGE = ValidationFailed(
    [{"field": "", "message": "a value is out of range or holds a character that cannot be stored (such as U+0000)"}])


class InFlight:
    """The requests being handled, so a shutdown can let them finish before it closes connections."""

    def __init__(self) -> None:
        self.count = 0
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if not self.count:
            self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """From now on answer with `Connection: close`; wait until no request is in flight. False on timeout."""
        self.draining = True
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
            return True
        except TimeoutError:
            return False


IN_FLIGHT = web.AppKey("in_flight", InFlight)


def problem_response(error: BryggaError, request_id: str) -> web.Response:
    """An RFC 9457 problem+json response for `error`."""
    body = {
        "type": f"urn:brygga:problem:{error.code}",
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "code": error.code,
        "request_id": request_id,
        **error.extra,
    }
    response = web.Response(status=error.status, body=json.dumps(body), content_type="application/problem+json")
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def out_of_resources(exc: asyncpg.exceptions.InsufficientResourcesError, request_id: str) -> web.Response:
    """The answer to SQLSTATE class 53: the database's state, which passes, unless a configured limit is exceeded.

    53100 (disk full): the statement's transaction rolled back, nothing of it is kept, and reads stop too, as
    every read writes its audit event first. 53400 (a limit such as temp_file_limit that this request's query
    exceeds) fails the same way on every retry, so it is a 500. The rest (out of memory, too many connections
    for the login) pass: 503 with Retry-After.
    """
    if isinstance(exc, asyncpg.exceptions.DiskFullError):
        log.error("database out of disk space")
        response = problem_response(StorageFull("the database is out of disk space; retry once space is freed"), request_id)
    elif isinstance(exc, asyncpg.exceptions.ConfigurationLimitExceededError):
        log.error("database limit exceeded", extra={"sqlstate": exc.sqlstate, "error": str(exc)})
        response = problem_response(BryggaError(_INTERNAL), request_id)
    else:
        log.warning("database out of resources", extra={"error": type(exc).__name__, "sqlstate": exc.sqlstate})
        response = problem_response(DatabaseUnavailable("the database is out of resources; retry shortly"), request_id)
    return response


def _cut(request: web.Request, started: web.StreamResponse, instead: web.StreamResponse) -> web.StreamResponse:
    """A streamed response failed after it was prepared: a second response would land inside its body.

    Cut the connection instead, so the client sees a body shorter than its Content-Length (a failed download),
    never another response's bytes in it; hand back the started response, so aiohttp writes nothing more.
    """
    log.warning("response cut mid-stream", extra={"status": started.status, "instead": instead.status})
    if request.transport is not None:
        request.transport.abort()
    return started


def _from_http_exception(exc: web.HTTPException) -> BryggaError:
    if isinstance(exc, web.HTTPNotFound):
        return NotFound("no such resource")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return MethodNotAllowed(f"{exc.method} is not allowed here; allowed: {', '.join(sorted(exc.allowed_methods))}")
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return TooLarge("the request body is over the limit")
    if 400 <= exc.status < 500:
        return InvalidRequest(exc.reason)
    error = BryggaError(exc.reason)
    error.status = exc.status
    return error


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the request an id, answer every failure as problem+json, count and log it."""
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if incoming and _SAFE_REQUEST_ID.fullmatch(incoming) else new_request_id()
    request[REQUEST_ID] = request_id
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    in_flight = request.app.get(IN_FLIGHT)  # the app's own: config_dict builds a ChainMapProxy per call
    if in_flight is not None:
        in_flight.enter()
    status = None  # what the access log and metrics say, when not the response's own status
    response: web.StreamResponse
    try:
        try:
            response = await handler(request)
        except BryggaError as exc:
            response = problem_response(exc, request_id)
        except web.HTTPRedirection as exc:  # a redirect is an answer, not a problem: it keeps its Location
            response = web.Response(status=exc.status, headers={
                name: exc.headers[name] for name in ("Location",) if name in exc.headers})
        except web.HTTPException as exc:
            response = problem_response(_from_http_exception(exc), request_id)
            if isinstance(exc, web.HTTPMethodNotAllowed):
                response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))  # RFC 9110 15.5.6: a 405 names them
        except (RequestPayloadError, HttpProcessingError) as exc:
            # A body aiohttp cannot read (Content-Encoding that does not decode, a chunked body cut short).
            response = problem_response(InvalidRequest(f"the request body could not be read: {type(exc).__name__}"),
                                        request_id)
        except (asyncpg.DataError, OverflowError) as exc:
            # A value from the request the database cannot hold: U+0000 in text, a date before year 1 once in
            # UTC, an integer past int64 (in a cursor, a query parameter, a body). The request is wrong, not
            # the server; handlers should refuse these where they parse, this keeps a miss from being a 500.
            log.warning("request value refused by the database", extra={"error": type(exc).__name__})
            response = problem_response(_OUT_OF_RANGE, request_id)
        except _DATABASE_DOWN as exc:
            if _client_gone(request, exc):
                # Nothing to answer and nothing wrong with the service: the access log says 499 (client closed).
                status = CLIENT_CLOSED
                response = request.get(_STARTED) or web.Response(status=CLIENT_CLOSED)
            else:
                log.warning("database unavailable", extra={"error": type(exc).__name__})
                response = problem_response(DatabaseUnavailable("the database is unavailable; retry shortly"), request_id)
        except asyncpg.exceptions.InsufficientResourcesError as exc:
            response = out_of_resources(exc, request_id)
        except DecryptionFailed:
            log.error("stored ciphertext failed authentication", extra={"route": _route(request)})
            response = problem_response(IntegrityError("stored data failed its integrity check"), request_id)
        except Exception:
            log.exception("unhandled error")
            response = problem_response(BryggaError(_INTERNAL), request_id)
        streamed = request.get(_STARTED)
        if streamed is not None and response is not streamed:
            response = _cut(request, streamed, response)
        route = _route(request)
        elapsed = time.perf_counter() - started
        status = status or response.status
        child(http_requests, request.method, route, str(status)).inc()
        child(http_latency, request.method, route).observe(elapsed)
        if log.isEnabledFor(logging.INFO):
            log.info("request", extra={"method": request.method, "route": route, "status": status,
                                       "ms": round(elapsed * 1000, 2)})
        if in_flight is not None and in_flight.draining and not response.prepared:
            response.force_close()  # shutting down: the client must not send another request on this connection
        return response
    finally:
        if in_flight is not None:
            in_flight.leave()
        request_id_var.reset(token)


# What a response says of the software behind it: nothing (aiohttp's default names Python's and its own version).
SERVER = "brygga"
_CACHEABLE = "/ui/static/"  # versioned file names (append_version): a new version is a new URL
# A year; no includeSubDomains: other hosts of the organisation's domain are not this service's to decide for.
HSTS = "max-age=31536000"


async def response_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: what every response, streamed ones too, carries and does not carry.

    `X-Request-Id`. No response is stored by a cache or sniffed as another type, none names its software:
    JSON and pages carry names, titles and personal numbers: `Cache-Control: no-store` (unless the handler
    chose, and except the versioned static files) and `X-Content-Type-Options: nosniff` on every response,
    problems and downloads included. aiohttp has set `Server` by now; it is dropped.

    Over TLS (here or at a proxy: BRYGGA_SECURE_COOKIES=always) `Strict-Transport-Security`: a browser that
    was here once never asks this host over plain HTTP again, so a network attacker has no plain-HTTP answer
    to plant a cookie with or to strip TLS from (insider attack 11, finding 2). Browsers ignore it over HTTP.
    """
    request[_STARTED] = response
    headers = response.headers
    request_id = request.get(REQUEST_ID)
    if request_id:
        headers["X-Request-Id"] = request_id
    headers.pop("Server", None)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    if over_tls(request):
        headers.setdefault("Strict-Transport-Security", HSTS)
    if not request.path.startswith(_CACHEABLE):
        headers.setdefault("Cache-Control", "no-store")
