"""The web interface's server-side sessions: live, begin, end (store/ui_sessions.py keeps the rows).

The web layer holds the cookie and the session id; the rows, found only by the id's SHA-256, are the
core's, as every other row is. Sealing the token under the session id is the web layer's business.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from ..runtime import Runtime
from ..store import ui_sessions as store


async def live(rt: Runtime, id_hash: bytes, *, now: datetime) -> asyncpg.Record | None:
    """(token_sealed, expires_at) of the live session, marked seen now; None when ended, expired, idle or unknown."""
    async with rt.pool.acquire() as conn:
        return await store.touch(conn, id_hash, now=now, idle=_idle(rt))


async def begin(rt: Runtime, *, id_hash: bytes, sub: str, unit: str | None, token_sealed: bytes, now: datetime,
                expires_at: datetime, replacing: bytes | None) -> None:
    """A new session (ending `replacing`, this browser's previous one), and the long-over ones deleted."""
    async with rt.pool.acquire() as conn, conn.transaction():
        if replacing is not None:
            await store.end(conn, replacing, now=now)
        await store.insert(conn, id_hash=id_hash, sub=sub, unit=unit, token_sealed=token_sealed, now=now,
                           expires_at=expires_at)
        await store.purge(conn, now=now, idle=_idle(rt))


async def end(rt: Runtime, id_hash: bytes, *, now: datetime) -> None:
    """End the session (sign-out); a session already ended keeps its first end."""
    async with rt.pool.acquire() as conn:
        await store.end(conn, id_hash, now=now)


def _idle(rt: Runtime) -> timedelta:
    return timedelta(minutes=rt.settings.ui_session_idle_minutes)
