"""database.session_lock: a session-level advisory lock taken on a pooled connection never outlives its block.

The pool's reset does not unlock (database._keep_session), so whatever ends the block, the lock must be gone
from the connection before the pool hands it out again: given back, or the session ended with it.
"""
from __future__ import annotations

import asyncio
import os
import signal

import asyncpg
import pytest

from service.database import connect_options, create_pool, session_lock

KEY = 7_264_999  # no lock of the service's


async def _holders(db: asyncpg.Connection) -> int:
    held: int = await db.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1", KEY)
    return held


async def _gone(db: asyncpg.Connection) -> int:
    """How many sessions hold it once a terminated session's backend had a moment to leave."""
    for _ in range(100):
        if not await _holders(db):
            break
        await asyncio.sleep(0.05)
    return await _holders(db)


async def _ended_and_free(pool, db: asyncpg.Connection, database_url: str, pid: int) -> None:
    """Session `pid` ended: no session holds the lock, the pool's next connection is a new session, and it, or
    anyone, can take the lock."""
    assert await _gone(db) == 0
    async with pool.acquire() as conn:  # a new session in its place
        assert conn.get_server_pid() != pid
        assert await conn.fetchval("SELECT pg_try_advisory_lock($1)", KEY)
        await conn.execute("SELECT pg_advisory_unlock($1)", KEY)
    other = await asyncpg.connect(database_url, **connect_options())
    try:
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", KEY)  # free for everyone
    finally:
        await other.close()


@pytest.fixture
async def pool(database_url: str):
    pool = await create_pool(database_url, min_size=1, max_size=1)
    yield pool
    await pool.close()


async def test_taken_and_given_back(pool, db):
    async with pool.acquire() as conn:
        async with session_lock(conn, KEY) as held:
            assert held
            assert await _holders(db) == 1
        assert await _holders(db) == 0
        assert await conn.fetchval("SELECT 1") == 1  # the same session goes on


async def test_held_elsewhere_is_not_taken_and_not_given_back(pool, db):
    assert await db.fetchval("SELECT pg_try_advisory_lock($1)", KEY)
    try:
        async with pool.acquire() as conn, session_lock(conn, KEY) as held:
            assert not held
        assert await _holders(db) == 1  # the other session's lock stays
    finally:
        await db.execute("SELECT pg_advisory_unlock($1)", KEY)


async def test_a_failing_block_gives_it_back_on_the_spot(pool, db):
    """Between statements the connection is idle: the unlock is sent, at once, and the block's error propagates."""
    async with pool.acquire() as conn:
        pid = conn.get_server_pid()
        with pytest.raises(RuntimeError, match="the block failed"):
            async with session_lock(conn, KEY):
                raise RuntimeError("the block failed")
        assert await _holders(db) == 0  # no wait: given back, not left to a session's end
        assert conn.get_server_pid() == pid and await conn.fetchval("SELECT 1") == 1


async def test_cancelled_mid_statement_gives_it_back(pool, db, database_url):
    """Cancelled while a statement runs: asyncpg has the server cancel it, then the unlock goes out on the same
    session, and the pool's next connection does not carry the lock."""
    started = asyncio.Event()

    async def hold() -> None:
        async with pool.acquire() as conn, session_lock(conn, KEY):
            started.set()
            await conn.execute("SELECT pg_sleep(30)")

    task = asyncio.create_task(hold())
    await started.wait()
    await asyncio.sleep(0.2)  # the sleep is running in the server
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _holders(db) == 0
    async with pool.acquire() as conn:  # the pool's only connection
        assert await conn.fetchval("SELECT pg_try_advisory_lock($1)", KEY)
        await conn.execute("SELECT pg_advisory_unlock($1)", KEY)


async def test_a_session_that_cannot_give_it_back_is_ended(pool, db, database_url):
    """The connection lost under the block (here its backend terminated): the unlock cannot go out, so the session
    is ended on this side too and never pooled again; the block itself had succeeded, so nothing is raised."""
    async with pool.acquire() as conn:
        pid = conn.get_server_pid()
        async with session_lock(conn, KEY) as held:
            assert held
            await db.execute("SELECT pg_terminate_backend($1)", pid)
    await _ended_and_free(pool, db, database_url, pid)


async def test_cancelled_before_the_try_locks_answer_ends_the_session(pool, db, database_url):
    """Cancelled after the try-lock went out, before its answer came (its backend stopped meanwhile): the server
    may have taken the lock all the same (a cancel that comes after the statement ran), and which it did cannot be
    known on this side, so the session is ended at once: the pool's next connection is a new session, and no
    session holds the lock (the pool's reset does not unlock). Without the end, the same session is pooled on."""
    async with pool.acquire() as conn:
        pid = conn.get_server_pid()
        try:
            ours = os.readlink(f"/proc/{pid}/cwd") == await db.fetchval("SHOW data_directory")
        except (OSError, asyncpg.PostgresError):  # another host's PostgreSQL, or its settings hidden from the test
            ours = False
    if not ours:
        pytest.skip("PostgreSQL's backend is not a process of this machine that the test can see: it is not stopped")
    try:
        os.kill(pid, signal.SIGSTOP)
    except PermissionError:
        pytest.skip("PostgreSQL's backend is another user's process: it cannot be stopped from here")
    try:
        asking = asyncio.Event()

        async def take() -> None:
            async with pool.acquire() as conn:
                asking.set()  # this task runs on into the try-lock, to its wait for the answer, before the test wakes
                async with session_lock(conn, KEY):
                    pytest.fail("a stopped backend cannot have answered")

        task = asyncio.create_task(take())
        await asking.wait()
        await asyncio.sleep(0.1)
        task.cancel()
        await asyncio.sleep(0.3)  # the cancellation handled here (and asyncpg's cancel request sent)
    finally:
        os.kill(pid, signal.SIGCONT)
    with pytest.raises(asyncio.CancelledError):
        await task
    await _ended_and_free(pool, db, database_url, pid)
