"""HTTP hygiene: problem+json everywhere, request ids, body errors, health, readiness, metrics, logs."""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import uuid
from dataclasses import replace
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from service.app import create_app
from service.embedded import EmbeddedPostgres
from service.http.context import RUNTIME
from service.http.middleware import IN_FLIGHT, request_context
from service.logs import JsonFormatter


def _assert_problem(body: dict, status: int, code: str) -> None:
    assert body["status"] == status and body["code"] == code
    assert body["type"] and body["title"] and body["detail"] and body["request_id"]


async def test_unknown_route_and_method_are_problems(client, api):
    response = await client.get("/v1/nothing-here")
    assert response.content_type == "application/problem+json"
    _assert_problem(await response.json(), 404, "not_found")
    response = await client.delete("/v1/units", headers=api.admin)
    assert response.content_type == "application/problem+json"
    _assert_problem(await response.json(), 405, "method_not_allowed")


async def test_oversized_body_is_413(client, api):
    response = await client.post("/v1/units", headers={**api.admin, "Content-Type": "application/json"},
                                 data=b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}')
    assert response.content_type == "application/problem+json"
    _assert_problem(await response.json(), 413, "too_large")


async def test_malformed_json_and_wrong_media_type(client, api):
    response = await client.post("/v1/units", headers={**api.admin, "Content-Type": "application/json"}, data=b'{"id": ')
    _assert_problem(await response.json(), 400, "invalid_json")
    response = await client.post("/v1/units", headers={**api.admin, "Content-Type": "application/json"}, data=b"[1, 2]")
    _assert_problem(await response.json(), 422, "validation_failed")
    response = await client.post("/v1/units", headers={**api.admin, "Content-Type": "text/plain"}, data=b'{"id": "x"}')
    _assert_problem(await response.json(), 415, "unsupported_media_type")


async def test_deeply_nested_json_is_400_not_a_crash(client, api):
    """50,000 levels of nesting blow Python's recursion limit in json.loads: a client error, not a 500."""
    json_headers = {**api.admin, "Content-Type": "application/json"}
    past_pydantic = b'{"id":' + b"[" * 300 + b"]" * 300 + b"}"  # json.loads takes it, pydantic's parser (200) not
    for deep in (b"[" * 50_000 + b"]" * 50_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, past_pydantic):
        response = await client.post("/v1/units", headers=json_headers, data=deep)
        _assert_problem(await response.json(), 400, "invalid_json")
    await api.unit("malmo-iof")
    staff = api.staff("malmo-iof")
    client_id = (await api.register(staff))["id"]
    form = aiohttp.FormData()
    form.add_field("metadata", '{"category":' * 4_000 + "1" + "}" * 4_000, content_type="application/json")
    form.add_field("file", b"%PDF-1.4 hello", filename="a.pdf", content_type="application/pdf")
    response = await client.post(f"/v1/clients/{client_id}/documents", headers=staff, data=form)
    _assert_problem(await response.json(), 400, "invalid_json")
    # the cursor is JSON too (base64url): one nested past the limit is not a cursor of ours
    deep_cursor = base64.urlsafe_b64encode(b"[" * 3000 + b"]" * 3000).decode().rstrip("=")
    response = await client.get("/v1/units", headers=api.admin, params={"cursor": deep_cursor})
    _assert_problem(await response.json(), 422, "validation_failed")
    response = await client.get(f"/v1/clients/{client_id}/documents", headers=staff, params={"cursor": deep_cursor})
    _assert_problem(await response.json(), 422, "validation_failed")


async def test_a_redirect_raised_by_a_handler_keeps_its_location():
    """The error middleware turns exceptions into problems; a redirect is not one: 302 with Location, no body."""
    async def moved(request):
        raise web.HTTPFound("/elsewhere")

    app = web.Application(middlewares=[request_context])
    app.router.add_get("/moved", moved)
    async with TestClient(TestServer(app)) as test_client:
        response = await test_client.get("/moved", allow_redirects=False)
        assert (response.status, response.headers["Location"]) == (302, "/elsewhere")
        assert response.content_type != "application/problem+json"


async def test_every_response_is_no_store_nosniff_and_names_no_software(client, api):
    """Names, titles and personal numbers travel in JSON: no cache may keep them, no browser may sniff them."""
    await api.unit("malmo-iof")
    staff = api.staff("malmo-iof")
    person = await api.register(staff)
    await api.relation(staff, person["id"])
    form = aiohttp.FormData()
    form.add_field("metadata", json.dumps({"category": "journal_note", "title": "Anteckning"}), content_type="application/json")
    form.add_field("file", b"%PDF-1.4 hello", filename="a.pdf", content_type="application/pdf")
    uploaded = await client.post(f"/v1/clients/{person['id']}/documents", headers=staff, data=form)
    assert uploaded.status == 201
    document = await uploaded.json()
    answers = [uploaded,
               await client.get(f"/v1/clients/{person['id']}", headers=staff),
               await client.get(f"/v1/clients/{person['id']}/documents", headers=staff),
               await client.get(f"/v1/documents/{document['id']}/content", headers=staff),
               await client.get("/v1/units", headers=api.admin),
               await client.get("/v1/units"),  # 401 problem
               await client.get("/v1/nothing-here"),  # 404 outside any route
               await client.get("/v1/openapi.json"),
               await client.get("/healthz"),
               await client.get("/ui/sign-in"),
               await client.get("/ui/clients", allow_redirects=False)]
    for response in answers:
        where = f"{response.method} {response.url.path} {response.status}"
        assert response.headers.get("Cache-Control") == "no-store", where
        assert response.headers.get("X-Content-Type-Options") == "nosniff", where
        assert "Server" not in response.headers, where
    assert {r.status for r in answers} >= {200, 201, 303, 401, 404}


async def _raw(client, request: bytes) -> tuple[bytes, bytes]:
    """Send `request` as bytes on a new connection; the response's head and body (the server closes after it)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
        return head, await asyncio.wait_for(reader.readexactly(length), 10)
    finally:
        writer.close()


async def test_an_oversized_authorization_header_is_a_problem_that_does_not_echo_the_token(client):
    """aiohttp refused a header over 8190 bytes with text/plain quoting its first 100 bytes (the token's start).

    A token just under the limit is still an ordinary 401 problem."""
    secret = "eyJTOKENSTART" + "A" * 64
    for size, status, code in ((9 * 1024, 400, "invalid_request"), (20 * 1024, 400, "invalid_request")):
        token = (secret + "B" * size)[:size]
        head, body = await _raw(client, b"GET /v1/units HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                        b"Authorization: Bearer " + token.encode() + b"\r\n\r\n")
        assert re.match(rb"HTTP/1\.[01] %d " % status, head), head  # aiohttp's parser errors answer as HTTP/1.0
        assert b"application/problem+json" in head and b"nosniff" in head and b"no-store" in head
        assert b"aiohttp" not in head and b"Python" not in head
        problem = json.loads(body)
        assert (problem["status"], problem["code"]) == (status, code)
        assert b"TOKENSTART" not in body and b"AAAA" not in body and b"Bearer" not in body
    head, body = await _raw(client, b"GET /v1/units HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                    b"Authorization: Bearer " + b"A" * 8000 + b"\r\n\r\n")
    assert re.match(rb"HTTP/1\.1 401 ", head) and json.loads(body)["code"] == "invalid_token"
    head, body = await _raw(client, b"NOT HTTP AT ALL\r\n\r\n")
    assert re.match(rb"HTTP/1\.[01] 400 ", head), head
    assert json.loads(body)["code"] == "invalid_request" and b"aiohttp" not in head


async def test_request_id_is_echoed_when_safe_and_generated_otherwise(client):
    response = await client.get("/healthz", headers={"X-Request-Id": "clinic-42.abc"})
    assert response.headers["X-Request-Id"] == "clinic-42.abc"
    for unsafe in ("has space", "x" * 65, "<script>", "åäö"):
        response = await client.get("/healthz", headers={"X-Request-Id": unsafe})
        assert response.headers["X-Request-Id"] != unsafe and len(response.headers["X-Request-Id"]) == 32
    response = await client.get("/v1/units")
    body = await response.json()
    assert body["request_id"] == response.headers["X-Request-Id"]


async def test_healthz(client):
    response = await client.get("/healthz")
    assert (response.status, await response.json()) == (200, {"status": "ok"})


async def test_readyz_ok_then_names_failing_checks(client, db):
    response = await client.get("/readyz")
    assert response.status == 200, await response.text()  # which check failed, when one does (a loaded CI run: once)
    assert (await response.json())["checks"] == {"database": "ok", "migrations": "ok", "keyring": "ok"}
    await db.execute("DELETE FROM schema_migrations WHERE version = 1")
    response = await client.get("/readyz")
    body = await response.json()
    _assert_problem(body, 503, "not_ready")
    assert body["checks"]["migrations"].startswith("pending: 0001_init.sql") and body["checks"]["database"] == "ok"
    client.server.app[RUNTIME].pool.terminate()
    body = await (await client.get("/readyz")).json()
    assert body["status"] == 503 and body["checks"]["database"].startswith("unreachable")


async def test_readyz_says_not_ready_while_draining(client):
    in_flight = client.server.app[IN_FLIGHT]
    in_flight.draining = True  # what SIGTERM sets (serve's graceful shutdown)
    try:
        body = await (await client.get("/readyz")).json()
    finally:
        in_flight.draining = False
    _assert_problem(body, 503, "not_ready")
    assert body["checks"] == {"database": "ok", "migrations": "ok", "keyring": "ok", "shutdown": "draining"}
    assert (await client.get("/readyz")).status == 200


async def test_database_down_is_503_problem(client, api):
    client.server.app[RUNTIME].pool.terminate()
    response = await client.get("/v1/units", headers=api.admin)
    _assert_problem(await response.json(), 503, "service_unavailable")
    assert response.headers["Retry-After"]


async def test_database_out_of_connections_is_503_problem(settings, db, tokens):
    """SQLSTATE class 53 besides a full disk (here 53300, too many connections for the login) is the server's
    state, not the request's: 503 service_unavailable with Retry-After, not a 500."""
    login = f"brygga_limited_{uuid.uuid4().hex[:8]}"
    await db.execute(f"CREATE ROLE {login} LOGIN CONNECTION LIMIT 2 IN ROLE brygga_app")
    try:
        url = urlsplit(settings.database_url)
        limited = replace(settings, database_url=url._replace(netloc=f"{login}@{url.netloc.rpartition('@')[2]}").geturl())
        async with TestClient(TestServer(create_app(limited))) as client:
            pool = client.server.app[RUNTIME].pool
            held = [await pool.acquire(), await pool.acquire()]  # the two the pool opened: a request needs a third
            try:
                response = await client.get("/v1/units", headers=tokens.auth(sub="admin-1", roles=["admin"]))
                _assert_problem(await response.json(), 503, "service_unavailable")
                assert response.headers["Retry-After"]
            finally:
                for conn in held:
                    await pool.release(conn)
            assert (await client.get("/v1/units", headers=tokens.auth(sub="admin-1", roles=["admin"]))).status == 200
    finally:
        await db.execute(f"DROP ROLE {login}")


async def test_metrics_on_loopback_only(client, settings):
    await client.get("/healthz")
    response = await client.get("/metrics")
    text = await response.text()
    assert response.status == 200 and response.content_type == "text/plain"
    assert 'brygga_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    import ipaddress

    client.server.app[RUNTIME].settings = replace(settings, metrics_allow=(ipaddress.ip_network("10.0.0.0/8"),))
    assert (await client.get("/metrics")).status == 404


async def test_logs_are_json_with_request_id_and_no_personal_data(client, api, caplog):
    await api.unit("malmo-iof")
    caplog.set_level(logging.INFO)
    staff = api.staff("malmo-iof")
    await client.post("/v1/clients", headers={**staff, "X-Request-Id": "trace-1"},
                      json={"personal_number": "19121212-1212", "name": "Tolvan Tolvansson"})
    await client.post("/v1/clients", headers=staff, json={"personal_number": "19121212-1213", "name": "Tolvan Tolvansson"})
    lines = [JsonFormatter().format(record) for record in caplog.records]
    entries = [json.loads(line) for line in lines]
    assert any(entry.get("request_id") == "trace-1" and entry["message"] == "request" and entry["status"] == 201 for entry in entries)
    for line in lines:
        for secret in ("121212", "1212-121", "Tolvan"):
            assert secret not in line, line


async def test_only_connection_errors_are_service_unavailable():
    """503 `service_unavailable` says "retry shortly": it is for the database's connection only. A file that
    cannot be read, or a timeout of something else, is a 500 to look into (it was 503 for any OSError)."""
    async def failing(request: web.Request) -> web.Response:
        raise {"file": PermissionError(13, "Permission denied", "/srv/brygga/x"), "timeout": TimeoutError(),
               "connection": ConnectionRefusedError(111, "Connection refused")}[request.match_info["kind"]]

    app = web.Application(middlewares=[request_context])
    app.router.add_get("/fail/{kind}", failing)
    async with TestClient(TestServer(app)) as client:
        answers = {}
        for kind in ("file", "timeout", "connection"):
            response = await client.get(f"/fail/{kind}")
            answers[kind] = (response.status, (await response.json())["code"])
    assert answers == {"file": (500, "internal_error"), "timeout": (500, "internal_error"),
                       "connection": (503, "service_unavailable")}


async def test_a_pool_that_cannot_connect_says_the_database_is_unavailable(tmp_path):
    """A free slot whose connection must be made anew (the server went away) fails as DatabaseUnavailable."""
    from service.database import create_pool
    from service.errors import DatabaseUnavailable

    server = EmbeddedPostgres(tmp_path / "pg")
    dsn = server.start()
    pool = await create_pool(dsn, min_size=1, max_size=2, role=None, acquire_timeout=5)
    try:
        server.stop()
        await pool.expire_connections()
        with pytest.raises(DatabaseUnavailable):
            async with pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
    finally:
        pool.terminate()
