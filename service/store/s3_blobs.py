"""Segments as objects in an S3-compatible bucket (BRYGGA_BLOBS=s3://bucket/prefix), through aiobotocore.

The endpoint, region and credentials are the standard AWS settings (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL,
AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, an instance role): botocore reads
them, Brygga names none. With an endpoint of its own (MinIO, Ceph, moto) the bucket is addressed by path.

Same guarantees as the database store (service/store/blobs.py):
- An upload is all or nothing. Its objects are written under its document id, which no row names until the
  upload's transaction commits the document: until then they are pending, reachable by nobody (every read goes
  through the row), and a marker `<prefix>pending/<id>` written first names them. The upload holds an advisory
  lock on its id from before the marker until its transaction ends; the sweeper (`sweep`, run by every replica
  every 10 minutes) settles each marker older than an hour whose id is not locked: the marker goes, and with it
  the objects when no active document has the id. A failed, refused or interrupted upload leaves nothing for
  long, and a running one, however slow, is never swept.
- A download reads each batch of segments only after its audit event has committed, and the domain
  authenticates every segment (crypto.stream); a missing object is tampering, like a missing row.
- Shredding and culling delete the objects in the transaction that destroys the key: an object store that fails
  makes the shred fail (and roll back) rather than leave ciphertext behind. Should the commit itself then fail,
  the key survives without its content (a read is an integrity error), never the reverse.

Object names carry only the document's random id and the segment's index: nothing about the client or zone.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg

from crypto import DecryptionFailed

from . import audit_recording
from .audit_recording import EventValues

log = logging.getLogger("brygga.blobs")

UPLOAD_LOCK = 7_264_005  # with hashtext(document id): held by an upload's transaction from its first object on
ORPHAN_AGE = timedelta(hours=1)
SWEEP_INTERVAL = 600.0  # seconds between a replica's sweeps
_DELETE_BATCH = 1000  # keys per DeleteObjects request (the S3 limit)
_CONCURRENCY = 16  # object requests in flight per batch

_lock_upload_sql = f"SELECT pg_advisory_xact_lock({UPLOAD_LOCK}, hashtext($1::uuid::text))"
# Two statements, each with its own snapshot: the locks first, then (after any upload holding one has ended) the rows.
_lock_idle_sql = f"""
SELECT id FROM unnest($1::uuid[]) AS c (id) WHERE pg_try_advisory_xact_lock({UPLOAD_LOCK}, hashtext(c.id::text))
"""
# An id is a document's content while an active document's own id names it (no correction yet), its latest
# content id does (a correction, migration document_versions), or an active earlier version of it does.
_without_active_sql = """
SELECT c.id FROM unnest($1::uuid[]) AS c (id)
WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.id = c.id AND d.content_id IS NULL AND d.status = 'active')
  AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.content_id = c.id AND d.status = 'active')
  AND NOT EXISTS (SELECT 1 FROM document_versions v WHERE v.content_id = c.id AND v.status = 'active')
"""


def parse_location(spec: str) -> tuple[str, str]:
    """(bucket, prefix) of `s3://bucket/prefix`; the prefix is '' or ends with '/'. ValueError when malformed."""
    parts = urlsplit(spec)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"expected s3://bucket/prefix, got {spec!r}")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


async def _bounded_gather(calls: Iterable[Awaitable[Any]], limit: int = _CONCURRENCY) -> list[Any]:
    """The results of `calls` in order, at most `limit` in flight."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Awaitable[Any]) -> Any:
        async with gate:
            return await call
    return list(await asyncio.gather(*(one(call) for call in calls)))


class S3BlobStore:
    """A document's segments as objects `<prefix><document id>/<index, 10 digits>` in one bucket."""

    def __init__(self, client: Any, bucket: str, prefix: str = "", *, read_batch: int = 16) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.read_batch = read_batch

    def _key(self, document_id: UUID, index: int) -> str:
        return f"{self.prefix}{document_id}/{index:010d}"

    @property
    def _pending_prefix(self) -> str:
        return f"{self.prefix}pending/"

    async def put(self, conn: asyncpg.Connection, document_id: UUID, first_index: int, segments: Sequence[bytes]) -> None:
        if first_index == 0:  # the upload's first objects: from now until its transaction ends, no sweeper touches them
            await conn.execute(_lock_upload_sql, document_id)
            await self.client.put_object(Bucket=self.bucket, Key=f"{self._pending_prefix}{document_id}", Body=b"")
        await _bounded_gather(self.client.put_object(Bucket=self.bucket, Key=self._key(document_id, first_index + n),
                                                     Body=bytes(segment))
                              for n, segment in enumerate(segments))

    async def _get(self, document_id: UUID, index: int) -> bytes:
        try:
            response = await self.client.get_object(Bucket=self.bucket, Key=self._key(document_id, index))
        except self.client.exceptions.NoSuchKey:
            raise DecryptionFailed() from None  # a missing segment is tampering, like a changed one
        async with response["Body"] as stream:
            data: bytes = await stream.read()
        return data

    async def _get_range(self, document_id: UUID, start: int, stop: int) -> list[bytes]:
        return await _bounded_gather(self._get(document_id, index) for index in range(start, stop))

    async def first_after_event(self, conn: asyncpg.Connection, document_id: UUID, *, count: int,
                                event: EventValues) -> list[bytes]:
        if conn.is_in_transaction():
            raise RuntimeError("an event recorded before a read commits itself; call it outside a transaction")
        await audit_recording.insert(conn, event)  # its own statement, committed before any object is fetched
        return await self._get_range(document_id, 0, min(self.read_batch, count))

    async def firsts_after_events(self, conn: asyncpg.Connection, events: list[EventValues],
                                  reads: list[tuple[UUID, int]]) -> list[list[bytes] | DecryptionFailed]:
        if conn.is_in_transaction():
            raise RuntimeError("events recorded before a read commit themselves; call it outside a transaction")
        await audit_recording.insert_many(conn, events)  # one statement, committed before any object is fetched

        async def first(document_id: UUID, count: int) -> list[bytes] | DecryptionFailed:
            try:
                return await self._get_range(document_id, 0, min(self.read_batch, count))
            except DecryptionFailed as failure:  # one read's missing object fails that read alone
                return failure
        return await _bounded_gather((first(document_id, count) for document_id, count in reads), 4)

    async def read(self, conn: asyncpg.Connection, document_id: UUID, *, start: int, count: int) -> AsyncGenerator[bytes, None]:
        for batch_start in range(start, count, self.read_batch):
            for ciphertext in await self._get_range(document_id, batch_start, min(batch_start + self.read_batch, count)):
                yield ciphertext

    async def _keys(self, prefix: str) -> AsyncIterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for entry in page.get("Contents", ()):
                yield entry

    async def _delete_keys(self, keys: list[str]) -> None:
        for start in range(0, len(keys), _DELETE_BATCH):
            chunk = keys[start:start + _DELETE_BATCH]
            response = await self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True})
            if response.get("Errors"):
                raise OSError(f"the object store kept {len(response['Errors'])} objects it was told to delete")

    async def delete(self, conn: asyncpg.Connection, document_id: UUID) -> int:
        keys = [entry["Key"] async for entry in self._keys(f"{self.prefix}{document_id}/")]
        await self._delete_keys(keys)
        return len(keys)

    async def delete_many(self, conn: asyncpg.Connection, document_ids: Sequence[UUID]) -> int:
        return sum(await _bounded_gather((self.delete(conn, document_id) for document_id in document_ids), 4))

    async def sweep(self, pool: asyncpg.Pool, *, older_than: timedelta = ORPHAN_AGE) -> int:
        """Settle the uploads whose pending marker is older than `older_than`: one that committed loses its marker,
        one that did not (failed, refused, interrupted) loses its objects too; how many segment objects it removed.
        Only the markers are listed, so a sweep costs by the uploads since the last one, not by the bucket's size."""
        cutoff = datetime.now(UTC) - older_than
        markers: dict[UUID, str] = {}
        async for entry in self._keys(self._pending_prefix):
            with contextlib.suppress(ValueError):  # not ours: the bucket may hold other things under the prefix
                if entry["LastModified"] <= cutoff:
                    markers[UUID(entry["Key"][len(self._pending_prefix):])] = entry["Key"]
        if not markers:
            return 0
        removed = 0
        async with pool.acquire() as conn, conn.transaction():
            idle = [row["id"] for row in await conn.fetch(_lock_idle_sql, list(markers))]  # no upload of theirs runs
            orphans = {row["id"] for row in await conn.fetch(_without_active_sql, idle)}
            for document_id in idle:
                if document_id in orphans:
                    removed += await self.delete(conn, document_id)
                await self._delete_keys([markers[document_id]])
        if removed:
            log.info("swept %d orphaned objects of %d uploads that never committed", removed, len(orphans))
        return removed


class BlobStoreUnavailable(OSError):
    """The bucket cannot be reached at start-up (a start-up error: its message names the bucket and why)."""


def _endpoint_configured() -> bool:
    return bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))


@contextlib.asynccontextmanager
async def open_s3_store(spec: str) -> AsyncIterator[S3BlobStore]:
    """An S3BlobStore on `spec` (s3://bucket/prefix) with a client for as long as the context lasts.

    The bucket must exist (it is the operator's: its versioning, lifecycle and access policy are theirs); a
    missing or unreachable one stops start-up here rather than fail the first upload.
    """
    from aiobotocore.config import AioConfig  # imported only where the object store is used
    from aiobotocore.session import get_session
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = parse_location(spec)
    config = AioConfig(s3={"addressing_style": "path"} if _endpoint_configured() else {},
                       max_pool_connections=_CONCURRENCY * 2, retries={"max_attempts": 3, "mode": "standard"})
    async with get_session().create_client("s3", config=config) as client:
        try:
            await client.head_bucket(Bucket=bucket)
        except (BotoCoreError, ClientError) as exc:  # no credentials, no endpoint, 403, 404
            raise BlobStoreUnavailable(f"BRYGGA_BLOBS: bucket {bucket} cannot be used: {exc}") from None
        yield S3BlobStore(client, bucket, prefix)


async def sweep_forever(store: S3BlobStore, pool: asyncpg.Pool, *, interval: float = SWEEP_INTERVAL) -> None:
    """Sweep every `interval` seconds until cancelled; a failed sweep is logged and tried again next time."""
    while True:
        try:
            await store.sweep(pool)
        except Exception:  # the database's, the network's or botocore's (no common base): a sweep never stops the service
            log.exception("blob sweep failed")
        await asyncio.sleep(interval)
