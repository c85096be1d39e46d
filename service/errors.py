"""One exception hierarchy, each class with its HTTP status and stable `code`.

Storage and domain code raise these; one middleware (service/http/middleware.py)
turns them into RFC 9457 problem+json. Messages never carry personal data.
"""
from __future__ import annotations

from typing import Any


class BryggaError(Exception):
    """Base: an error with an HTTP status and a machine-readable code."""

    status = 500
    code = "internal_error"
    title = "Internal error"
    retry_after: int | None = None  # seconds; sent as Retry-After when set

    def __init__(self, detail: str | None = None, *, code: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        if code is not None:
            self.code = code
        self.extra = extra
        super().__init__(self.detail)


class InvalidRequest(BryggaError):
    """The request is malformed (unknown field, bad header, bad query)."""

    status, code, title = 400, "invalid_request", "Invalid request"


class InvalidJson(BryggaError):
    """The body is not JSON."""

    status, code, title = 400, "invalid_json", "Malformed JSON"


class ValidationFailed(BryggaError):
    """Well-formed JSON with wrong types or values; `errors` lists them per field."""

    status, code, title = 422, "validation_failed", "Validation failed"

    def __init__(self, errors: list[dict[str, str]], detail: str | None = None, *, code: str | None = None) -> None:
        super().__init__(detail or "; ".join(f"{e['field']}: {e['message']}" for e in errors), code=code, errors=errors)


class Unauthorized(BryggaError):
    """No valid token; answered with WWW-Authenticate."""

    status, code, title = 401, "invalid_token", "Invalid token"


class UnknownUnit(Unauthorized):
    """The token names a unit that does not exist or is inactive."""

    code, title = "unknown_unit", "Unknown or inactive unit"


class Forbidden(BryggaError):
    """The caller's roles do not allow this endpoint."""

    status, code, title = 403, "forbidden_role", "Forbidden for this role"


class NotFound(BryggaError):
    """Not there, or not visible to the caller (the two are indistinguishable)."""

    status, code, title = 404, "not_found", "Not found"


class Gone(BryggaError):
    """The document was shredded: its tombstone remains, its content does not."""

    status, code, title = 410, "shredded", "Shredded"


class MethodNotAllowed(BryggaError):
    """The path exists but not with this method."""

    status, code, title = 405, "method_not_allowed", "Method not allowed"


class RequestTimeout(BryggaError):
    """The client stopped sending the body it began (BRYGGA_BODY_CHUNK_TIMEOUT); nothing of the request was kept."""

    status, code, title = 408, "request_timeout", "Request timeout"


class Conflict(BryggaError):
    """The request conflicts with the current state."""

    status, code, title = 409, "conflict", "Conflict"


class TooLarge(BryggaError):
    """The body is over the limit."""

    status, code, title = 413, "too_large", "Request body too large"


class UnsupportedMediaType(BryggaError):
    """The body's media type is not accepted here."""

    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class IntegrityError(BryggaError):
    """Stored ciphertext failed authentication: tampered or corrupt; nothing of it is returned."""

    status, code, title = 500, "integrity_error", "Stored data failed its integrity check"


class ServiceUnavailable(BryggaError):
    """A dependency (the database) is down; retry later."""

    status, code, title = 503, "service_unavailable", "Service unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    """The database is down, restarting or out of resources: retry in a moment (Retry-After: 2)."""

    retry_after = 2


class PoolExhausted(DatabaseUnavailable):
    """No database connection became free within BRYGGA_DB_ACQUIRE_TIMEOUT: the caller retries instead of hanging."""


class StorageFull(ServiceUnavailable):
    """The database has no disk space left for this write; nothing of it was kept. An operator must free space."""

    code, title = "storage_full", "Storage full"
    retry_after = 30
