"""PostgreSQL: DSNs, the asyncpg pool, and migrations (the embedded server is service/embedded.py).

Migrations are plain SQL files `migrations/NNNN_name.sql`, applied in order, each
in its own transaction, recorded with a SHA-256 checksum. A file edited after it
was applied stops start-up: the schema would no longer match its history.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

import asyncpg

from .errors import DatabaseUnavailable, PoolExhausted

if TYPE_CHECKING:
    from collections.abc import Generator


log = logging.getLogger("brygga.database")

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
DATABASE_NAME = "brygga"
APP_ROLE = "brygga_app"  # created by migrations/0004: what the service runs as
OWNER_ROLE = "brygga_owner"
_MIGRATION_LOCK = 7_264_001  # pg advisory lock id: one migrator at a time across replicas

_create_history_sql = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""
_applied_sql = "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
_record_sql = "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"


class DatabaseError(Exception):
    """The database cannot be started, reached or migrated; the message says what to do."""


class MigrationError(DatabaseError):
    """The migration history does not match the files in migrations/."""


RUN_AS_OWNER = (
    "run the migrations as the database owner (a role that may create roles, e.g. the one that created "
    "the database): `BRYGGA_MIGRATION_DATABASE_URL=postgresql://OWNER@HOST/DB python -m service migrate`; "
    f"then let the service log in as a role in `{APP_ROLE}` (`CREATE ROLE brygga_service LOGIN PASSWORD '…' "
    f"IN ROLE {APP_ROLE}`) and set DATABASE_URL to it"
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in order; raises MigrationError on a bad name or a duplicate number."""
    migrations: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = re.fullmatch(r"(\d{4})_([a-z0-9_]+)\.sql", path.name)
        if not match:
            raise MigrationError(f"migration file {path.name} is not named NNNN_name.sql")
        version = int(match.group(1))
        if version in migrations:
            raise MigrationError(f"two migration files have number {version:04d}")
        migrations[version] = Migration(version, path.name, path.read_text())
    return [migrations[v] for v in sorted(migrations)]


async def migrate(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> list[str]:
    """Apply pending migrations, each in a transaction; returns the names applied.

    Raises MigrationError when an applied file was edited or removed.
    """
    migrations = load_migrations() if migrations is None else migrations
    if not await pending_migrations(conn, migrations):
        return []  # read-only: an application-role login starts when nothing is pending
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await conn.execute(_create_history_sql)
        applied = {row["version"]: row for row in await conn.fetch(_applied_sql)}
        _check_history(applied, migrations)
        done = []
        for migration in migrations:
            if migration.version in applied:
                continue
            try:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(_record_sql, migration.version, migration.name, migration.checksum)
            except asyncpg.InsufficientPrivilegeError as exc:
                who = await conn.fetchval("SELECT current_user")
                raise MigrationError(f"migration {migration.name} needs rights the role {who!r} lacks ({exc}); "
                                     + RUN_AS_OWNER) from None
            log.info("migration applied", extra={"migration": migration.name})
            done.append(migration.name)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)


def _check_history(applied: dict[int, asyncpg.Record], migrations: list[Migration]) -> None:
    files = {m.version: m for m in migrations}
    for version, row in applied.items():
        migration = files.get(version)
        if migration is None:
            raise MigrationError(f"migration {row['name']} was applied but its file is missing from migrations/")
        if migration.checksum != row["checksum"]:
            raise MigrationError(
                f"migration {migration.name} was edited after it was applied "
                f"(checksum {row['checksum'][:12]}… in the database, {migration.checksum[:12]}… on disk); "
                "restore the file and put the change in a new migration"
            )


async def pending_migrations(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> list[str]:
    """Names of migrations not applied (or edited), for /readyz; never raises on a fresh database."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    applied = {row["version"]: row for row in await conn.fetch(_applied_sql)} if exists else {}
    migrations = load_migrations() if migrations is None else migrations
    on_disk = {m.version for m in migrations}
    gone = [f"{row['name']} (applied, file missing)" for version, row in applied.items() if version not in on_disk]
    return gone + [m.name for m in migrations if version_checksum(applied, m.version) != m.checksum]


def version_checksum(applied: dict[int, asyncpg.Record], version: int) -> str | None:
    row = applied.get(version)
    return row["checksum"] if row is not None else None


def with_user(dsn: str, user: str) -> str:
    """`dsn` logging in as `user` (no password: the embedded server trusts its own socket)."""
    scheme, _, rest = dsn.partition("://")
    authority, slash, tail = rest.partition("/")
    host = authority.rpartition("@")[2]
    return f"{scheme}://{quote(user)}@{host}{slash}{tail}"


def with_database(dsn: str, database: str) -> str:
    """`dsn` pointing at another database on the same server."""
    base, _, query = dsn.partition("?")
    scheme, _, rest = base.partition("://")
    authority, _, _ = rest.partition("/")
    return f"{scheme}://{authority}/{quote(database)}" + (f"?{query}" if query else "")


async def ensure_database(server_dsn: str, database: str) -> None:
    """Create `database` on the server if it does not exist."""
    conn = await asyncpg.connect(server_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await conn.execute(f'CREATE DATABASE "{database}"')
    except asyncpg.DuplicateDatabaseError:
        pass  # created by a concurrent starter
    finally:
        await conn.close()


def connect_options(role: str | None = APP_ROLE) -> dict[str, Any]:
    """asyncpg connection options: the session runs as `role` from its first statement.

    `role` in the startup packet is `SET ROLE` that even `RESET ALL` (asyncpg's
    reset on release) returns to, so a login with more rights (the owner, a
    superuser) still acts with the application role's rights only.
    """
    return {"command_timeout": 30, "server_settings": {"role": role} if role else {}}


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing beyond asyncpg's own (ROLLBACK of an open transaction).

    The default reset (`RESET ALL; CLOSE ALL; UNLISTEN *; pg_advisory_unlock_all()`) is one
    more round trip per release, a third of a small read's database time, for state the
    service never leaves on a pooled connection: no session-level SET (the role is a
    startup parameter; SET LOCAL and set_config(..., true) only inside transactions), no
    LISTEN, no cursor outside a transaction, and a session-level lock only through
    session_lock(), which gives it back or ends the session (migrations and the sealer
    use connections of their own). asyncpg's release still waits out a cancelled
    statement and rolls back an open transaction before this runs.
    """


@asynccontextmanager
async def session_lock(conn: asyncpg.Connection, key: int) -> AsyncIterator[bool]:
    """pg_try_advisory_lock(key) on `conn` for the block: yields whether it was taken (False: another session holds it).

    Given back when the block ends, however it ends (cancelled mid-statement too: asyncpg has the server cancel
    the statement, and the unlock follows on the same session). When that cannot be done (the connection lost,
    no answer within 5 s, cancelled again meanwhile) the session ends here, and the lock with it: the pool's reset
    (_keep_session) does not unlock, so a pooled connection must never carry it on. Terminating alone, without
    trying the unlock first, would leave a moment in which the server has not yet seen the socket close and
    still holds the lock (a run begun at once would be told another holds it).
    """
    try:
        taken = await conn.fetchval("SELECT pg_try_advisory_lock($1)", key)
    except BaseException:  # cancelled (or timed out) after the server may have taken it, before its answer came
        _end_session(conn)
        raise
    if not taken:
        yield False
        return
    try:
        yield True
    finally:
        try:
            await asyncio.wait_for(conn.execute("SELECT pg_advisory_unlock($1)", key), timeout=5)
        except BaseException as gone:  # the block's own failure, if any, goes on propagating; a cancellation too
            _end_session(conn)
            if isinstance(gone, asyncio.CancelledError):
                raise


def _end_session(conn: asyncpg.Connection) -> None:
    """Close the connection at once, its session (and its locks) with it; nothing to do when asyncpg, having lost
    it, closed it and gave it back to the pool by itself (the pool's proxy then refuses every call)."""
    try:
        conn.terminate()
    except asyncpg.InterfaceError:
        pass


class BoundedPool(asyncpg.Pool):  # type: ignore[misc]  # asyncpg has no stubs: Pool is Any to mypy
    """An asyncpg pool whose acquire() waits at most `acquire_timeout` seconds, then raises PoolExhausted (503).

    Without a bound, a pool held by slow requests (uploads that stall, a burst) leaves every later request
    waiting without an answer, /readyz included; with it they are told to retry shortly (Retry-After). An
    explicit `timeout` still wins. A connection that is free is handed over as by asyncpg's own pool: its
    timeout would cost a task per acquire and a timeout around each release (a download's acquire
    measured 30 µs slower), so only an acquire that would wait is bounded. Made by create_pool.
    """

    __slots__ = ("acquire_timeout",)

    def __init__(self, *args: Any, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> asyncpg.pool.PoolAcquireContext | _BoundedAcquire:
        if timeout is not None:
            return super().acquire(timeout=timeout)
        queue = self._queue  # asyncpg's free connection slots: a slot in it is handed over without waiting
        if queue is not None and queue.qsize():
            return _BoundedAcquire(super().acquire(), None)
        return _BoundedAcquire(super().acquire(timeout=self.acquire_timeout), self.acquire_timeout)


class _BoundedAcquire:
    """pool.acquire() that says why it failed: PoolExhausted instead of a bare TimeoutError (when bounded by
    `seconds`), DatabaseUnavailable instead of the OSError of a connection that could not be made (a free
    slot connects anew after the server went away). So a request's 503 comes from the database's connection
    only, never from an OSError elsewhere (a file, a socket to someone else).

    Usable like asyncpg's own: `async with pool.acquire() as conn` or `conn = await pool.acquire()`.
    """

    __slots__ = ("_context", "_seconds")

    def __init__(self, context: asyncpg.pool.PoolAcquireContext, seconds: float | None) -> None:
        self._context, self._seconds = context, seconds

    def _fail(self, exc: OSError) -> NoReturn:
        """Raise what an acquire that raised `exc` answers with (an unbounded acquire's timeout as it is)."""
        if isinstance(exc, TimeoutError):
            if self._seconds is None:
                raise exc
            log.warning("no database connection free in time", extra={"seconds": self._seconds})
            raise PoolExhausted(f"no database connection became free within {self._seconds:g} s; retry shortly") from None
        log.warning("database unavailable", extra={"error": type(exc).__name__})
        raise DatabaseUnavailable("the database is unavailable; retry shortly") from exc

    # A plain try on the way in: every request's acquire passes here, most of them without waiting.
    async def __aenter__(self) -> asyncpg.Connection:
        try:
            return await self._context.__aenter__()
        except OSError as exc:  # TimeoutError is one
            self._fail(exc)

    async def __aexit__(self, *exc_info: object) -> None:
        await self._context.__aexit__(*exc_info)

    def __await__(self) -> Generator[Any, None, asyncpg.Connection]:
        try:  # the context's own awaitable, delegated to: no coroutine of ours in between
            connection: asyncpg.Connection = yield from self._context.__await__()
        except OSError as exc:
            self._fail(exc)
        return connection


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10, timeout: float = 10.0,
                      role: str | None = APP_ROLE, acquire_timeout: float | None = None) -> asyncpg.Pool:
    """An asyncpg pool acting as `role` (a BoundedPool with `acquire_timeout`); raises DatabaseError when it cannot connect."""
    options = {"min_size": min_size, "max_size": max_size, "reset": _keep_session, **connect_options(role)}
    try:
        if acquire_timeout is None:
            return await asyncio.wait_for(asyncpg.create_pool(dsn, **options), timeout)
        # asyncpg.create_pool's own defaults, for the subclass it cannot make
        pool = BoundedPool(dsn, acquire_timeout=acquire_timeout, max_queries=50000, max_inactive_connection_lifetime=300.0,
                           loop=None, connection_class=asyncpg.Connection, record_class=asyncpg.Record, **options)
        return await asyncio.wait_for(pool, timeout)
    except (asyncpg.InsufficientPrivilegeError, asyncpg.InvalidParameterValueError) as exc:
        raise DatabaseError(f"cannot act as the application role {role!r}: {exc}; grant it to the login "
                            f"(`GRANT {role} TO <login>`) or " + RUN_AS_OWNER) from exc
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        raise DatabaseError(f"cannot connect to PostgreSQL: {type(exc).__name__}: {exc}") from exc
