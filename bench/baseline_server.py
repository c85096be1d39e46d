"""Baseline for bench/documents.py: Brygga's upload/download shape without auth, crypto, policy or audit.

The file part goes into `blobs` as 64 KiB rows, 4 per round trip (Brygga's _WRITE_BATCH), in
one transaction, with its size in `blob_sizes` (as Brygga's document row holds it); a download reads the size
and the first 16 rows in one query, then 16 rows per query (Brygga's read_batch). The pool as Brygga's
(service.database.create_pool: its size, no reset round trip on release). Lean: a row is joined from its chunks
once, not copied through a growing buffer.
Run: python bench/baseline_server.py DSN PORT
"""
from __future__ import annotations

import sys
import uuid
from pathlib import Path

import asyncpg
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import pool_size

CHUNK, WRITE_BATCH, READ_BATCH = 64 * 1024, 4, 16
POOL = web.AppKey("pool", asyncpg.Pool)
_SCHEMA = """CREATE TABLE IF NOT EXISTS blobs (id uuid, index int, data bytea NOT NULL, PRIMARY KEY (id, index));
ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE TABLE IF NOT EXISTS blob_sizes (id uuid PRIMARY KEY, count int NOT NULL, size bigint NOT NULL);"""
_INSERT = "INSERT INTO blobs (id, index, data) VALUES ($1, $2, $3)"
_INSERT_SIZE = "INSERT INTO blob_sizes (id, count, size) VALUES ($1, $2, $3)"
_FIRST = f"""SELECT s.count, s.size, ARRAY(SELECT data FROM blobs WHERE id = $1 AND index < {READ_BATCH} ORDER BY index)
FROM blob_sizes s WHERE s.id = $1"""
_READ = "SELECT data FROM blobs WHERE id = $1 AND index >= $2 AND index < $3 ORDER BY index"


async def upload(request: web.Request) -> web.Response:
    reader = await request.multipart()
    metadata = await reader.next()
    if metadata is None or metadata.name != "metadata":
        raise web.HTTPBadRequest(text="the first part must be metadata")
    await metadata.json()
    part = await reader.next()
    if part is None or part.name != "file":
        raise web.HTTPBadRequest(text="the second part must be file")
    blob_id, index, size, rows = uuid.uuid4(), 0, 0, []
    pending: list[bytes] = []  # the chunks of the next row, joined once when it is whole
    async with request.app[POOL].acquire() as conn, conn.transaction():
        while chunk := await part.read_chunk(CHUNK):
            size += len(chunk)
            pending.append(chunk)
            if sum(map(len, pending)) >= CHUNK:
                joined = b"".join(pending)
                rows.append(joined[:CHUNK])
                pending = [joined[CHUNK:]] if len(joined) > CHUNK else []
                if len(rows) == WRITE_BATCH:
                    await conn.executemany(_INSERT, [(blob_id, index + n, data) for n, data in enumerate(rows)])
                    index, rows = index + len(rows), []
        rows += [b"".join(pending)] if pending else []
        if rows:
            await conn.executemany(_INSERT, [(blob_id, index + n, data) for n, data in enumerate(rows)])
        await conn.execute(_INSERT_SIZE, blob_id, index + len(rows), size)
    return web.json_response({"id": str(blob_id)}, status=201)


async def download(request: web.Request) -> web.StreamResponse:
    blob_id = uuid.UUID(request.match_info["id"])
    async with request.app[POOL].acquire() as conn:
        first = await conn.fetchrow(_FIRST, blob_id)
        if first is None:
            raise web.HTTPNotFound()
        count, size, batch = first
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = size
        await response.prepare(request)
        for data in batch:
            await response.write(data)
        for start in range(READ_BATCH, count, READ_BATCH):
            for row in await conn.fetch(_READ, blob_id, start, start + READ_BATCH):
                await response.write(row["data"])
    await response.write_eof()
    return response


async def keep_session(conn: asyncpg.Connection) -> None:
    """As Brygga's pool (service.database._keep_session): no reset round trip on release."""


async def ready(request: web.Request) -> web.Response:
    return web.json_response({"status": "ready"})


def main(dsn: str, port: int) -> None:
    async def pool(app: web.Application):
        app[POOL] = await asyncpg.create_pool(dsn, min_size=2, max_size=pool_size(), reset=keep_session)
        await app[POOL].execute(_SCHEMA)
        yield
        await app[POOL].close()

    app = web.Application()
    app.cleanup_ctx.append(pool)
    app.router.add_routes([web.post("/upload", upload), web.get("/download/{id}", download), web.get("/readyz", ready)])
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
