"""The web interface's sessions (migrations/0006): one row per sign-in, ended at sign-out.

Rows are found by the SHA-256 of the session id, never by the id itself, which
only the browser's cookie holds. Times come from the caller (the runtime's clock).
"""
from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

# Over more than this long (ended, expired or idle): deleted at the next sign-in.
KEEP_AFTER_END = timedelta(days=1)

_insert_sql = """
INSERT INTO ui_sessions (id_hash, sub, unit, token_sealed, created_at, last_seen_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $5, $6)
"""
# One statement on the primary key per page: the session if it is still live, marked seen now.
_touch_sql = """
UPDATE ui_sessions SET last_seen_at = $2
WHERE id_hash = $1 AND ended_at IS NULL AND expires_at > $2 AND last_seen_at > $2 - $3::interval
RETURNING token_sealed, expires_at
"""
_end_sql = "UPDATE ui_sessions SET ended_at = $2 WHERE id_hash = $1 AND ended_at IS NULL"
_purge_sql = """
DELETE FROM ui_sessions
WHERE ended_at < $1 OR expires_at < $1 OR last_seen_at < $1 - $2::interval
"""


async def insert(conn: asyncpg.Connection, *, id_hash: bytes, sub: str, unit: str | None, token_sealed: bytes,
                 now: datetime, expires_at: datetime) -> None:
    """A new session, seen now."""
    await conn.execute(_insert_sql, id_hash, sub, unit, token_sealed, now, expires_at)


async def touch(conn: asyncpg.Connection, id_hash: bytes, *, now: datetime, idle: timedelta) -> asyncpg.Record | None:
    """(token_sealed, expires_at) of the live session, marked seen now; None when ended, expired, idle or unknown."""
    return await conn.fetchrow(_touch_sql, id_hash, now, idle)


async def end(conn: asyncpg.Connection, id_hash: bytes, *, now: datetime) -> None:
    """End the session (sign-out); a session already ended keeps its first end."""
    await conn.execute(_end_sql, id_hash, now)


async def purge(conn: asyncpg.Connection, *, now: datetime, idle: timedelta) -> None:
    """Delete sessions that have been over (ended, expired or idle) for more than KEEP_AFTER_END."""
    await conn.execute(_purge_sql, now - KEEP_AFTER_END, idle)
