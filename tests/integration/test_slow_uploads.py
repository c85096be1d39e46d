"""Slow and oversized uploads cannot take the database pool (#11 item 3).

An upload's metadata and the file's first 16 KiB are read before it takes a connection, uploads stream
within half the pool, waiting for a connection is bounded (503 with Retry-After), a body that stops
arriving fails after BRYGGA_BODY_CHUNK_TIMEOUT (408, nothing kept), and a declared Content-Length over
the limit is 413 before a byte of the body is read. The pool here is small (2 connections) so that
3x its size of stalled uploads is few sockets. Deadlines only detect hangs; nothing here times the service.
"""
from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.app import create_app
from service.http.context import RUNTIME
from service.http.documents import UPLOAD_FRAMING
from tests import files
from tests.conftest import Api

BOUNDARY = "stalled-upload"
HANG = 30  # seconds: only a hang takes this long
# Enough of the file for the service to have its first 16 KiB (aiohttp hands on a 64 KiB read once it has seen
# what follows it, so the boundary cannot hide in between).
PAST_HEAD = 150_000


@asynccontextmanager
async def _service(settings, tokens, **changes) -> AsyncIterator[tuple[TestClient, dict, str]]:
    """The service with `changes` to its settings, a unit, its staff member and a client with a relation."""
    async with TestClient(TestServer(create_app(replace(settings, **changes)))) as client:
        api = Api(client, tokens)
        await api.unit("malmo-iof", organisation="malmo-stad", domain="social")
        staff = api.staff("malmo-iof")
        person = await api.register(staff)
        await api.relation(staff, person["id"])
        yield client, staff, person["id"]


@pytest.fixture
async def small(settings, tokens):
    """The service with a pool of 2 connections (uploads get 1 of them), answering 503 after a 1 s wait."""
    async with _service(settings, tokens, db_pool_size=2, db_acquire_timeout=1.0, body_chunk_timeout=HANG * 4) as service:
        yield service


def _start_of_upload(client, headers: dict, client_id: str, file_bytes: bytes, *, declared: int = 1_000_000,
                     metadata: bytes | None = None) -> bytes:
    """The head of an upload request that announces `declared` bytes of body and sends only its start."""
    metadata = metadata if metadata is not None else json.dumps({"category": "assessment", "title": "Stalled"}).encode()
    body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n"
            ).encode() + metadata
    if file_bytes:
        body += (f"\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n"
                 f"Content-Type: application/pdf\r\n\r\n").encode() + file_bytes
    head = (f"POST /v1/clients/{client_id}/documents HTTP/1.1\r\nHost: {client.server.host}\r\n"
            f"Authorization: {headers['Authorization']}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {declared}\r\n\r\n").encode()
    return head + body


async def _stall(client, request: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(request)
    await writer.drain()
    return reader, writer


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], dict]:
    """One HTTP response from a raw socket: (status, headers, JSON body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:] if line)}
    body = await reader.readexactly(int(headers["content-length"]))
    return status, headers, json.loads(body)


async def _nothing_left(client) -> None:
    """Every connection back in the pool, no transaction left open, no document row or segment of the stalls."""
    pool = client.server.app[RUNTIME].pool
    async with asyncio.timeout(HANG):
        while pool.get_idle_size() != pool.get_size():
            await asyncio.sleep(0.05)
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM documents WHERE title_sealed IS NOT NULL") == 1
            assert await conn.fetchval("SELECT count(*) FROM document_segments") == 1
            assert await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                       "AND state = 'idle in transaction'") == 0


async def test_three_times_the_pool_of_stalled_uploads_leave_every_other_request_answered(small):
    client, staff, client_id = small
    made = await client.post(f"/v1/clients/{client_id}/documents", headers=staff, data=_form(files.pdf(3000)))
    assert made.status == 201, await made.text()
    document = await made.json()
    pool_size = client.server.app[RUNTIME].pool.get_max_size()
    content = files.pdf(200_000)
    # Half stall inside the file's first 16 KiB (they hold no connection), half after it (they stream within the
    # uploads' half of the pool, and those that find it full are told to retry).
    before_head = [await _stall(client, _start_of_upload(client, staff, client_id, content[:1000]))
                   for _ in range(3 * pool_size // 2)]
    waiting: set[asyncio.Task] = set()
    after_head = [await _stall(client, _start_of_upload(client, staff, client_id, content[:PAST_HEAD]))
                  for _ in range(3 * pool_size - len(before_head))]
    try:
        async with asyncio.timeout(HANG):
            for _ in range(3):  # again and again: nothing the stalls hold is given out and lost
                ready = await client.get("/readyz")
                assert ready.status == 200, await ready.text()
                metadata = await client.get(f"/v1/documents/{document['id']}", headers=staff)
                assert metadata.status == 200 and (await metadata.json())["title"] == "Stalled neighbour"
                content_response = await client.get(f"/v1/documents/{document['id']}/content", headers=staff)
                assert content_response.status == 200 and len(await content_response.read()) == 3000
                listing = await client.get(f"/v1/clients/{client_id}/documents", headers=staff)
                assert [d["id"] for d in (await listing.json())["items"]] == [document["id"]]
            # The uploads past their head beyond the uploads' share waited a bounded time: 503, retry later.
            waiting = {asyncio.create_task(_response(reader)) for reader, _ in after_head}
            answered = []
            while len(answered) < len(after_head) - 1:  # one streams in the uploads' share: no answer while it stalls
                done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                answered += [task.result() for task in done]
        for status, headers, problem in answered:
            assert (status, problem["code"]) == (503, "service_unavailable"), problem
            assert int(headers["retry-after"]) > 0
            assert headers["content-type"].startswith("application/problem+json")
    finally:
        for _, writer in before_head + after_head:
            writer.close()
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
    await _nothing_left(client)
    again = await client.post(f"/v1/clients/{client_id}/documents", headers=staff, data=_form(files.pdf(40_000)))
    assert again.status == 201, await again.text()


def _form(content: bytes, title: str = "Stalled neighbour") -> aiohttp.FormData:
    data = aiohttp.FormData()
    data.add_field("metadata", json.dumps({"category": "assessment", "title": title}), content_type="application/json")
    data.add_field("file", content, filename="a.pdf", content_type="application/pdf")
    return data


async def test_a_full_pool_answers_503_with_retry_after_instead_of_hanging(small):
    client, staff, client_id = small
    pool = client.server.app[RUNTIME].pool
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        async with asyncio.timeout(HANG):
            for path in (f"/v1/clients/{client_id}/documents", f"/v1/clients/{client_id}"):
                response = await client.get(path, headers=staff)
                problem = await response.json()
                assert (response.status, problem["code"]) == (503, "service_unavailable"), problem
                assert int(response.headers["Retry-After"]) > 0
                assert response.headers["Content-Type"].startswith("application/problem+json")
    finally:
        for conn in held:
            await pool.release(conn)
    assert (await client.get(f"/v1/clients/{client_id}/documents", headers=staff)).status == 200


async def test_an_upload_whose_body_stops_arriving_is_408_and_keeps_nothing(small):
    client, staff, client_id = small
    client.server.app[RUNTIME].settings = replace(client.server.app[RUNTIME].settings, body_chunk_timeout=0.5)
    made = await client.post(f"/v1/clients/{client_id}/documents", headers=staff, data=_form(files.pdf(3000)))
    assert made.status == 201
    content = files.pdf(200_000)
    stalls = {
        "in the metadata": _start_of_upload(client, staff, client_id, b"", metadata=b'{"category": "assess'),
        "in the file's head": _start_of_upload(client, staff, client_id, content[:1000]),
        "after the file's head": _start_of_upload(client, staff, client_id, content[:PAST_HEAD]),
    }
    for where, request in stalls.items():
        reader, writer = await _stall(client, request)
        try:
            async with asyncio.timeout(HANG):
                status, _, problem = await _response(reader)
        finally:
            writer.close()
        assert (status, problem["code"]) == (408, "request_timeout"), (where, problem)
    await _nothing_left(client)


async def test_a_declared_content_length_over_the_limit_is_413_before_the_body_is_read(small, tokens):
    client, staff, client_id = small
    limit = client.server.app[RUNTIME].settings.max_document_bytes + UPLOAD_FRAMING
    assert UPLOAD_FRAMING == 128 * 1024  # documented (README "Settings", BRYGGA_MAX_DOCUMENT_BYTES)
    auditor = tokens.auth(sub="auditor-1", roles=["auditor"])
    answers = {}
    for who, headers, declared in (("staff", staff, limit + 1), ("auditor", auditor, limit + 1),
                                   ("auditor, bad metadata", auditor, 2000)):
        # Only the request head and a few bytes: the answer must come without the rest of the body.
        metadata = b"{not json" if who.endswith("bad metadata") else None
        reader, writer = await _stall(client, _start_of_upload(client, headers, client_id, b"%PDF", declared=declared,
                                                               metadata=metadata))
        try:
            async with asyncio.timeout(HANG):
                status, _, problem = await _response(reader)
        finally:
            writer.close()
        answers[who] = (status, problem["code"])
    # The role gate comes before anything of the body, its size included; and it is audited.
    assert answers == {"staff": (413, "too_large"), "auditor": (403, "forbidden_role"),
                       "auditor, bad metadata": (403, "forbidden_role")}
    async with client.server.app[RUNTIME].pool.acquire() as conn:
        events = await conn.fetch("SELECT actor_sub, decision, reason_codes, client_id::text FROM audit_events "
                                  "WHERE action = 'document.create' ORDER BY seq")
        assert [(e["actor_sub"], e["decision"], list(e["reason_codes"]), e["client_id"]) for e in events] == [
            ("auditor-1", "deny", ["forbidden_role"], client_id)] * 2
        assert await conn.fetchval("SELECT count(*) FROM documents") == 0
    # A document at the limit fits, with its framing, under the declared limit.
    rt = client.server.app[RUNTIME]
    rt.settings = replace(rt.settings, max_document_bytes=100_000)
    made = await client.post(f"/v1/clients/{client_id}/documents", headers=staff, data=_form(files.pdf(100_000)))
    assert made.status == 201, await made.text()


async def test_three_times_the_pool_of_stalled_downloads_leave_every_other_request_answered(small):
    """A download takes a connection only while it reads a batch: clients that stop reading hold none."""
    client, staff, client_id = small
    content = files.pdf(9 * 1024 * 1024)  # 9 batches of 16 segments
    made = await client.post(f"/v1/clients/{client_id}/documents", headers=staff, data=_form(content))
    assert made.status == 201, await made.text()
    document = await made.json()
    pool = client.server.app[RUNTIME].pool
    request = (f"GET /v1/documents/{document['id']}/content HTTP/1.1\r\nHost: {client.server.host}\r\n"
               f"Authorization: {staff['Authorization']}\r\n\r\n").encode()
    stalled = []
    for _ in range(3 * pool.get_max_size()):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the reader's side fills at once
        sock.connect((client.server.host, client.server.port))
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(request)
        await reader.readexactly(1000)  # the download has begun; then this client reads no more
        stalled.append(writer)
    try:
        await asyncio.sleep(0.5)  # the service writes until the sockets are full, then waits on them
        async with asyncio.timeout(HANG):
            assert (await client.get("/readyz")).status == 200
            metadata = await client.get(f"/v1/documents/{document['id']}", headers=staff)
            assert metadata.status == 200, await metadata.text()
            whole = await client.get(f"/v1/documents/{document['id']}/content", headers=staff)
            assert whole.status == 200 and await whole.read() == content
    finally:
        for writer in stalled:
            writer.close()
    async with asyncio.timeout(HANG):
        while pool.get_idle_size() != pool.get_size():
            await asyncio.sleep(0.05)


async def test_a_download_whose_client_stops_reading_is_cut_after_the_chunk_timeout(settings, tokens):
    async with _service(settings, tokens, body_chunk_timeout=1.0) as (client, staff, client_id):
        content = files.pdf(9 * 1024 * 1024)
        made = await client.post(f"/v1/clients/{client_id}/documents", headers=staff, data=_form(content))
        document = await made.json()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((client.server.host, client.server.port))
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write((f"GET /v1/documents/{document['id']}/content HTTP/1.1\r\nHost: x\r\n"
                      f"Authorization: {staff['Authorization']}\r\n\r\n").encode())
        await reader.readexactly(1000)
        await asyncio.sleep(3)  # more than the timeout without reading: the service gives up on this client
        received = 1000
        try:
            async with asyncio.timeout(HANG):
                while chunk := await reader.read(65536):
                    received += len(chunk)
        except ConnectionResetError:
            pass
        writer.close()
        assert received < len(content)  # cut, not sent to the end
