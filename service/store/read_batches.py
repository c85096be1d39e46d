"""Group work for content reads (issue #21): the facts and the audit events of concurrent reads, a statement each.

A content read loads its facts, then may send no byte before its audit event is durable (service/audit.py). Until
now each read paid two statements of its own, and a commit with its WAL flush. Reads that arrive while a batch is
in flight now wait for it and then go together: their facts in one statement (store.facts.for_documents), and
their events in one INSERT with their first segments read after them in the same statement, one commit
(BlobStore.firsts_after_events). A read that finds no batch in flight goes at once, alone: there is no timer, so
a lone client pays nothing for the gathering, only the time the batch before it takes when there is one.

Each gatherer keeps one pool connection while content reads come, and gives it back a second after they stop
(at once when the pool has none left to hand out; _Held): taking one from the pool and giving it back cost the
event loop about 64 µs a statement (asyncpg's release runs as a task of its own and re-arms a timer), more than a
small batch's statement. Only the gatherer's one batch in flight uses it; a read holds none while it waits; a
small pool is not held from.

Isolation: when a batch's statement fails for a reason of the statement's own (a constraint, a bad value), no
read fails for its neighbour's sake: each goes again alone and gets its own answer. When the database is gone,
every read of the batch gets that error, as a single read would, and nothing was recorded.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar
from uuid import UUID

import asyncpg

from crypto import DecryptionFailed
from policies.decide import Facts
from policies.model import Principal

from . import facts as facts_store
from .audit_recording import EventValues
from .blobs import BlobStore

# The database is gone or going (the connection, or PostgreSQL's classes 08 and 57): not any one read's fault.
_DATABASE_GONE = (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError, asyncpg.OperatorInterventionError)
# A value of one read's that cannot be sent (json.dumps's TypeError or ValueError, asyncpg's client-side DataError, a
# ValueError and an InterfaceError at once, e.g. a lone surrogate in a name): that read's fault, not the database's.
_OWN_FAULT = (TypeError, ValueError)
log = logging.getLogger("brygga.read_batches")

In = TypeVar("In")
Out = TypeVar("Out")


class Gatherer(Generic[In, Out]):
    """Calls that arrive while a batch is in flight go together in the next batch; a call finding none goes at
    once. `run` answers a batch: one result per item, in order (an exception as the item's answer). `idle`, when
    given, is called each time the batches run out (ReadBatches lets its connection go then)."""

    def __init__(self, run: Callable[[list[In]], Awaitable[list[Out | BaseException]]], *, most: int = 64,
                 idle: Callable[[], None] | None = None) -> None:
        self._run, self._most, self._idle = run, most, idle
        self._waiting: list[tuple[In, asyncio.Future[Out]]] = []
        self._draining: asyncio.Task[None] | None = None
        self.batches = 0  # statements run (tests and benchmarks read it)

    async def __call__(self, item: In) -> Out:
        done: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain(), name="read-batches")
        return await done

    async def close(self) -> None:
        """Stop the batch in flight, if any (its calls end cancelled): the end of the runtime."""
        draining = self._draining
        if draining is not None:
            draining.cancel()
            await asyncio.gather(draining, return_exceptions=True)
            if self._draining is draining:  # cancelled before it began: its finally never ran
                self._draining = None
                self._end_waiting()

    async def _drain(self) -> None:
        try:
            await self._batches()
        finally:
            if self._idle is not None:
                self._idle()  # also after an error of its own: a kept connection is given back in any case
            self._draining = None
            self._end_waiting()

    def _end_waiting(self) -> None:
        """Calls still waiting when the batches stopped for good (shutdown) end cancelled rather than hang."""
        if self._waiting:
            _answer(self._waiting, [asyncio.CancelledError()] * len(self._waiting))
            self._waiting = []

    async def _batches(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:self._most], self._waiting[self._most:]
            self.batches += 1
            try:
                results = await self._run([item for item, _ in batch])
            except BaseException as error:  # each call of the batch answers with it
                results = [error] * len(batch)
                if not isinstance(error, Exception):
                    _answer(batch, results)
                    raise
            _answer(batch, results)


def _answer(batch: list[tuple[Any, asyncio.Future[Any]]], results: list[Any]) -> None:
    for (_, done), result in zip(batch, results, strict=True):
        if done.done():  # its request was cancelled meanwhile (an event may be recorded: a retry is safe)
            continue
        if isinstance(result, asyncio.CancelledError):
            done.cancel()
        elif isinstance(result, BaseException):
            done.set_exception(result)
        else:
            done.set_result(result)


async def _together(items: list[In], together: Callable[[], Awaitable[Sequence[Out]]],
                    alone: Callable[[In], Awaitable[Out]]) -> list[Out | BaseException]:
    """`together`, the batch's one statement, for more than one item; when it fails on a value of its own (a
    constraint, a value it cannot carry), each item alone, so only the one at fault fails; a lost database fails
    them all."""
    if len(items) > 1:
        try:
            return list(await together())
        except _OWN_FAULT:  # before _DATABASE_GONE: asyncpg's client-side DataError is an InterfaceError too
            pass
        except _DATABASE_GONE:
            raise
        except asyncpg.PostgresError:
            pass
    return await _each_alone(items, alone)


async def _each_alone(items: list[In], alone: Callable[[In], Awaitable[Out]]) -> list[Out | BaseException]:
    """Every item on its own, its error its own answer; a lost database ends them all."""
    results: list[Out | BaseException] = []
    for item in items:
        try:
            results.append(await alone(item))
        except _OWN_FAULT as error:  # before _DATABASE_GONE: asyncpg's client-side DataError is an InterfaceError too
            results.append(error)
        except _DATABASE_GONE:
            raise
        except (asyncpg.PostgresError, DecryptionFailed) as error:
            results.append(error)
    return results


class _Held:
    """The pool connection of one gatherer's batches (one batch in flight at a time: never shared).

    Taken by a batch that finds none and kept while batches follow one another; given back `linger` seconds
    after a run of batches ends with no other begun (`idle`, the gatherer's), at once when a batch ends in an
    error (the database gone, a cancelled statement: the pool closes or resets it, the next batch takes
    another), after `uses` batches (the pool's own upkeep, max_queries and expire_connections, still reaches
    it) and by give_back(). With `uses` 1 each batch takes one and gives it back. A connection asyncpg lost
    and gave back by itself is dropped before a batch uses it.
    """

    def __init__(self, pool: Any, *, uses: int = 1000, linger: float = 1.0) -> None:
        self._pool, self._uses, self._linger = pool, uses, linger
        self._conn: Any = None
        self._used = 0
        self._timer: asyncio.TimerHandle | None = None
        self._releases: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[asyncpg.Connection]:
        self._stop_timer()
        conn = self._conn
        if conn is not None and not _open(conn):
            await self.give_back()
            conn = None
        if conn is None:
            conn = self._conn = await self._pool.acquire()
            self._used = 0
        try:
            yield conn
        except BaseException:
            await self.give_back()
            raise
        self._used += 1
        if self._used >= self._uses:
            await self.give_back()

    def idle(self) -> None:
        """A run of batches ended: give the connection back unless another batch begins within `linger` seconds;
        at once when the pool has no connection left to hand out (a request may be waiting for one)."""
        if self._conn is None or self._timer is not None:
            return
        pool = self._pool
        if pool.get_idle_size() == 0 and pool.get_size() >= pool.get_max_size():
            self._expire()
        else:
            self._timer = asyncio.get_running_loop().call_later(self._linger, self._expire)

    def _expire(self) -> None:
        # Only between runs of batches: a batch cancels the timer before it takes the connection, and idle() is
        # called when a run has ended.
        self._timer = None
        conn, self._conn = self._conn, None
        release = asyncio.ensure_future(self._pool.release(conn))
        self._releases.add(release)
        release.add_done_callback(self._released)

    def _released(self, release: asyncio.Task[None]) -> None:
        self._releases.discard(release)
        if not release.cancelled() and release.exception() is not None:  # a pool closing: nothing to give back to
            log.warning("a read gatherer's connection could not be given back",
                        extra={"error": type(release.exception()).__name__})

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def give_back(self) -> None:
        self._stop_timer()
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._pool.release(conn)  # nothing when asyncpg gave it back already

    async def close(self) -> None:
        """Give the connection back, wait for the ones let go after a linger, and keep none from now on (a read after
        the runtime's end takes its own): before the pool closes."""
        self._uses = 1
        await self.give_back()
        if self._releases:
            await asyncio.gather(*self._releases, return_exceptions=True)

    @property
    def kept(self) -> bool:
        return self._conn is not None


def _open(conn: Any) -> bool:
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # the pool's proxy of a connection asyncpg gave back when it was lost
        return False


# A gatherer keeps its connection between batches only from a pool this large: the two then hold at most two of
# its connections, and only while content reads come (and a second after).
HOLD_FROM_POOL_SIZE = 8
HELD_USES = 1000
_Read = tuple[EventValues, UUID, int]  # the event, the document, how many segments it has
_Facts = tuple[UUID, Principal]


class ReadBatches:
    """The facts and the recorded events of concurrent content reads, gathered (see the module)."""

    def __init__(self, pool: Any, blobs: BlobStore, *, most: int = 64) -> None:
        self._blobs = blobs
        # A small pool is not held from: between its batches a gatherer's connection serves the waiting requests.
        uses = HELD_USES if pool.get_max_size() >= HOLD_FROM_POOL_SIZE else 1
        self._events_conn, self._facts_conn = _Held(pool, uses=uses), _Held(pool, uses=uses)
        self.events: Gatherer[_Read, list[bytes]] = Gatherer(self._record, most=most, idle=self._events_conn.idle)
        self.facts: Gatherer[_Facts, tuple[asyncpg.Record | None, Facts]] = Gatherer(
            self._load, most=most, idle=self._facts_conn.idle)

    async def first_after_event(self, document_id: UUID, *, count: int, event: EventValues) -> list[bytes]:
        """Record `event` (committed), then the document's first segments, as BlobStore.first_after_event does.
        Raises DecryptionFailed, or what recording raised."""
        return await self.events((event, document_id, count))

    async def document_facts(self, document_id: UUID, principal: Principal) -> tuple[asyncpg.Record | None, Facts]:
        """store.facts.for_document, gathered with concurrent reads'."""
        return await self.facts((document_id, principal))

    @property
    def connections_kept(self) -> int:
        """How many pool connections the gatherers keep now (0 to 2)."""
        return self._events_conn.kept + self._facts_conn.kept

    async def close(self) -> None:
        """Give the gatherers' connections back to the pool (the runtime's end, before the pool closes)."""
        for gatherer, held in ((self.events, self._events_conn), (self.facts, self._facts_conn)):
            await gatherer.close()
            await held.close()

    async def _record(self, reads: list[_Read]) -> list[list[bytes] | BaseException]:
        async with self._events_conn() as conn:
            async def alone(read: _Read) -> list[bytes]:
                return await self._blobs.first_after_event(conn, read[1], count=read[2], event=read[0])

            return await _together(reads, lambda: self._blobs.firsts_after_events(
                conn, [r[0] for r in reads], [(r[1], r[2]) for r in reads]), alone)

    async def _load(self, wanted: list[_Facts]) -> list[tuple[asyncpg.Record | None, Facts] | BaseException]:
        async with self._facts_conn() as conn:
            async def alone(item: _Facts) -> tuple[asyncpg.Record | None, Facts]:
                return await facts_store.for_document(conn, item[0], principal=item[1])

            return await _together(wanted, lambda: facts_store.for_documents(conn, wanted), alone)
