"""The OpenAPI 3.1 document, built from the route tables so it cannot drift from the routes.

Besides what each route declares, the errors every route of a kind can answer
are added here once: 401/403 for authenticated routes (and 403 no_organisation
where an auditor's token must name organisations), 400/413/415/422 for routes
with a body, 422 for paginated routes, 500/503 for every /v1 route.
"""
from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from policies.audit import ORGANISATION_PERMISSIONS
from policies.roles import roles_allowed

from .http.routing import Endpoint
from .http.schemas import Problem

OPENAPI = web.AppKey("openapi", bytes)  # the document as served (JSON), built once a process
_TOKEN_CLAIMS = (
    "A JWT from the installation's identity provider: iss, aud, exp, sub, roles (staff, unit_manager, system, "
    "admin, auditor, analyst), unit (every role but admin, analyst and auditor), name. An auditor's or analyst's "
    "token carries `organisations`: a non-empty list of the organisation ids it audits, or exactly [\"*\"] for "
    "the installation's own security officer; without it (or with an empty or malformed one) every call that "
    "reads the audit log is 403 no_organisation. The auditor sees events whose actor or whose document or "
    "consent belongs to one of those organisations, and their emergency grants; chain status (ok, checked, "
    "first bad seq, problem, head seq), checkpoints (seq, at, key id) and public keys whole, but chain hashes "
    "and checkpoint signatures only with [\"*\"] (null otherwise: they would test guesses of withheld fields), "
    "and verifying a held checkpoint is 403 whole_log_only without it. Signed by a key of the issuer's JWKS "
    "(BRYGGA_OIDC_ISSUER's discovery document, or the BRYGGA_JWKS file) with RS256, ES256 or EdDSA; the claims "
    "named above may be renamed (BRYGGA_CLAIM_SUB, BRYGGA_CLAIM_UNIT, BRYGGA_CLAIM_ROLES) and the roles claim's "
    "values mapped to roles (BRYGGA_ROLE_MAP; then only mapped values count; a roles claim other than `roles` "
    "needs the map). An ID token is no API token: a token carrying `nonce`, or whose `azp` is the web sign-in's "
    "client (BRYGGA_OIDC_CLIENT_ID), is refused (401 invalid_token).")
_REF = "#/components/schemas/{model}"


def _implied_errors(endpoint: Endpoint) -> list[tuple[int, str]]:
    errors = list(endpoint.errors)
    if endpoint.authenticated:
        errors += [(401, "invalid_token"), (401, "unknown_unit"), (403, "forbidden_role")]
    if endpoint.permission in ORGANISATION_PERMISSIONS:
        errors += [(403, "no_organisation")]
    if endpoint.body is not None:
        errors += [(400, "invalid_json"), (400, "invalid_request"), (413, "too_large"), (415, "unsupported_media_type"),
                   (422, "validation_failed")]
    if any(name == "limit" for name, _, _ in endpoint.query):
        errors += [(422, "validation_failed")]
    if endpoint.path.startswith("/v1/") and endpoint.authenticated:
        errors += [(500, "internal_error"), (503, "service_unavailable"), (503, "storage_full")]
    return errors


def _models(endpoints: list[Endpoint]) -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {"Problem": Problem}
    for endpoint in endpoints:
        candidates = [endpoint.body, *endpoint.responses.values()]
        for model in candidates:
            if isinstance(model, type) and issubclass(model, BaseModel):
                found[model.__name__] = model
    return list(found.values())


def _parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name in re.findall(r"\{(\w+)\}", endpoint.path):
        schema: dict[str, Any] = {"type": "string"} if name == "unit_id" else {"type": "string", "format": "uuid"}
        if name == "number":  # a document version's number (API-1.1 "Corrections")
            schema = {"type": "integer", "minimum": 1, "maximum": 1_000_000}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    for name, description, *header_schema in endpoint.headers:
        params.append({"name": name, "in": "header", "required": False, "description": description,
                       "schema": dict(header_schema[0]) if header_schema else {"type": "string"}})
    for name, kind, description in endpoint.query:
        schema = dict(kind) if isinstance(kind, dict) else {"type": kind}
        if name == "limit":
            schema |= {"minimum": 1, "maximum": 500, "default": 50}
        params.append({"name": name, "in": "query", "required": False, "description": description, "schema": schema})
    return params


def _operation(endpoint: Endpoint, refs: dict[type[BaseModel], dict[str, Any]]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.handler.__name__,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "responses": {},
    }
    if endpoint.permission is not None:  # endpoint.authenticated
        roles = ", ".join(sorted(roles_allowed(endpoint.permission)))
        operation["security"] = [{"bearer": []}]
        operation["description"] = f"Roles: {roles}."
    else:
        operation["security"] = []
    if params := _parameters(endpoint):
        operation["parameters"] = params
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": any(field.is_required() for field in endpoint.body.model_fields.values()),
            "content": {endpoint.body_media: {"schema": refs[endpoint.body]}},
        }
    for status, model in sorted(endpoint.responses.items()):
        if status == 204:
            operation["responses"]["204"] = {"description": "done; no body"}
        elif isinstance(model, type):
            content = {endpoint.content_type: {"schema": refs[model]}}
            content.update({media: {"schema": {"type": "string"}} for media in endpoint.also_content})
            operation["responses"][str(status)] = {"description": model.__doc__ or model.__name__, "content": content}
            if endpoint.response_headers:
                operation["responses"][str(status)]["headers"] = {
                    name: {"description": description, "schema": dict(schema)}
                    for name, description, schema in endpoint.response_headers}
        else:
            schema: dict[str, Any] = ({"type": "object"} if endpoint.content_type == "application/json"
                                      else {"type": "string", "format": "binary"})
            content = {endpoint.content_type: {"schema": schema}}
            operation["responses"][str(status)] = {"description": model or "", "content": content}
    by_status: dict[int, list[str]] = defaultdict(list)
    for status, code in _implied_errors(endpoint):
        if code not in by_status[status]:
            by_status[status].append(code)
    for status, codes in sorted(by_status.items()):
        schema = {"allOf": [refs[Problem], {"properties": {"code": {"enum": codes}}}]}
        response: dict[str, Any] = {
            "description": f"codes: {', '.join(codes)}",
            "content": {"application/problem+json": {"schema": schema}},
        }
        if status == 401:
            response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        if status == 503 and "service_unavailable" in codes:
            response["headers"] = {"Retry-After": {
                "description": "seconds to wait before retrying (the database is unreachable or no connection "
                               "became free within BRYGGA_DB_ACQUIRE_TIMEOUT"
                               + ("; indicators_being_made: the year's tables are being made" if
                                  "indicators_being_made" in codes else "") + ")",
                "schema": {"type": "string", "pattern": "^[0-9]+$"}}}
        operation["responses"][str(status)] = response
    return operation


def build_openapi(endpoints: list[Endpoint], *, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document for `endpoints`."""
    models = _models(endpoints)
    refs_by_key, top = models_json_schema([(model, "validation") for model in models], ref_template=_REF)
    refs = {model: refs_by_key[(model, "validation")] for model in models}
    paths: dict[str, dict[str, Any]] = defaultdict(dict)
    for endpoint in endpoints:
        paths[endpoint.path][endpoint.method.lower()] = _operation(endpoint, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Brygga",
            "version": version,
            "description": "Secure documents and consent across the secrecy boundary between social services and health care. "
                           "Every response carries `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`. "
                           "A request that HTTP parsing refuses (a header, an Authorization header included, or the "
                           "request line over 8190 bytes) is 400 `invalid_request`, problem+json that does not quote "
                           "the request.",
        },
        "paths": dict(paths),
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                           "description": _TOKEN_CLAIMS}},
        },
    }
