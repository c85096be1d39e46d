"""Service endpoints: /healthz, /readyz, /metrics, /v1/openapi.json."""
from __future__ import annotations

import asyncio
import ipaddress

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from crypto import KeyRingError

from ..database import pending_migrations
from ..errors import NotFound, NotReady
from ..openapi import OPENAPI
from .context import runtime
from .middleware import IN_FLIGHT
from .routing import Routes, json_response
from .schemas import Health, Ready

routes = Routes("service")


@routes.get("/healthz", summary="Liveness: 200 while the process runs", responses={200: Health})
async def healthz(request: web.Request) -> web.Response:
    return json_response(Health, {"status": "ok"})


@routes.get(
    "/readyz", summary="Readiness: database reachable, migrations current, key ring loaded, not shutting down",
    responses={200: Ready}, errors=((503, "not_ready"),),
)
async def readyz(request: web.Request) -> web.Response:
    rt = runtime(request)
    checks = {"database": "ok", "migrations": "ok", "keyring": "ok"}
    try:
        _ = rt.keyring  # re-read when its file changed; a broken ring is "not ready", never a 500
    except KeyRingError as exc:
        checks["keyring"] = f"failed: {exc}"
    try:
        async with asyncio.timeout(2):
            async with rt.pool.acquire() as conn:
                pending = await pending_migrations(conn)
        if pending:
            checks["migrations"] = f"pending: {', '.join(pending)}"
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database is "not ready", never a 500
        checks["database"] = f"unreachable: {type(exc).__name__}"
        checks["migrations"] = "unknown"
    in_flight = request.config_dict.get(IN_FLIGHT)
    if in_flight is not None and in_flight.draining:
        # SIGTERM came: the listener is closed, but a balancer polling on a kept-alive connection must stop sending.
        checks["shutdown"] = "draining"
    failing = sorted(name for name, state in checks.items() if state != "ok")
    if failing:
        raise NotReady(f"failing checks: {', '.join(failing)}", checks=checks)
    return json_response(Ready, {"status": "ready", "checks": checks})


@routes.get(
    "/metrics", summary="Prometheus metrics (loopback and BRYGGA_METRICS_ALLOW only)",
    responses={200: "Prometheus text format"}, errors=((404, "not_found"),), content_type="text/plain",
)
async def metrics(request: web.Request) -> web.Response:
    allowed = runtime(request).settings.metrics_allow
    try:
        remote = ipaddress.ip_address(request.remote or "")
    except ValueError:
        remote = None
    if remote is None or not any(remote in network for network in allowed):
        raise NotFound("no such resource")
    response = web.Response(body=generate_latest())
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return response


@routes.get("/v1/openapi.json", summary="This OpenAPI 3.1 document", responses={200: "the OpenAPI document"})
async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI], content_type="application/json")
