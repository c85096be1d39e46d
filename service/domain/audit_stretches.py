"""Verification of the audit chain in two stretches at once, the later one in a worker process (issue #13).

One process reads the lines of the chain (COPY) and hashes them, and on one connection the Python that hashes is
the bound: a second connection in the same process gained nothing (measured: 0.90-0.99 of one). But every line
carries its predecessor's link, so a later stretch of the chain can be checked on its own, from the link its first
event names, in a process of its own (this module run by the same interpreter, its own connection), while this process walks
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
import logging
import pickle
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from crypto.chain import EVENT_FIELDS, ChainVerifier, Checkpoint, Stretch

from ..database import connect_options
from ..store import audit_chain as chain_store

log = logging.getLogger("brygga.audit")
WORKER_FROM = 200_000  # events: a smaller log is walked by one process (spawning one costs a few tenths of a second)
WORKER_SHARE = 0.47  # of the events: the later stretch, the worker's; a little under half: it starts 0.2-0.4 s late
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
    future: asyncio.Task[Stretch | None]
    process: asyncio.subprocess.Process

    async def stretch(self) -> Stretch | None:
        """What the worker found; None when it failed (gone, no connection): the walk then takes its stretch."""
        with contextlib.suppress(Exception):
            return await self.future
        return None

    async def close(self) -> None:
        """End the worker if it still runs (its stretch was not asked for: a verdict before it, or links whose
        event is gone), and wait for its process."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        await asyncio.gather(self.future, return_exceptions=True)
        await self.process.wait()


# The worker is this module run by the same interpreter (`python -m`), not a multiprocessing spawn: a spawned child
# imports the parent's main module first (`python -m service`: aiohttp and the whole application, 0.5 s on a quiet
# machine, up to 0.8 s beside the walk it is to share the work of), where this module needs half of that.
_ROOT = Path(__file__).resolve().parents[2]  # where `service` is a package: the worker's working directory


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
    arguments = (dsn, snapshot, low, end, keys, dict(verifier.checkpoints), verifier.held, LINES_AT_ONCE)
    try:  # the arguments (the DSN with them) go by a pipe, not the command line other users can list
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", __name__, cwd=_ROOT, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except OSError:  # no process to be had (limits): the walk goes on alone
        return None
    return Later(low, asyncio.create_task(_answer(process, pickle.dumps(arguments))), process)


async def _answer(process: asyncio.subprocess.Process, arguments: bytes) -> Stretch | None:
    """The worker's Stretch (its own pickle, from the interpreter this one started); None when it failed."""
    out, err = await process.communicate(arguments)
    if process.returncode != 0:
        if process.returncode and process.returncode > 0:  # not killed by close(): say why
            log.warning("audit verify's worker process failed; one process walks its stretch",
                        extra={"exit": process.returncode, "error": err.decode(errors="replace")[-2000:]})
        return None
    stretch: Stretch | None = pickle.loads(out)
    return stretch


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



def _main() -> None:
    """`python -m service.domain.audit_stretches`: check() on the arguments begin() pickles to standard input; the
    Stretch (or None) pickled to standard output."""
    arguments = pickle.load(sys.stdin.buffer)
    pickle.dump(check(*arguments), sys.stdout.buffer)


if __name__ == "__main__":
    _main()
