"""Where encrypted segments live, behind a small BlobStore interface.

PostgreSQL by default: segments are written on the upload's own connection, inside its
transaction, so they commit or vanish with the document row. BRYGGA_BLOBS=s3://bucket/prefix
puts them in an S3-compatible bucket instead (service/store/s3_blobs.py: objects under the
pending document's id, swept when its row never commits) without touching handlers.
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Protocol
from uuid import UUID

import asyncpg

from crypto import DecryptionFailed

from . import audit_recording
from .audit_recording import EventValues


class BlobStore(Protocol):
    """Stores and streams a document's encrypted segments by index."""

    async def put(self, conn: asyncpg.Connection, document_id: UUID, first_index: int, segments: Sequence[bytes]) -> None:
        """Store `segments` as indexes first_index, first_index + 1, …, in `conn`'s transaction."""
        ...

    async def first_after_event(self, conn: asyncpg.Connection, document_id: UUID, *, count: int,
                                event: EventValues) -> list[bytes]:
        """Record the read's audit event (committed, outside a transaction), then return the first segments in
        order; raises DecryptionFailed when one is missing. Nothing is read before the event is durable; the
        database store does both in one round trip, an object store records, then fetches."""
        ...

    async def firsts_after_events(self, conn: asyncpg.Connection, events: list[EventValues],
                                  reads: list[tuple[UUID, int]]) -> list[list[bytes] | DecryptionFailed]:
        """first_after_event() for many reads at once (store.read_batches): every event committed in one
        statement, then each read's first `count` segments, or DecryptionFailed for a read whose segments are
        not all there. Raises what the database raises (nothing recorded then)."""
        ...

    def read(self, conn: asyncpg.Connection, document_id: UUID, *, start: int, count: int) -> AsyncGenerator[bytes, None]:
        """Yield segments start..count-1 in order; raises DecryptionFailed when one is missing."""
        ...

    async def delete(self, conn: asyncpg.Connection, document_id: UUID) -> int:
        """Destroy every segment of the document; returns how many there were."""
        ...

    async def delete_many(self, conn: asyncpg.Connection, document_ids: Sequence[UUID]) -> int:
        """Destroy every segment of these documents (a culling batch), in `conn`'s transaction; how many."""
        ...


_insert_segment_sql = "INSERT INTO document_segments (document_id, index, ciphertext) VALUES ($1, $2, $3)"
_read_segments_sql = """
SELECT index, ciphertext FROM document_segments
WHERE document_id = $1 AND index >= $2 AND index < $3
ORDER BY index
"""
_delete_segments_sql = "DELETE FROM document_segments WHERE document_id = $1"
_first_segments_sql = "SELECT index, ciphertext FROM document_segments WHERE document_id = {0} AND index < {1} ORDER BY index"
# The first segments of many reads (w.n: the read's place in the batch), after their events; the reads as one JSON
# array of [document id, segments wanted] (arrays as parameters cost asyncpg an ABC check an element, #21).
_firsts_sql = """SELECT w.n, s.index, s.ciphertext
FROM jsonb_array_elements({0}::jsonb) WITH ORDINALITY AS r(e, n)
CROSS JOIN LATERAL (SELECT (r.e->>0)::uuid AS document_id, (r.e->>1)::int AS below, r.n) w
JOIN document_segments s ON s.document_id = w.document_id AND s.index < w.below
ORDER BY w.n, s.index"""


def _ciphertexts(rows: Sequence[asyncpg.Record], start: int, stop: int) -> list[bytes]:
    if len(rows) != stop - start or any(row["index"] != start + n for n, row in enumerate(rows)):
        raise DecryptionFailed()  # a missing segment is tampering, like a changed one
    return [row["ciphertext"] for row in rows]


class PostgresBlobStore:
    """Segments as rows of document_segments, read back in batches."""

    def __init__(self, *, read_batch: int = 16) -> None:
        self.read_batch = read_batch

    async def put(self, conn: asyncpg.Connection, document_id: UUID, first_index: int, segments: Sequence[bytes]) -> None:
        if len(segments) == 1:
            await conn.execute(_insert_segment_sql, document_id, first_index, segments[0])
        elif segments:
            await conn.executemany(_insert_segment_sql, [(document_id, first_index + n, s) for n, s in enumerate(segments)])

    async def first_after_event(self, conn: asyncpg.Connection, document_id: UUID, *, count: int,
                                event: EventValues) -> list[bytes]:
        rows = await audit_recording.insert_then(conn, event, _first_segments_sql,
                                                 (document_id, min(self.read_batch, count)))
        return _ciphertexts(rows, 0, min(self.read_batch, count))

    async def firsts_after_events(self, conn: asyncpg.Connection, events: list[EventValues],
                                  reads: list[tuple[UUID, int]]) -> list[list[bytes] | DecryptionFailed]:
        wanted = [min(self.read_batch, count) for _, count in reads]
        firsts = json.dumps([(audit_recording.json_id(document_id), below)
                             for (document_id, _), below in zip(reads, wanted, strict=True)])
        rows = await audit_recording.insert_many_then(conn, events, _firsts_sql, (firsts,))
        found: list[list[asyncpg.Record]] = [[] for _ in reads]
        for row in rows:
            found[row["n"] - 1].append(row)
        results: list[list[bytes] | DecryptionFailed] = []
        for rows_of_read, stop in zip(found, wanted, strict=True):
            try:
                results.append(_ciphertexts(rows_of_read, 0, stop))
            except DecryptionFailed as failure:
                results.append(failure)
        return results

    async def read(self, conn: asyncpg.Connection, document_id: UUID, *, start: int, count: int) -> AsyncGenerator[bytes, None]:
        for batch_start in range(start, count, self.read_batch):
            stop = min(batch_start + self.read_batch, count)
            for ciphertext in _ciphertexts(await conn.fetch(_read_segments_sql, document_id, batch_start, stop), batch_start, stop):
                yield ciphertext

    async def delete(self, conn: asyncpg.Connection, document_id: UUID) -> int:
        return int((await conn.execute(_delete_segments_sql, document_id)).split()[-1])

    async def delete_many(self, conn: asyncpg.Connection, document_ids: Sequence[UUID]) -> int:
        status = await conn.execute("DELETE FROM document_segments WHERE document_id = ANY($1::uuid[])", list(document_ids))
        return int(status.split()[-1])


@contextlib.asynccontextmanager
async def open_blob_store(spec: str) -> AsyncIterator[BlobStore]:
    """The store BRYGGA_BLOBS names ("postgres", or s3://bucket/prefix), open for as long as the context lasts."""
    if spec == "postgres":
        yield PostgresBlobStore()
        return
    from .s3_blobs import open_s3_store  # aiobotocore is imported only where the object store is used

    async with open_s3_store(spec) as store:
        yield store
