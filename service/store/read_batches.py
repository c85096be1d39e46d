"""Group commit for content reads (issue #21): the audit events of concurrent reads in one statement, one commit.

A content read may send no byte before its audit event is durable (service/audit.py), and until now each read
paid its own INSERT, its own commit and WAL flush. Reads that arrive while a batch is being committed wait for
it and then go together: their events in one INSERT, their first segments read after them in the same
statement (BlobStore.firsts_after_events), one commit. A read that finds no batch in flight goes at once, alone,
so a lone client pays nothing for the gathering: there is no timer, only the time the batch before takes.

Each read hands over the connection its facts were loaded on; the recorder keeps one of those for the next batch
and gives the others back to the pool at once, so gathering never holds more connections than it writes on.

Isolation: when a batch's statement fails for a reason of the statement's own (a constraint, a bad value), no
read is failed for its neighbour's sake: each is recorded again alone and gets its own answer. When the
database is gone, every read of the batch gets that error, as a single read would, and nothing was recorded.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from crypto import DecryptionFailed

from .audit_recording import EventValues
from .blobs import BlobStore

# The database is gone or going (the connection, or PostgreSQL's classes 08 and 57): not any one event's fault.
_DATABASE_GONE = (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError, asyncpg.OperatorInterventionError)


@dataclass(slots=True)
class _Read:
    event: EventValues
    document_id: UUID
    count: int
    done: asyncio.Future[list[bytes]]


class ReadRecorder:
    """Records content reads' events in batches and returns each read its first segments (see the module)."""

    def __init__(self, pool: Any, blobs: BlobStore, *, most: int = 64) -> None:
        self._pool, self._blobs, self._most = pool, blobs, most
        self._waiting: list[_Read] = []
        self._spare: asyncpg.Connection | None = None  # a handed-over connection for the next batch
        self._draining: asyncio.Task[None] | None = None
        self.batches = 0  # how many statements recorded reads (tests and benchmarks read it)

    async def first_after_event(self, conn: asyncpg.Connection, document_id: UUID, *, count: int,
                                event: EventValues) -> list[bytes]:
        """Record `event` (committed), then return the document's first segments, as BlobStore.first_after_event
        does; takes over `conn` (idle, outside a transaction), which the caller must not use or release after.
        Raises DecryptionFailed, or what recording raised."""
        read = _Read(event, document_id, count, asyncio.get_running_loop().create_future())
        self._waiting.append(read)
        if self._spare is None:
            self._spare = conn
        else:
            await self._pool.release(conn)
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain(), name="read-batches")
        return await read.done

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:self._most], self._waiting[self._most:]
                conn, self._spare = self._spare, None
                try:
                    if conn is None:  # more reads than a batch takes: the rest go next, on a connection of their own
                        conn = await self._pool.acquire()
                    await self._record(conn, batch)
                except BaseException as error:
                    _fail(batch, error)
                    if not isinstance(error, Exception):
                        raise
                finally:
                    if conn is not None:
                        await self._pool.release(conn)
        finally:
            self._draining = None
            if self._spare is not None:
                spare, self._spare = self._spare, None
                await self._pool.release(spare)
            if self._waiting:  # cancelled with reads still waiting (shutdown): they fail rather than hang
                _fail(self._waiting, asyncio.CancelledError())
                self._waiting = []

    async def _record(self, conn: asyncpg.Connection, batch: list[_Read]) -> None:
        self.batches += 1
        if len(batch) == 1:
            read = batch[0]
            _answer(read, await _alone(self._blobs, conn, read))
            return
        try:
            results = await self._blobs.firsts_after_events(conn, [r.event for r in batch],
                                                            [(r.document_id, r.count) for r in batch])
        except _DATABASE_GONE:
            raise
        except asyncpg.PostgresError:
            for read in batch:  # one bad event must not fail its neighbours: each alone, its own answer
                self.batches += 1
                _answer(read, await _alone(self._blobs, conn, read))
            return
        for read, result in zip(batch, results, strict=True):
            _answer(read, result)


async def _alone(blobs: BlobStore, conn: asyncpg.Connection, read: _Read) -> list[bytes] | BaseException:
    try:
        return await blobs.first_after_event(conn, read.document_id, count=read.count, event=read.event)
    except _DATABASE_GONE:
        raise
    except (asyncpg.PostgresError, DecryptionFailed) as error:
        return error


def _answer(read: _Read, result: list[bytes] | BaseException) -> None:
    if read.done.done():  # its request was cancelled meanwhile (its event may be recorded: a retry is safe)
        return
    if isinstance(result, asyncio.CancelledError):
        read.done.cancel()
    elif isinstance(result, BaseException):
        read.done.set_exception(result)
    else:
        read.done.set_result(result)


def _fail(reads: list[_Read], error: BaseException) -> None:
    for read in reads:
        _answer(read, error)
