"""Baseline for bench/documents.py: Brygga's upload/download shape without auth, crypto, policy or audit.

The file part goes into `blobs` as 64 KiB rows, 4 per round trip (Brygga's _WRITE_BATCH), in
one transaction; a download reads 16 rows per query (Brygga's read_batch). Pool as create_pool.
Run: python bench/baseline_server.py DSN PORT
"""
from __future__ import annotations

import sys
import uuid

import asyncpg
from aiohttp import web

CHUNK, WRITE_BATCH, READ_BATCH = 64 * 1024, 4, 16
POOL = web.AppKey("pool", asyncpg.Pool)
_SCHEMA = """CREATE TABLE IF NOT EXISTS blobs (id uuid, index int, data bytea NOT NULL, PRIMARY KEY (id, index));
ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL;"""  # like document_segments: no compression attempt
_INSERT = "INSERT INTO blobs (id, index, data) VALUES ($1, $2, $3)"
_SIZE = "SELECT count(*), coalesce(sum(octet_length(data)), 0) FROM blobs WHERE id = $1"
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
    blob_id, index, buffer, rows = uuid.uuid4(), 0, bytearray(), []
    async with request.app[POOL].acquire() as conn, conn.transaction():
        while chunk := await part.read_chunk(CHUNK):
            buffer += chunk
            while len(buffer) >= CHUNK:
                rows.append(bytes(buffer[:CHUNK]))
                del buffer[:CHUNK]
                if len(rows) == WRITE_BATCH:
                    await conn.executemany(_INSERT, [(blob_id, index + n, data) for n, data in enumerate(rows)])
                    index, rows = index + len(rows), []
        rows += [bytes(buffer)] if buffer else []
        if rows:
            await conn.executemany(_INSERT, [(blob_id, index + n, data) for n, data in enumerate(rows)])
    return web.json_response({"id": str(blob_id)}, status=201)


async def download(request: web.Request) -> web.StreamResponse:
    blob_id = uuid.UUID(request.match_info["id"])
    async with request.app[POOL].acquire() as conn:
        count, size = await conn.fetchrow(_SIZE, blob_id)
        if not count:
            raise web.HTTPNotFound()
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = size
        await response.prepare(request)
        for start in range(0, count, READ_BATCH):
            for row in await conn.fetch(_READ, blob_id, start, start + READ_BATCH):
                await response.write(row["data"])
    await response.write_eof()
    return response


async def ready(request: web.Request) -> web.Response:
    return web.json_response({"status": "ready"})


def main(dsn: str, port: int) -> None:
    async def pool(app: web.Application):
        app[POOL] = await asyncpg.create_pool(dsn, min_size=2, max_size=10, command_timeout=30)
        await app[POOL].execute(_SCHEMA)
        yield
        await app[POOL].close()

    app = web.Application()
    app.cleanup_ctx.append(pool)
    app.router.add_routes([web.post("/upload", upload), web.get("/download/{id}", download), web.get("/readyz", ready)])
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
