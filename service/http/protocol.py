"""The adapter to aiohttp's HTTP protocol layer: the answers given before the app sees a request.

aiohttp answers a request its parser refuses (a header over `max_field_size`, a request line over
`max_line_size`, anything that is not HTTP) from `RequestHandler.handle_error`, outside the app: no
middleware, no on_response_prepare. Its answer is text/plain echoing the refused line's first 100 bytes
(for an oversized Authorization header, the token's start) and names the software,
`Server: Python/3.11 aiohttp/3.x`; its log line carries the same echo. `install()` replaces that one method
with `handle_error` below: problem+json without the echo, a log line with the error's kind only, and a
neutral `Server` (aiohttp adds the header after this point, unless one is set: the app's responses drop it
in middleware.response_headers).

Checked against the pinned aiohttp (3.14) with raw sockets in tests/integration/test_http.py; the method's
signature there is (request, status=500, exc=None, message=None), and it must raise ConnectionError when
part of a response was already sent, as aiohttp's does.
"""
from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, LineTooLong

from ..errors import BryggaError, InvalidRequest, ServiceUnavailable
from .middleware import SERVER, new_request_id, problem_response

log = logging.getLogger("brygga.http")

# aiohttp's parser limits stay at their defaults (8190 bytes a header field or the request line): the same
# limit applies to a multipart part's headers, where a longer one (a 10,000-character file name) is refused.


def handle_error(self: web.RequestHandler, request: web.BaseRequest, status: int = 500,
                 exc: BaseException | None = None, message: str | None = None) -> web.StreamResponse:
    """A problem+json answer for a request aiohttp could not parse or hand over; closes the connection.

    `message` is aiohttp's text, which may quote the request (a header's first 100 bytes): never used.
    """
    if request.writer.output_size > 0:  # aiohttp's contract: a response already started cannot be replaced
        raise ConnectionError("Response is sent already, cannot send another response with the error message")
    if status >= 500:
        log.error("request failed in the HTTP layer", extra={"status": status}, exc_info=exc)
        error = ServiceUnavailable("the request took too long; retry") if status == 504 else BryggaError(
            "an internal error occurred; quote the request id")
        error.status = status
    else:
        kind = type(exc).__name__ if exc is not None else "unknown"
        (log.debug if isinstance(exc, BadHttpMethod) else log.info)(
            "request refused by the HTTP parser", extra={"error": kind, "status": status})
        detail = ("a header or the request line is too long" if isinstance(exc, LineTooLong)
                  else "the request is not valid HTTP")
        error = InvalidRequest(detail)
        error.status = status
    request_id = new_request_id()
    response = problem_response(error, request_id)
    response.headers.update({"X-Request-Id": request_id, "Server": SERVER, "X-Content-Type-Options": "nosniff",
                             "Cache-Control": "no-store"})
    response.force_close()
    return response


def install() -> None:
    """Answer parser errors with handle_error above, in every aiohttp server of this process; idempotent."""
    web.RequestHandler.handle_error = handle_error  # type: ignore[method-assign]
