"""Consents and emergency access: /v1/clients/{id}/consents, /v1/consents/{id}…, /v1/clients/{id}/emergency-access."""
from __future__ import annotations

from typing import cast, get_args

from aiohttp import web

from policies.consents import Status
from policies.roles import Permission

from ..domain import consents
from ..errors import ValidationFailed
from ..fhir import consent_resource
from . import cursor
from .context import authenticate, runtime
from .routing import PAGE_QUERY, Routes, by_time_and_id, json_response, page_params, page_response, path_uuid, read_body
from .schemas import ConsentIn, ConsentOut, EmergencyIn, EmergencyOut, Empty, FhirConsent, Page, ReasonIn

routes = Routes("consents")
_NOT_FOUND = ((404, "not_found"),)
_RULES = ((422, "same_zone"), (422, "invalid_period"), (422, "evidence_required"), (422, "minor_requires_guardian_or_maturity"),
          (422, "guardian_required"), (422, "client_came_of_age"), (422, "invalid_personal_number"))


@routes.post(
    "/v1/clients/{client_id}/consents",
    summary="Record a consent: active (pending until valid_from) when the holding zone records it, "
            "awaiting_confirmation when the receiving zone does",
    permission=Permission.CONSENT_GRANT, body=ConsentIn, responses={201: ConsentOut}, errors=(*_NOT_FOUND, *_RULES),
)
async def grant_consent(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    client_id = path_uuid(request, "client_id")
    body = await read_body(request, ConsentIn)
    return json_response(ConsentOut, await consents.grant(runtime(request), caller, client_id, body.command()),
                         status=201)


_STATUSES = get_args(Status)
_STATUS_QUERY = ("status", {"type": "string", "enum": list(_STATUSES)},
                 "only consents with this status now (awaiting_confirmation: those waiting for the holding zone)")


def _status_param(request: web.Request) -> Status | None:
    """The status filter, or None; 422 validation_failed for anything but a status."""
    value = request.query.get("status")
    if value is not None and value not in _STATUSES:
        raise ValidationFailed([{"field": "status", "message": f"must be one of {', '.join(_STATUSES)}"}])
    return cast("Status | None", value)  # None or one of _STATUSES, Status's values


@routes.get(
    "/v1/clients/{client_id}/consents", summary="The client's consent history from or to the caller's zone",
    permission=Permission.CONSENT_READ, responses={200: Page[ConsentOut]}, errors=_NOT_FOUND, query=(*PAGE_QUERY, _STATUS_QUERY),
)
async def list_consents(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    client_id = path_uuid(request, "client_id")
    after_cursor, limit = page_params(request)
    status_now = _status_param(request)
    after = cursor.decode_time_id(after_cursor)
    page = await consents.page(runtime(request), caller, client_id, after=after, limit=limit, status_now=status_now)
    return page_response(ConsentOut, page, by_time_and_id("recorded_at"))


@routes.get("/v1/consents/{consent_id}", summary="One consent", permission=Permission.CONSENT_READ,
            responses={200: ConsentOut}, errors=_NOT_FOUND)
async def read_consent(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    _, consent = await consents.read(runtime(request), caller, path_uuid(request, "consent_id"))
    return json_response(ConsentOut, consent)


@routes.post(
    "/v1/consents/{consent_id}/revoke", summary="Revoke a consent, in force for the very next request on every replica",
    permission=Permission.CONSENT_REVOKE, body=ReasonIn, responses={200: ConsentOut}, errors=_NOT_FOUND,
)
async def revoke_consent(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    consent_id = path_uuid(request, "consent_id")
    body = await read_body(request, ReasonIn)
    return json_response(ConsentOut, await consents.revoke(runtime(request), caller, consent_id, reason=body.reason))


@routes.post(
    "/v1/consents/{consent_id}/confirm",
    summary="Confirm, as a unit of the holding (from) zone, a consent the receiving zone recorded; it opens from now on",
    permission=Permission.CONSENT_CONFIRM, body=Empty, responses={200: ConsentOut},
    errors=(*_NOT_FOUND, (403, "not_holding_zone"), (409, "consent_revoked"), (409, "consent_expired")),
)
async def confirm_consent(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    consent_id = path_uuid(request, "consent_id")
    await read_body(request, Empty)
    return json_response(ConsentOut, await consents.confirm(runtime(request), caller, consent_id))


@routes.get(
    "/v1/consents/{consent_id}/fhir", summary="The consent as an HL7 FHIR R4 Consent resource",
    permission=Permission.CONSENT_READ, responses={200: FhirConsent}, errors=_NOT_FOUND, content_type="application/fhir+json",
)
async def read_consent_fhir(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    _, consent = await consents.read(runtime(request), caller, path_uuid(request, "consent_id"))
    resource = FhirConsent.model_validate(consent_resource(consent)).model_dump_json()
    return web.Response(body=resource, content_type="application/fhir+json")


@routes.post(
    "/v1/clients/{client_id}/emergency-access",
    summary="Open time-boxed emergency access (nödåtkomst) to one domain's records, flagged for review",
    permission=Permission.EMERGENCY_OPEN, body=EmergencyIn, responses={201: EmergencyOut},
    errors=(*_NOT_FOUND, (403, "emergency_not_permitted"), (422, "emergency_not_permitted")),
)
async def open_emergency(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    client_id = path_uuid(request, "client_id")
    body = await read_body(request, EmergencyIn)
    grant = await consents.open_emergency(runtime(request), caller, client_id, reason=body.reason, domain=body.domain)
    return json_response(EmergencyOut, grant, status=201)
