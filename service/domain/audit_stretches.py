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
import ctypes
import gc
import json
import logging
import os
import pickle
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from crypto.chain import EVENT_FIELDS, ChainVerifier, Stretch

from ..database import connect_options
from ..store import audit_chain as chain_store
from .audit_windows import Windows

log = logging.getLogger("brygga.audit")
WORKER_FROM = 200_000  # events: a smaller log is walked by one process (spawning one costs a few tenths of a second)
WORKER_SHARE = 0.47  # of the events: the later stretch, the worker's; a little under half: it starts 0.2-0.4 s late
LINES_AT_ONCE = 50_000  # events a COPY of lines covers: what an event the lines cannot prove costs at most
VERSIONED = slice(1, 2 + len(EVENT_FIELDS))  # [FORMAT_VERSION, *values] in a walk row
_PR_SET_PDEATHSIG = 1  # linux/prctl.h: the worker's signal when the process that started it ends

Add = Callable[[int, Any, Any, Any, Any], bool]


async def walk_lines(conn: asyncpg.Connection, verifier: ChainVerifier, add: Add, windows: Windows, *, after: int,
                     end: int, size: int | None = None, progress: Callable[[int], None] | None = None,
                     lines: Callable[[list[bytes]], bool] | None = None) -> tuple[int, bool]:
    """Hand `verifier` the events after seq `after` and below `end` as lines (ChainVerifier.add_lines, or `lines`,
    which calls it: the archive writes what it accepts), a COPY of `size` (LINES_AT_ONCE) numbers at a time, and each
    event the lines do not prove alone to `add` (add_versioned, or a fork's add_proven), until the verifier is no
    longer intact; `windows` loads the checkpoints of each before it. Returns (the seq up to which every event was
    handed over, whether `add` answered False: the verdict is known, or a fork stops there). `progress` is told the
    verifier's count of events after each COPY."""
    size = size or LINES_AT_ONCE
    lines = lines or verifier.add_lines
    while verifier.intact and after + 1 < end:
        below = min(after + size, end)
        checked = verifier.checked
        await windows.reach(below)
        accepted = await chain_store.walk_lines(conn, lines, after=after, below=below)
        if progress is not None:
            progress(verifier.checked)
        if accepted:
            after = below - 1
            if verifier.checked == checked:  # no event there: the numbers a month's roll skipped
                after = (await chain_store.next_seq(conn, after=after) or end) - 1
            continue
        row = await chain_store.walk_row(conn, after=max(after, verifier.head_seq))  # a fork's head is before `after`
        if row is None or row[0] >= end:
            break
        after = row[0]
        await windows.reach(after + 1)
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
# machine, up to 0.8 s beside the walk it is to share the work of), where this module needs half of that. Its answer
# is JSON, checked field by field (_stretch), not a pickle.
_ROOT = Path(__file__).resolve().parents[2]  # where `service` is a package: put on the worker's PYTHONPATH


async def begin(conn: asyncpg.Connection, dsn: str, verifier: ChainVerifier, *, after: int, end: int) -> Later | None:
    """Start checking the later part of the events after seq `after` and below `end` in a worker process, in the
    snapshot of `conn`'s open REPEATABLE READ transaction; None when they are too few to pay for one."""
    if await chain_store.events_estimate(conn) < WORKER_FROM:
        return None
    low = await split_point(conn, after=after, end=end)
    if low is None:
        return None
    snapshot = await chain_store.export_snapshot(conn)
    keys = {key_id: key.public_bytes(Encoding.Raw, PublicFormat.Raw) for key_id, key in verifier.public_keys.items()}
    # No checkpoints: it reads its stretch's itself, a window at a time (audit_windows.py), in the same snapshot.
    arguments = pickle.dumps((dsn, snapshot, low, end, keys, verifier.held, LINES_AT_ONCE, os.getpid()))
    # `service` found by PYTHONPATH, not by the working directory: relative paths in the DSN or PG* variables mean
    # for the worker what they mean here. The arguments (the DSN with them) go by a pipe, not the command line.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(_ROOT), os.environ.get("PYTHONPATH"))))}
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", __name__, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
    except OSError:  # no process to be had (limits): the walk goes on alone
        return None
    return Later(low, asyncio.create_task(_answer(process, arguments, low=low, end=end)), process)


async def _answer(process: asyncio.subprocess.Process, arguments: bytes, *, low: int, end: int) -> Stretch | None:
    """The worker's Stretch, read from its JSON and checked to lie inside its stretch; None when it failed."""
    out, err = await process.communicate(arguments)
    if process.returncode != 0:
        if process.returncode != -signal.SIGKILL:  # not ended by close(): say why (the walk takes its stretch)
            log.warning("audit verify's worker process failed; one process walks its stretch",
                        extra={"exit": process.returncode, "error": err.decode(errors="replace")[-2000:]})
        return None
    return _stretch(json.loads(out), low=low, end=end)


def _stretch(answer: Any, *, low: int, end: int) -> Stretch | None:
    """A Stretch from the worker's JSON, or None unless every field has its type and the stretch lies after `low`
    and before `end` (what join() then checks against the walk here)."""
    if answer is None:
        return None
    try:
        begun = (answer["begun"][0], bytes.fromhex(answer["begun"][1]))
        stretch = Stretch(begun, answer["head_seq"], bytes.fromhex(answer["head_hash"]), answer["checked"],
                          answer["held_met"], answer["intact"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    numbers = (stretch.begun[0], stretch.head_seq, stretch.checked)
    if not all(type(n) is int for n in numbers) or type(stretch.intact) is not bool or type(stretch.held_met) is not bool:
        return None
    if not stretch.begun[0] <= low < stretch.head_seq < end:
        return None
    return stretch


async def split_point(conn: asyncpg.Connection, *, after: int, end: int) -> int | None:
    """The seq after which the worker's stretch begins: a signed checkpoint's, WORKER_SHARE of them from the last (the
    sealer signs one every 1,000 events or 10 seconds, so they share the events out well enough without counting
    a million of them; a poor split costs time, never a verdict); None without two checkpoints between."""
    return await chain_store.split_seq(conn, after=after, below=end, share=1 - WORKER_SHARE)


def check(dsn: str, snapshot: str, after: int, end: int, keys: Mapping[str, bytes],
          held: tuple[int, bytes] | None, size: int) -> Stretch | None:
    """In the worker process: the events after seq `after` and below `end` checked on their own (see begin)."""
    public_keys = {key_id: Ed25519PublicKey.from_public_bytes(raw) for key_id, raw in keys.items()}
    gc.set_threshold(50_000)  # millions of short-lived objects, none in a cycle
    verifier = ChainVerifier(public_keys, {}, held, covered=after + 1)
    return asyncio.run(_check(dsn, snapshot, after, end, verifier, size))


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
            windows = Windows(conn, fork)
            try:
                await walk_lines(conn, fork, fork.add_proven, windows, after=after, end=end, size=size)
            finally:
                windows.close()
            return Stretch.of(fork, begun)
    finally:
        await conn.close()



def _main() -> None:
    """`python -m service.domain.audit_stretches`: check() on the arguments begin() pickles to standard input (from
    the process that started this one: its own), the Stretch (or null) as JSON to standard output."""
    *arguments, parent = pickle.load(sys.stdin.buffer)
    if sys.platform == "linux":  # ended with the verification that started it, however that ends (its snapshot)
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            return
    stretch = check(*arguments)
    answer = None if stretch is None else {
        "begun": [stretch.begun[0], stretch.begun[1].hex()], "head_seq": stretch.head_seq,
        "head_hash": stretch.head_hash.hex(), "checked": stretch.checked, "held_met": stretch.held_met,
        "intact": stretch.intact}
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    _main()
