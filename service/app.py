"""The app factory: settings → keys → database → runtime → routes.

Resources are opened and closed in cleanup_ctx, in that order and back, so a
failed start leaves nothing running and a shutdown stops the embedded database.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from crypto import FileKeyProvider
from crypto.pkcs11_provider import Pkcs11KeyProvider, read_pin

from . import __version__, indicator_schedule, retention_schedule, ui
from .audit_chain_sealer import AuditChainSealer
from .auth import ClaimMapping, KeySource, StaticKeys, TokenVerifier, load_jwks
from .database import (
    APP_ROLE,
    DATABASE_NAME,
    connect_options,
    create_pool,
    ensure_database,
    migrate,
    with_database,
    with_user,
)
from .devkeys import ensure_dev_keys
from .embedded import EmbeddedPostgres, keep_running
from .http import (
    audit,
    audit_review,
    blocks,
    clients,
    consents,
    disclosures,
    documents,
    followup,
    indicators,
    me,
    protocol,
    retention,
    sip,
    system,
    units,
)
from .http.context import ATTEMPTED, RUNTIME, attempted_actions
from .http.middleware import IN_FLIGHT, InFlight, request_context, response_headers
from .http.routing import Endpoint
from .oidc import IssuerKeys
from .openapi import OPENAPI, build_openapi
from .runtime import KeyRingHolder, Runtime, utc_now
from .settings import Settings
from .store.blobs import open_blob_store

log = logging.getLogger("brygga.app")

JSON_BODY_LIMIT = 1024 * 1024  # JSON bodies; documents stream through their own limit
ROUTE_TABLES = (system.routes, units.routes, clients.routes, documents.routes, consents.routes, disclosures.routes,
                blocks.routes, audit.routes, audit_review.routes, retention.routes, sip.routes, me.routes,
                followup.routes, indicators.routes)


def endpoints() -> list[Endpoint]:
    """Every declared route, in declaration order."""
    return [endpoint for table in ROUTE_TABLES for endpoint in table.endpoints]


@functools.cache
def openapi_json() -> bytes:
    """The OpenAPI document as GET /v1/openapi.json serves it, built once a process: the routes are declared at
    import, and building it (pydantic's schemas) took a third of a second of every app made (the test suite makes
    one per test)."""
    return json.dumps(build_openapi(endpoints(), version=__version__)).encode()


async def open_database(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """The DSN the service logs in with, starting the embedded server when DATABASE_URL is unset (see _open_database)."""
    dsn, _, embedded = await _open_database(settings)
    return dsn, embedded


async def _open_database(settings: Settings) -> tuple[str, str, EmbeddedPostgres | None]:
    """The DSNs the service and the owner log in with, starting the embedded server when DATABASE_URL is unset.

    Migrations run first, as the owner: the embedded server's superuser, or
    BRYGGA_MIGRATION_DATABASE_URL (else DATABASE_URL). The embedded server's
    application role then gets a login, so the service logs in as it. `owner`: the owner's DSN instead
    (a maintenance command, `audit archive`).
    """
    embedded = None
    if settings.database_url:
        dsn = settings.database_url
        owner_dsn = settings.migration_database_url or dsn
    else:
        embedded = EmbeddedPostgres(settings.data_dir / "postgres")
        server_dsn = await asyncio.to_thread(embedded.start)
        await ensure_database(server_dsn, DATABASE_NAME)
        owner_dsn = with_database(server_dsn, DATABASE_NAME)
        dsn = with_user(owner_dsn, APP_ROLE)
    try:
        conn = await asyncpg.connect(owner_dsn)
        try:
            applied = await migrate(conn)
            if embedded is not None:
                await conn.execute(f"ALTER ROLE {APP_ROLE} LOGIN")
        finally:
            await conn.close()
    except BaseException:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
        raise
    if applied:
        log.info("migrations applied", extra={"migrations": applied})
    return dsn, owner_dsn, embedded


@contextlib.asynccontextmanager
async def database(settings: Settings, *, owner: bool = False) -> AsyncIterator[str]:
    """open_database for a command that runs and ends: the DSN; an embedded server is stopped after the block.

    `owner`: the owner's login (BRYGGA_MIGRATION_DATABASE_URL, else DATABASE_URL; the embedded server's superuser)
    instead of the service's, for maintenance only the owner may do (`keys reseal`).
    """
    dsn, owner_dsn, embedded = await _open_database(settings)
    try:
        yield owner_dsn if owner else dsn
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


def key_provider(settings: Settings) -> FileKeyProvider | Pkcs11KeyProvider:
    """The key ring file's provider, or with BRYGGA_PKCS11_MODULE the HSM's (KEKs and epoch keys in the token)."""
    file = FileKeyProvider(settings.effective_keyring_path)
    if settings.pkcs11_module is None or settings.pkcs11_pin_file is None:
        return file
    return Pkcs11KeyProvider(file, module=settings.pkcs11_module, token_label=settings.pkcs11_token,
                             pin=read_pin(settings.pkcs11_pin_file))


def open_keys(settings: Settings, http: aiohttp.ClientSession | None = None) -> tuple[KeyRingHolder, TokenVerifier]:
    """The key ring (re-read when its file changes) and the token verifier; development keys made first if asked.

    With BRYGGA_OIDC_ISSUER the verifier's keys are the issuer's (IssuerKeys over `http`; the service
    starts fetching them); without `http` (the CLI, which verifies no tokens) it holds none.
    """
    ensure_dev_keys(settings)
    keys = KeyRingHolder(key_provider(settings), settings.effective_keyring_path)
    mapping = ClaimMapping(sub=settings.claim_sub, unit=settings.claim_unit, roles=settings.claim_roles,
                           personal_number=settings.claim_personal_number,
                           role_map=dict(settings.role_map) if settings.role_map is not None else None)
    source: KeySource
    if settings.oidc_issuer is not None:
        source = IssuerKeys(http, settings.oidc_issuer) if http is not None else StaticKeys({})
        issuer = settings.oidc_issuer
    else:
        source, issuer = StaticKeys(load_jwks(settings.effective_jwks_path)), settings.jwt_issuer
    verifier = TokenVerifier(source, issuer=issuer, audience=settings.jwt_audience, mapping=mapping,
                             web_client_id=settings.oidc_client_id)
    return keys, verifier


def create_app(settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> web.Application:
    """A Brygga application; resources open when it starts."""
    protocol.install()  # requests aiohttp's parser refuses are answered as problems too, without echoing them
    app = web.Application(middlewares=[request_context], client_max_size=JSON_BODY_LIMIT)
    app[IN_FLIGHT] = InFlight()  # the serve command waits on it before closing connections (graceful shutdown)
    for endpoint in endpoints():
        app.router.add_route(endpoint.method, endpoint.path, endpoint.handler, name=endpoint.handler.__name__)
    app[OPENAPI] = openapi_json()
    app[ATTEMPTED] = attempted_actions(endpoints())
    ui.setup(app)
    app.on_response_prepare.append(response_headers)

    # One cleanup context per resource, opened in this order and closed in the reverse: a resource that
    # fails to open leaves only those before it to close, each closed once.
    app.cleanup_ctx.extend([_keys(settings), _database(settings), _pool(settings), _runtime(settings, clock)])
    return app


_KEYS = web.AppKey("keys", tuple)
_HTTP: web.AppKey[aiohttp.ClientSession | None] = web.AppKey("http")
_DSN = web.AppKey("dsn", str)
_POOL = web.AppKey("pool", asyncpg.Pool)


def _keys(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    """The key ring and the token verifier, first: a broken key file stops start-up before anything runs.

    With an issuer, also the HTTP client that fetches its discovery document and keys (the first fetch now:
    an unreachable issuer is logged and tried again later, IssuerKeys).
    """
    async def keys(app: web.Application) -> AsyncIterator[None]:
        if settings.oidc_issuer is None:
            app[_KEYS] = open_keys(settings)
            app[_HTTP] = None
            yield
            return
        async with aiohttp.ClientSession(headers={"User-Agent": f"brygga/{__version__}"}) as http:
            app[_KEYS] = open_keys(settings, http)
            app[_HTTP] = http
            source = app[_KEYS][1].source
            assert isinstance(source, IssuerKeys)
            await source.start()
            yield
    return keys


def _database(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    """The database server (the embedded one started, migrated, and kept running while serving), its DSN."""
    async def database(app: web.Application) -> AsyncIterator[None]:
        app[_DSN], embedded = await open_database(settings)
        if embedded is None:
            yield
            return
        in_flight = app[IN_FLIGHT]
        watch = keep_running(embedded.restart_if_dead, active=lambda: not in_flight.draining)
        watching = asyncio.create_task(watch, name="embedded-database")
        try:
            yield
        finally:
            watching.cancel()  # first: the stop below must not be undone
            with contextlib.suppress(asyncio.CancelledError, Exception):  # nothing of it may stop the cleanup
                await watching
            await asyncio.to_thread(embedded.stop)
            log.info("embedded database stopped")
    return database


def _pool(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    """The connection pool, acting as the application role."""
    async def pool(app: web.Application) -> AsyncIterator[None]:
        app[_POOL] = await create_pool(app[_DSN], max_size=settings.db_pool_size,
                                       acquire_timeout=settings.db_acquire_timeout)
        try:
            yield
        finally:
            await app[_POOL].close()
    return pool


def _runtime(settings: Settings, clock: Callable[[], datetime]) -> Callable[[web.Application], AsyncIterator[None]]:
    """The runtime the handlers use, with its blob store, and beside them the audit chain's sealer and (for an
    object store) the sweeper of orphaned objects."""
    async def runtime(app: web.Application) -> AsyncIterator[None]:
        keys, verifier = app[_KEYS]
        dsn = app[_DSN]
        sealer = AuditChainSealer(lambda: asyncpg.connect(dsn, **connect_options()), lambda: keys.ring,
                             interval=settings.audit_seal_interval)
        # Closed in the reverse of their registration, each whatever the one before raised: the background tasks,
        # then the runtime (before the pool closes: asyncpg's close waits for every connection), then the sealer.
        async with open_blob_store(settings.blobs) as blobs, contextlib.AsyncExitStack() as closing:
            app[RUNTIME] = rt = Runtime(settings=settings, pool=app[_POOL], keys=keys, verifier=verifier, clock=clock,
                                        chain_sealer=sealer, blobs=blobs, http=app[_HTTP])
            closing.push_async_callback(sealer.close)
            closing.push_async_callback(rt.close)
            tasks: list[asyncio.Task[Any]] = []
            closing.push_async_callback(_stop, tasks, rt)
            if settings.audit_seal_interval:
                tasks.append(asyncio.create_task(sealer.run(), name="audit-sealer"))
            if settings.retention_run_at:
                tasks.append(asyncio.create_task(retention_schedule.daily(rt, settings.retention_run_at),
                                                 name="retention-schedule"))
            tasks.append(asyncio.create_task(indicator_schedule.every(rt), name="indicator-tables"))
            sweep = getattr(blobs, "sweep", None)
            if sweep is not None:
                from .store.s3_blobs import sweep_forever
                tasks.append(asyncio.create_task(sweep_forever(blobs, app[_POOL]), name="blob-sweeper"))  # type: ignore[arg-type]
            log.info("brygga ready", extra={"embedded_database": not settings.database_url, "blobs": settings.blobs})
            yield
    return runtime


async def _stop(tasks: list[asyncio.Task[Any]], rt: Runtime) -> None:
    """Cancel the background tasks, the last started first, then the indicator builds under way, and wait for each;
    one that had failed is logged and the rest still stopped."""
    for task in [*reversed(tasks), *rt.indicator_builds.values()]:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception:  # a task that had failed: the rest of the cleanup still runs
            log.exception("a background task had failed", extra={"task": task.get_name()})
