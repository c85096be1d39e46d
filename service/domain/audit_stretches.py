"""Verification of the audit chain in stretches, several at once (issue #13: `audit verify` ≥ 200,000 events/s).

One connection reads the lines of the chain (COPY) about as fast as Python hashes them, and the two take turns: a
walk on one connection is bound by the sum of both. But every line carries its predecessor's link, so a stretch
of lines can be checked on its own from the link its first event names, on another connection, while the next
stretch is read. The stretches are then joined in order: a stretch counts only where the chain before it is seen
to end at exactly the link it began from (crypto.chain.ChainVerifier.join), so no stretch is believed on its own
word, and the first stretch that does not join (a problem, an unsealed event) is left to the ordinary walk, which
finds and names what is wrong there. Every connection reads in one exported snapshot: the stretches are one log.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg

from crypto.chain import ChainVerifier

from ..store import audit_chain as chain_store


async def walk_in_stretches(conn: asyncpg.Connection, helpers: Sequence[asyncpg.Connection],
                            verifier: ChainVerifier, *, after: int, end: int, size: int) -> int:
    """Check the lines of the events after seq `after` and below `end` in stretches of at most `size` events on
    `conn` (in its open REPEATABLE READ transaction) and `helpers` at once, joining each into `verifier` in
    order; returns the seq up to which `verifier` has taken every event (`after` when it took none)."""
    stretches = await _stretches(conn, after=after, end=end, size=size)
    if not stretches:
        return after
    begun = await chain_store.links_of(conn, [low + 1 for low, _ in stretches])
    snapshot = await chain_store.export_snapshot(conn)
    checked: list[ChainVerifier | None] = [None] * len(stretches)
    state = {"next": 0, "stop": len(stretches)}  # the next stretch to take; none from `stop` on is worth reading

    async def take(reader: asyncpg.Connection) -> None:
        while state["next"] < state["stop"]:
            index = state["next"]
            state["next"] += 1
            low, high = stretches[index]
            link = begun.get(low + 1)
            stretch = verifier.fork(*link) if link is not None else None
            if stretch is None or not await chain_store.walk_lines(reader, stretch.add_lines, after=low, below=high + 1):
                state["stop"] = min(state["stop"], index)  # the ordinary walk takes it from here
                return
            checked[index] = stretch

    async def helper(reader: asyncpg.Connection) -> None:
        async with reader.transaction(isolation="repeatable_read", readonly=True):
            await chain_store.share_snapshot(reader, snapshot)
            await take(reader)

    await asyncio.gather(take(conn), *(helper(reader) for reader in helpers))
    upto = after
    for (low, high), stretch in zip(stretches, checked, strict=True):
        link = begun.get(low + 1)
        if stretch is None or link is None or not verifier.join(stretch, link):
            break
        upto = high
    return upto


async def _stretches(conn: asyncpg.Connection, *, after: int, end: int, size: int) -> list[tuple[int, int]]:
    """(low, high) pairs: the events with low < seq <= high, each pair beginning right before an event and
    spanning at most `size` numbers, over every event after `after` and below `end`. The numbering skips ahead at
    each month's roll (migrations: audit_events_roll); a stretch never spans the skip."""
    stretches: list[tuple[int, int]] = []
    while True:
        first = await chain_store.next_seq(conn, after=after)
        if first is None or first >= end:
            return stretches
        after = min(first - 1 + size, end - 1)
        stretches.append((first - 1, after))
