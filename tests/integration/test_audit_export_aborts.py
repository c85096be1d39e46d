"""NDJSON exports the client abandons give their pool connection back (attack report finding 1).

An export holds a pool connection and a REPEATABLE READ transaction on its cursor while it streams.
A client that goes away mid-stream makes the next write fail; the stream's generator must then be closed
(its transaction rolled back, its connection released), or a handful of aborted exports take the whole
pool for good. The log is far bigger than the socket buffers (and the reader's receive buffer is 4 KiB), so
each export is still streaming when its client closes. Deadlines only detect hangs; nothing here times the service.
"""
from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.app import create_app
from service.http.context import RUNTIME

POOL = 4
HANG = 20  # seconds: only a leak or a hang takes this long
EVENTS = 4000  # × ~2.3 KB a line: ~9 MB, several times what the socket buffers hold


class ServedAsInProduction(TestServer):
    """aiohttp's test server cancels a handler whose client went away; the service's runner does not
    (service/__main__.py): the handler's next write raises instead, which is the road that leaked."""

    async def _make_runner(self, **kwargs):
        return await super()._make_runner(**{**kwargs, "handler_cancellation": False})


async def _fill_log(db) -> None:
    """EVENTS events of ~2.3 KB as NDJSON lines: several times what the socket buffers hold."""
    await db.execute(f"""
        INSERT INTO audit_events (actor_sub, actor_name, actor_roles, action, decision, basis)
        SELECT 'bulk', repeat('x', 2000), '{{staff}}', 'client.read', 'allow', 'own_zone'
        FROM generate_series(1, {EVENTS})""")


@pytest.fixture
async def small(settings, tokens, db):
    """The service with a pool of 4 connections and a log of ~9 MB as NDJSON."""
    await _fill_log(db)
    settings = replace(settings, db_pool_size=POOL, db_acquire_timeout=2.0)
    async with TestClient(ServedAsInProduction(create_app(settings))) as client:
        yield client, tokens.auth(sub="auditor-1", roles=["auditor"])


async def _abandoned_export(client, headers: dict, *, read: int) -> int:
    """Start an NDJSON export with a 4 KiB receive buffer, read its head and `read` bytes of body, close; the status."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (client.server.host, client.server.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        writer.write((f"GET /v1/audit/events HTTP/1.1\r\nHost: {client.server.host}\r\nAccept: application/x-ndjson\r\n"
                      f"Authorization: {headers['Authorization']}\r\n\r\n").encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if read:
            await reader.readexactly(read)  # the stream's generator has its connection and yielded
        else:
            await asyncio.sleep(0.2)
        return int(head.split(b" ")[1])
    finally:
        writer.transport.abort()  # unread bytes in the buffer: the server sees a reset


async def test_more_aborted_exports_than_the_pool_leave_every_connection_in_the_pool(small, caplog):
    client, auditor = small
    caplog.set_level(logging.INFO, logger="brygga.http")
    pool = client.server.app[RUNTIME].pool
    async with asyncio.timeout(HANG):
        statuses = [await _abandoned_export(client, auditor, read=10_000 if i % 2 else 0) for i in range(3 * POOL)]
        while pool.get_idle_size() != pool.get_size():
            await asyncio.sleep(0.05)
    assert statuses == [200] * (3 * POOL)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                   "AND state = 'idle in transaction'") == 0
    ready = await client.get("/readyz")
    assert ready.status == 200, await ready.text()
    page = await client.get("/v1/audit/events", headers=auditor, params={"limit": "1"})
    assert page.status == 200 and len((await page.json())["items"]) == 1
    # A client that hangs up is not a database outage: no such warning, a 499 in the access log.
    messages = [record.getMessage() for record in caplog.records]
    assert "database unavailable" not in messages
    assert "response cut mid-stream" not in messages
    assert any(getattr(record, "status", None) == 499 for record in caplog.records if record.getMessage() == "request")


async def test_an_export_whose_reader_stays_but_reads_nothing_is_cut_and_gives_its_connection_back(settings, tokens, db):
    await _fill_log(db)
    settings = replace(settings, db_pool_size=POOL, db_acquire_timeout=2.0, body_chunk_timeout=1.0)
    async with TestClient(ServedAsInProduction(create_app(settings))) as client:
        headers = tokens.auth(sub="auditor-1", roles=["auditor"])
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (client.server.host, client.server.port))
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write((f"GET /v1/audit/events HTTP/1.1\r\nHost: x\r\nAccept: application/x-ndjson\r\n"
                      f"Authorization: {headers['Authorization']}\r\n\r\n").encode())
        await reader.readuntil(b"\r\n\r\n")  # the export streams; this reader now stays and reads nothing
        pool = client.server.app[RUNTIME].pool
        try:
            async with asyncio.timeout(HANG):
                while pool.get_idle_size() != pool.get_size():
                    await asyncio.sleep(0.1)
        finally:
            writer.close()
