"""The OpenAPI document describes exactly the routes the server has, with auth and errors."""
from __future__ import annotations

import re

from service.app import endpoints

METHODS = {"get", "post", "patch", "put", "delete"}


async def test_spec_and_router_list_the_same_routes(client):
    response = await client.get("/v1/openapi.json")
    spec = await response.json()
    assert response.status == 200 and spec["openapi"].startswith("3.1")
    documented = {(method.upper(), path) for path, item in spec["paths"].items() for method in item if method in METHODS}
    served = set()
    for route in client.server.app.router.routes():
        if route.method in ("HEAD", "*") or route.resource.canonical.startswith("/ui"):
            continue  # /ui is the web interface (HTML), not the API
        served.add((route.method, route.resource.canonical))
    assert served == documented
    assert not any(path.startswith("/ui") for path in spec["paths"])


async def test_every_operation_documents_auth_and_errors(client):
    spec = await (await client.get("/v1/openapi.json")).json()
    problem_codes = set()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            assert operation["summary"] and operation["operationId"]
            statuses = set(operation["responses"])
            assert any(s.startswith("2") for s in statuses), (method, path)
            if path.startswith("/v1/") and path != "/v1/openapi.json":
                assert operation["security"] == [{"bearer": []}], (method, path)
                assert {"401", "403"} <= statuses, (method, path)
                assert operation["description"].startswith("Roles: ")
            else:
                assert operation["security"] == []
            if "requestBody" in operation:
                assert {"400", "413", "415", "422"} <= statuses, (method, path)
            for name in re.findall(r"\{(\w+)\}", path):
                assert any(p["name"] == name and p["in"] == "path" for p in operation["parameters"])
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/problem+json"]["schema"]
                    problem_codes.update(schema["allOf"][1]["properties"]["code"]["enum"])
    expected = {"invalid_token", "unknown_unit", "forbidden_role", "not_found", "conflict", "invalid_json",
                "invalid_request", "validation_failed", "invalid_personal_number", "too_large", "not_ready"}
    assert expected <= problem_codes


async def test_every_ref_resolves(client):
    spec = await (await client.get("/v1/openapi.json")).json()
    text = str(spec)
    for name in set(re.findall(r"#/components/schemas/([A-Za-z0-9_.\-]+)", text)):
        assert name in spec["components"]["schemas"], name


def test_every_declared_endpoint_is_unique():
    keys = [(e.method, e.path) for e in endpoints()]
    assert len(keys) == len(set(keys))


async def test_query_parameters_state_the_rules_their_handlers_enforce(client):
    """Enums, formats and patterns are in the document, so a client (or schemathesis) knows them."""
    spec = await (await client.get("/v1/openapi.json")).json()

    def schema(path: str, name: str, where: str = "query") -> dict:
        return next(p["schema"] for p in spec["paths"][path]["get"]["parameters"] if p["name"] == name and p["in"] == where)

    assert "document.read_content" in schema("/v1/audit/events", "action")["enum"]
    assert schema("/v1/audit/events", "decision")["enum"] == ["allow", "deny"]
    assert schema("/v1/audit/events", "client_id") == {"type": "string", "format": "uuid"}
    assert schema("/v1/audit/events", "since") == {"type": "string", "format": "date-time"}
    assert schema("/v1/audit/verify", "checkpoint_hash")["pattern"] == "^[0-9a-f]{64}$"
    assert schema("/v1/audit/emergency-reviews", "status")["enum"] == ["open", "reviewed", "all"]
    assert "sip" in schema("/v1/clients/{client_id}/documents", "category")["enum"]
    assert "care" in schema("/v1/documents/{document_id}", "Brygga-Purpose", "header")["enum"]
