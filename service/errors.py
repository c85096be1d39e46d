"""One exception hierarchy, each class with its HTTP status and stable `code`.

Every error the service answers is a class here, and its code is assigned here, not where it is
raised. Storage and domain code raise these; one middleware (service/http/middleware.py) turns them
into RFC 9457 problem+json. Messages never carry personal data.
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


class EmptyFile(BryggaError):
    """The file part has no bytes."""

    status, code, title = 400, "empty_file", "Empty file"


class ValidationFailed(BryggaError):
    """Well-formed JSON with wrong types or values; `errors` lists them per field."""

    status, code, title = 422, "validation_failed", "Validation failed"

    def __init__(self, errors: list[dict[str, str]], detail: str | None = None, *, code: str | None = None) -> None:
        super().__init__(detail or "; ".join(f"{e['field']}: {e['message']}" for e in errors), code=code, errors=errors)


class PersonalNumberRefused(ValidationFailed):
    """Not a valid personnummer or samordningsnummer."""

    code = "invalid_personal_number"


class EmergencyDomainNotPermitted(ValidationFailed):
    """Emergency access asked for a domain the policy does not let it open."""

    code = "emergency_not_permitted"


class BelowLegalMinimum(ValidationFailed):
    """A retention rule that would cull patient records sooner than ten years after the last entry (PDL 3:17)."""

    code = "below_legal_minimum"


class SameDomain(ValidationFailed):
    """A disclosure to a unit of the disclosing unit's own domain: OSL 25:12 / 26:9 is not that road."""

    code = "same_domain"


class DifferentZone(ValidationFailed):
    """A succession across zones (API-1.1 "Corrections and reorganisations"): crossing zones is never a
    reorganisation (OSL 25:1, 26:1)."""

    code = "different_zone"


class GroundNotMet(ValidationFailed):
    """A disclosure's ground does not hold for the client (`under_18` for a client of 18 or older)."""

    code = "ground_not_met"


class InvalidLifting(ValidationFailed):
    """A block lifting's terms break a rule across its fields or the settings (a consent lifting without its form,
    an emergency one with a form, a short reason or more than BRYGGA_EMERGENCY_HOURS)."""

    code = "invalid_lifting"


class ConsentRequired(ValidationFailed):
    """A SIP plan across zones without the client's consent naming `sip` for `coordination` between them."""

    code = "consent_required"


class DelayNotAllowed(ValidationFailed):
    """A social document released from a later date: only a health document's release may wait (API-1.1)."""

    code = "delay_not_allowed"


class EvidenceRequired(ValidationFailed):
    """A written consent without the signed form (a consent_form document of the client)."""

    code = "evidence_required"


class Unauthorized(BryggaError):
    """No valid token; answered with WWW-Authenticate."""

    status, code, title = 401, "invalid_token", "Invalid token"


class UnknownUnit(Unauthorized):
    """The token names a unit that does not exist or is inactive."""

    code, title = "unknown_unit", "Unknown or inactive unit"


class Forbidden(BryggaError):
    """The caller's roles do not allow this endpoint."""

    status, code, title = 403, "forbidden_role", "Forbidden for this role"


class NoOrganisation(Forbidden):
    """An auditor's or analyst's token names no organisation audited (claim `organisations`)."""

    code = "no_organisation"


class OwnEmergency(Forbidden):
    """No one reviews the emergency access they opened themself."""

    code = "own_emergency"


class NotOwningUnit(Forbidden):
    """The caller's unit sees the document but does not own it (shredding, blocking)."""

    code = "not_owning_unit"


class Minor(Forbidden):
    """A client under 18 gave an electronic consent themself (API-1.1 "The client's own view")."""

    code = "minor"


class NotHoldingZone(Forbidden):
    """Only a unit of the zone that holds the records confirms a consent to share them."""

    code = "not_holding_zone"


class EmergencyNotPermitted(Forbidden):
    """Units of the caller's domain may not open emergency access (BRYGGA_EMERGENCY_DOMAINS)."""

    code = "emergency_not_permitted"


class WholeLogOnly(Forbidden):
    """Verifying a held checkpoint is for the auditor of the whole log."""

    code = "whole_log_only"


class CsrfRefused(Forbidden):
    """A web form without the session's CSRF token."""

    code, title = "csrf", "Form refused"


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


class BlockedDocuments(Conflict):
    """A succession into a unit that already has an active relation with a client who has a blocked document at the
    predecessor (PDL 4:4): the move would lift the block against that unit; send "blocked_documents": "move"."""

    code = "blocked_documents"


class AlreadyReviewed(Conflict):
    """The emergency access has its verdict already; verdicts are final."""

    code = "already_reviewed"


class RetentionMinimum(Conflict):
    """A patient record younger than ten years is shredded only on an IVO decision (PDL 3:17, 8:4)."""

    code = "retention_minimum"


class ConsentRevoked(Conflict):
    """The consent was revoked: it cannot be confirmed."""

    code = "consent_revoked"


class ConsentExpired(Conflict):
    """The consent has expired: it cannot be confirmed."""

    code = "consent_expired"


class IdempotencyConflict(Conflict):
    """The Idempotency-Key was used before for other content."""

    code, title = "idempotency_conflict", "Idempotency key reused with other content"


class PlanClosed(Conflict):
    """The SIP plan is closed: it is read, never written again."""

    code, title = "plan_closed", "Plan closed"


class VersionConflict(BryggaError):
    """If-Match names a version of the SIP plan that is no longer its latest: another unit saved first."""

    status, code, title = 412, "version_conflict", "Version conflict"


class PreconditionRequired(BryggaError):
    """A SIP plan is saved only over the version the writer read: send If-Match."""

    status, code, title = 428, "precondition_required", "Precondition required"


class TooLarge(BryggaError):
    """The body is over the limit."""

    status, code, title = 413, "too_large", "Request body too large"


class UnsupportedMediaType(BryggaError):
    """The body's media type is not accepted here."""

    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class ContentTypeMismatch(UnsupportedMediaType):
    """The declared content type is not what the bytes are."""

    code, title = "content_type_mismatch", "Declared content type does not match the content"


class IntegrityError(BryggaError):
    """Stored ciphertext failed authentication: tampered or corrupt; nothing of it is returned."""

    status, code, title = 500, "integrity_error", "Stored data failed its integrity check"


class ServiceUnavailable(BryggaError):
    """A dependency (the database) is down; retry later."""

    status, code, title = 503, "service_unavailable", "Service unavailable"


class NotReady(ServiceUnavailable):
    """A readiness check failed; `checks` names which."""

    code, title = "not_ready", "Not ready"


class DatabaseUnavailable(ServiceUnavailable):
    """The database is down, restarting or out of resources: retry in a moment (Retry-After: 2)."""

    retry_after = 2


class PoolExhausted(DatabaseUnavailable):
    """No database connection became free within BRYGGA_DB_ACQUIRE_TIMEOUT: the caller retries instead of hanging."""


class IndicatorsBeingMade(ServiceUnavailable):
    """The year's indicator tables are being made (every period and scope of a large year takes minutes): the read
    waited BRYGGA_INDICATORS_WAIT seconds; the making goes on, and the same read later gets the table."""

    code, title = "indicators_being_made", "Indicator tables are being made"
    retry_after = 30


class StorageFull(ServiceUnavailable):
    """The database has no disk space left for this write; nothing of it was kept. An operator must free space."""

    code, title = "storage_full", "Storage full"
    retry_after = 30
