"""Request ids, RFC 9457 problem+json for every error, metrics and one access-log line a request."""
from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid

import asyncpg
from aiohttp import web

from crypto import DecryptionFailed

from ..errors import BryggaError, IntegrityError, InvalidRequest, MethodNotAllowed, NotFound, ServiceUnavailable, TooLarge
from ..logs import request_id_var
from ..metrics import http_latency, http_requests
from .context import REQUEST_ID

log = logging.getLogger("brygga.http")
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Errors that mean the database is unreachable right now, not that the request was wrong.
_DATABASE_DOWN = (OSError, asyncio.TimeoutError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
                  asyncpg.InterfaceError, asyncpg.exceptions.AdminShutdownError, asyncpg.exceptions.CrashShutdownError)


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
    return response


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
async def request_context(request: web.Request, handler) -> web.StreamResponse:
    """Give the request an id, answer every failure as problem+json, count and log it."""
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    try:
        try:
            response = await handler(request)
        except BryggaError as exc:
            response = problem_response(exc, request_id)
        except web.HTTPException as exc:
            response = problem_response(_from_http_exception(exc), request_id)
        except _DATABASE_DOWN as exc:
            log.warning("database unavailable", extra={"error": type(exc).__name__})
            response = problem_response(ServiceUnavailable("the database is unavailable; retry shortly"), request_id)
            response.headers["Retry-After"] = "2"
        except DecryptionFailed:
            log.error("stored ciphertext failed authentication", extra={"route": request.match_info.route.resource.canonical})
            response = problem_response(IntegrityError("stored data failed its integrity check"), request_id)
        except Exception:
            log.exception("unhandled error")
            response = problem_response(BryggaError("an internal error occurred; quote the request id"), request_id)
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
        elapsed = time.perf_counter() - started
        http_requests.labels(request.method, route, str(response.status)).inc()
        http_latency.labels(request.method, route).observe(elapsed)
        log.info(
            "request",
            extra={"method": request.method, "route": route, "status": response.status, "ms": round(elapsed * 1000, 2)},
        )
        return response
    finally:
        request_id_var.reset(token)


async def add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response, streamed ones too, carries X-Request-Id."""
    request_id = request.get(REQUEST_ID)
    if request_id:
        response.headers["X-Request-Id"] = request_id
