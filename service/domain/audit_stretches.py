"""Verification of the audit chain in two stretches at once, the later one in a worker process (issue #13).

One process reads the lines of the chain (COPY) and hashes them, and on one connection the Python that hashes is
the bound: a second connection in the same process gained nothing (measured: 0.90-0.99 of one). But every line
carries its predecessor's link, so a later stretch of the chain can be checked on its own, from the link its first
event names, in a process of its own (spawned: its own interpreter, its own connection), while this process walks
the stretch before it. Its result is joined only where the chain before it is seen to end at exactly the link it
began from (crypto.chain.ChainVerifier.join), so no stretch is believed on its own word; a stretch that does not
join, or joins only up to an event it could not prove (a problem, an unsealed event, a value the lines cannot
write), is walked on from there by the ordinary walk, which finds and names what is wrong. Both read in one
snapshot (pg_export_snapshot): the stretches are one log.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from crypto.chain import EVENT_FIELDS, ChainVerifier, Checkpoint, Stretch

from ..database import connect_options
from ..store import audit_chain as chain_store

WORKER_FROM = 200_000  # events: a smaller log is walked by one process (spawning one costs a few tenths of a second)
WORKER_SHARE = 0.5  # of the events: the later stretch, the worker's
LINES_AT_ONCE = 50_000  # events a COPY of lines covers: what an event the lines cannot prove costs at most
VERSIONED = slice(1, 2 + len(EVENT_FIELDS))  # [FORMAT_VERSION, *values] in a walk row

Add = Callable[[int, Any, Any, Any, Any], bool]


async def walk_lines(conn: asyncpg.Connection, verifier: ChainVerifier, add: Add, *, after: int, end: int,
                     size: int | None = None) -> tuple[int, bool]:
    """Hand `verifier` the events after seq `after` and below `end` as lines (ChainVerifier.add_lines), a COPY of
    `size` (LINES_AT_ONCE) numbers at a time, and each event the lines do not prove alone to `add` (add_versioned, or a
    fork's add_proven), until the verifier is no longer intact. Returns (the seq up to which every event was
    handed over, whether `add` answered False: the verdict is known, or a fork stops there)."""
    size = size or LINES_AT_ONCE
    while verifier.intact and after + 1 < end:
        below = min(after + size, end)
        checked = verifier.checked
        if await chain_store.walk_lines(conn, verifier.add_lines, after=after, below=below):
            after = below - 1
            if verifier.checked == checked:  # no event there: the numbers a month's roll skipped
                after = (await chain_store.next_seq(conn, after=after) or end) - 1
            continue
        row = await chain_store.walk_row(conn, after=max(after, verifier.head_seq))  # a fork's head is before `after`
        if row is None or row[0] >= end:
            break
        after = row[0]
        if not add(row[0], row[VERSIONED], row[-3], row[-2], row[-1]):
            return after, True
    return after, False


@dataclass
class Later:
    """The later stretch, the events after seq `low`, being checked in a worker process."""

    low: int
    future: asyncio.Future[Stretch | None]
    pool: ProcessPoolExecutor

    async def stretch(self) -> Stretch | None:
        """What the worker found; None when it failed (gone, no connection): the walk then takes its stretch."""
        with contextlib.suppress(Exception):
            return await self.future
        return None

    async def close(self) -> None:
        """Wait for the worker (its transaction must end before the snapshot's) and end its process."""
        await asyncio.gather(self.future, return_exceptions=True)
        await asyncio.to_thread(self.pool.shutdown)


async def begin(conn: asyncpg.Connection, dsn: str, verifier: ChainVerifier, *, after: int, end: int) -> Later | None:
    """Start checking the later part of the events after seq `after` and below `end` in a worker process, in the
    snapshot of `conn`'s open REPEATABLE READ transaction; None when they are too few to pay for one."""
    if await chain_store.events_estimate(conn) < WORKER_FROM:
        return None
    low = split_point(verifier.checkpoints, after=after, end=end)
    if low is None:
        return None
    snapshot = await chain_store.export_snapshot(conn)
    keys = {key_id: key.public_bytes(Encoding.Raw, PublicFormat.Raw) for key_id, key in verifier.public_keys.items()}
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        future = asyncio.get_running_loop().run_in_executor(
            pool, check, dsn, snapshot, low, end, keys, dict(verifier.checkpoints), verifier.held, LINES_AT_ONCE)
    except (OSError, RuntimeError):  # no process to be had (limits, shutting down): the walk goes on alone
        pool.shutdown(wait=False)
        return None
    return Later(low, future, pool)


def split_point(checkpoints: Iterable[int], *, after: int, end: int) -> int | None:
    """The seq after which the worker's stretch begins: a signed checkpoint's, WORKER_SHARE of them from the last (the
    sealer signs one every 1,000 events or 10 seconds, so they share the events out well enough without counting
    a million of them; a poor split costs time, never a verdict); None without two checkpoints between."""
    seqs = sorted(seq for seq in checkpoints if after < seq < end)
    return seqs[int(len(seqs) * (1 - WORKER_SHARE))] if len(seqs) >= 2 else None


def check(dsn: str, snapshot: str, after: int, end: int, keys: Mapping[str, bytes],
          checkpoints: Mapping[int, Checkpoint], held: tuple[int, bytes] | None, size: int) -> Stretch | None:
    """In the worker process: the events after seq `after` and below `end` checked on their own (see begin)."""
    public_keys = {key_id: Ed25519PublicKey.from_public_bytes(raw) for key_id, raw in keys.items()}
    gc.set_threshold(50_000)  # millions of short-lived objects, none in a cycle
    return asyncio.run(_check(dsn, snapshot, after, end, ChainVerifier(public_keys, checkpoints, held), size))


async def _check(dsn: str, snapshot: str, after: int, end: int, verifier: ChainVerifier, size: int) -> Stretch | None:
    conn = await asyncpg.connect(dsn, **connect_options())
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await chain_store.share_snapshot(conn, snapshot)
            await chain_store.plan_walks(conn)
            begun = await chain_store.first_link(conn, after=after, below=end)
            if begun is None:
                return None  # not sealed there: the ordinary walk takes it
            fork = verifier.fork(*begun)
            await walk_lines(conn, fork, fork.add_proven, after=after, end=end, size=size)
            return Stretch.of(fork, begun)
    finally:
        await conn.close()

