"""The audit chain's SQL: what the sealer reads and writes, what verification walks."""
from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from datetime import date, datetime
from typing import Any

import asyncpg

from crypto.chain import EVENT_FIELDS, FORMAT_VERSION, GENESIS, Checkpoint

# Every recording transaction holds this lock (shared: recorders never wait on each
# other) from before its event takes a sequence number until it ends. The sealer reads
# who holds it to know when every number below a committed one is final (audit_chain_sealer.py).
RECORDING_LOCK = 7_264_002

# The event's values in crypto.chain.EVENT_FIELDS order, as the chain encodes them:
# `at` in exact microseconds, ids as text. Shared by sealing, verification and export.
EVENT_VALUES = """
    e.seq, (EXTRACT(EPOCH FROM e.at) * 1000000)::bigint, e.actor_sub, e.actor_name, e.actor_unit,
    e.actor_organisation, e.actor_domain, e.actor_roles, e.action, e.client_id::text, e.document_id::text,
    e.consent_id::text, e.decision, e.basis, e.reason_codes, e.purpose, e.request_id, e.remote_addr, e.flagged
"""

# Snapshot first (max seq committed), then who holds the recording lock: a transaction
# holding a number at or below that max took the lock before it and still holds it.
_observe_sql = f"""
SELECT (SELECT max(seq) FROM audit_events) AS max_seq,
       ARRAY(SELECT virtualtransaction FROM pg_locks
             WHERE locktype = 'advisory' AND classid = 0 AND objid = {RECORDING_LOCK} AND objsubid = 1
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND granted AND pid <> pg_backend_pid()) AS holders
"""
_head_sql = "SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1"
_to_seal_sql = f"SELECT {EVENT_VALUES} FROM audit_events e WHERE e.seq > $1 AND e.seq <= $2 ORDER BY e.seq LIMIT $3"
_sealed_since_sql = "SELECT count(*) FROM audit_chain WHERE seq > $1"
_insert_checkpoint_sql = """
INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature, prev)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (seq) DO NOTHING
"""
# Events in seq order with their links: a merge over both primary keys, no sort.
_walk_sql = f"""
SELECT e.seq, {FORMAT_VERSION} AS version, {EVENT_VALUES}, c.prev_seq, c.prev_hash, c.hash
FROM audit_events e LEFT JOIN audit_chain c ON c.seq = e.seq AND c.seq > $1
WHERE e.seq > $1
ORDER BY e.seq
"""
_walk_row_sql = _walk_sql + " LIMIT 1"

# The walk as lines of text for ChainVerifier.add_lines, `seq"prev_seq"prev_hash"hash"` and the event's
# canonical bytes (crypto/chain.py), written by COPY: its text format with `"` for the delimiter between
# columns writes each text column between quotes and escapes in it what JSON escapes (`"` and `\` with a
# backslash, newline, return, tab, backspace and form feed by their letters), so that an event's columns and
# the constants between them (`,` and the like) come out as its canonical JSON, from C, without a Python
# object per value. What COPY writes otherwise is made right on the whole text after it (_fix_lines): a null
# is COPY's `\N` between quotes, an empty array a null between its brackets, and an array's elements are one
# column joined by a control character (_JOIN) that becomes `","`.
# A value COPY does not write as JSON would (another control character, a vertical tab) makes a line whose
# bytes do not hash to its link, and so does an array with a null (written as another control character), of
# more than one dimension or other bounds, or with the joining character in an element (written as a third):
# ChainVerifier.add_lines leaves that event to the walk of values, which encodes it itself. (A text value with
# the joining character makes a line with one field more than an event has: no event's canonical bytes.)
_JOIN = "\\x01"


# An event's instant in microseconds since the epoch. EXTRACT gives numeric, whose arithmetic was a tenth of the
# line's cost in PostgreSQL; date_part's double is (micros / 10^6) rounded once, times 10^6 rounded once more: within
# |micros| * 2^-52 of micros, under 0.5 while |micros| < 2.25 * 10^15 (until April 2041), so rounding gives it
# exactly. Later instants take numeric (tests/integration/test_audit_chain.py ODD_INSTANTS, either side).
_MICROS = ("CASE WHEN e.at > '1900-01-01 00:00:00+00' AND e.at < '2041-01-01 00:00:00+00' "
           "THEN (date_part('epoch', e.at) * 1000000)::bigint "
           "ELSE (EXTRACT(EPOCH FROM e.at) * 1000000)::bigint END")


def _elements(array: str) -> str:
    """An array's column: its elements joined by _JOIN, null when empty (written between `[` and `]`)."""
    # One element (most roles and reasons), without joining: the element itself, when it is not null and holds no
    # joining character (a null, or one that does, goes on to the general case, which marks it).
    return (f"CASE WHEN cardinality({array}) = 0 THEN NULL "
            f"WHEN cardinality({array}) = 1 AND array_ndims({array}) = 1 AND array_lower({array}, 1) = 1 "
            f"AND strpos({array}[1], E'{_JOIN}') = 0 THEN {array}[1] "
            f"WHEN array_ndims({array}) = 1 AND array_lower({array}, 1) = 1 "
            f"AND strpos(array_to_string({array}, ''), E'{_JOIN}') = 0 "
            f"THEN array_to_string({array}, E'{_JOIN}', E'\\x02') ELSE E'\\x03' END")


def _line_columns() -> str:
    """The columns of a line, for crypto.chain.EVENT_FIELDS in order (tests/integration/test_audit_chain.py
    compares the lines with canonical() for every kind of value)."""
    text = ["e.actor_sub", "e.actor_name", "e.actor_unit", "e.actor_organisation", "e.actor_domain"]
    columns = ["e.seq", "c.prev_seq", "encode(c.prev_hash, 'hex')", "encode(c.hash, 'hex')",
               f"'[{FORMAT_VERSION},' || e.seq || ',' || {_MICROS} || ','"]
    for index, column in enumerate(text):
        columns += [column, "',['" if index == len(text) - 1 else "','"]
    columns += [_elements("e.actor_roles"), "'],'"]
    text = ["e.action", "e.client_id::text", "e.document_id::text", "e.consent_id::text", "e.decision", "e.basis"]
    for index, column in enumerate(text):
        columns += [column, "',['" if index == len(text) - 1 else "','"]
    columns += [_elements("e.reason_codes"), "'],'"]
    columns += ["e.purpose", "','", "e.request_id", "','", "e.remote_addr",
                "CASE WHEN e.flagged THEN ',true]' ELSE ',false]' END"]
    return ", ".join(columns)


_walk_lines_sql = f"""
SELECT {_line_columns()}
FROM audit_events e LEFT JOIN audit_chain c ON c.seq = e.seq AND c.seq > $1 AND c.seq < $2
WHERE e.seq > $1 AND e.seq < $2
ORDER BY e.seq
"""
_last_seq_sql = "SELECT coalesce(max(seq), 0) FROM audit_events"
_estimate_sql = """
SELECT sum(greatest(c.reltuples, 0)) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'audit_events'::regclass
"""
_first_link_sql = """
SELECT c.prev_seq, c.prev_hash FROM audit_events e LEFT JOIN audit_chain c ON c.seq = e.seq
WHERE e.seq > $1 AND e.seq < $2 ORDER BY e.seq LIMIT 1
"""
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")
_next_seq_sql = "SELECT min(seq) FROM audit_events WHERE seq > $1"


def _fix_lines(text: bytes) -> list[bytes]:
    """Whole lines of the COPY text as add_lines takes them: empty arrays empty, nulls null, elements apart.
    The patterns with a `\\N` COPY writes only for a null (a backslash of a value is `\\\\`)."""
    lines = text.replace(b'["\\N"]', b"[]").replace(b'"\\N"', b"null").replace(b"\x01", b'","').split(b"\n")
    lines.pop()  # after the last newline
    return lines


async def next_seq(conn: asyncpg.Connection, *, after: int) -> int | None:
    """The first event's seq after `after`, None when there is none (the numbering skips to a new month's block)."""
    seq: int | None = await conn.fetchval(_next_seq_sql, after)
    return seq


async def events_estimate(conn: asyncpg.Connection) -> int:
    """About how many events the database holds (the planner's statistics of the months' partitions, kept by
    autovacuum: no count of a million rows); 0 when they have not been gathered yet."""
    estimate: float | None = await conn.fetchval(_estimate_sql)
    return max(0, int(estimate or 0))


async def first_link(conn: asyncpg.Connection, *, after: int, below: int) -> tuple[int, bytes] | None:
    """The predecessor (prev_seq, prev_hash) the first event between seqs `after` and `below` is sealed after;
    None when there is no event there or it is not sealed."""
    row = await conn.fetchrow(_first_link_sql, after, below)
    return None if row is None or row["prev_seq"] is None else (row["prev_seq"], bytes(row["prev_hash"]))


async def export_snapshot(conn: asyncpg.Connection) -> str:
    """The snapshot of `conn`'s open REPEATABLE READ transaction, for share_snapshot() on other connections."""
    snapshot: str = await conn.fetchval("SELECT pg_export_snapshot()")
    return snapshot


async def share_snapshot(conn: asyncpg.Connection, snapshot: str) -> None:
    """Read in `snapshot` (export_snapshot()): the first statement of a REPEATABLE READ transaction."""
    if not _SNAPSHOT_ID.fullmatch(snapshot):
        raise ValueError(f"not a snapshot id: {snapshot!r}")
    await conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")  # takes no parameter; the id is checked above


async def last_seq(conn: asyncpg.Connection) -> int:
    """The highest seq of an event, 0 when there is none."""
    seq: int = await conn.fetchval(_last_seq_sql)
    return seq


async def walk_lines(conn: asyncpg.Connection, consume: Callable[[list[bytes]], bool], *, after: int,
                     below: int) -> bool:
    """Hand `consume` the events between seqs `after` and `below` in seq order as lines (_walk_lines_sql), some
    hundreds at a time, until it returns False (the rest of the range is read and dropped); whether it took them
    all. In a REPEATABLE READ transaction, as walk(), which can go on from where `consume` stopped."""
    rest, done = b"", False

    async def sink(data: bytes) -> None:
        nonlocal rest, done
        if done:
            return
        data = rest + data
        cut = data.rfind(b"\n") + 1
        rest = data[cut:]
        done = not consume(_fix_lines(data[:cut]))

    await conn.copy_from_query(_walk_lines_sql, after, below, output=sink, format="text", delimiter='"')
    return not done


# Links whose event is gone (none, unless someone deleted events), after the archive's anchor: merged into the walk.
# The anti-join over the two primary keys alone (index-only scans), then the few links it finds: fetching every
# link's hashes for the join cost twice as much (10^6 events: 0.44 s -> 0.24 s, before either walk can begin).
_orphan_links_sql = """
WITH gone AS MATERIALIZED (
    SELECT k.seq FROM audit_chain k WHERE k.seq > $1 AND NOT EXISTS (SELECT FROM audit_events e WHERE e.seq = k.seq))
SELECT c.seq, c.prev_seq, c.prev_hash, c.hash FROM audit_chain c JOIN gone USING (seq)
ORDER BY c.seq
"""
_checkpoint_columns = "seq, hash, (EXTRACT(EPOCH FROM at) * 1000000)::bigint AS at_us, at, key_id, signature, prev"
_checkpoints_sql = f"SELECT {_checkpoint_columns} FROM audit_checkpoints WHERE seq > $1 ORDER BY seq"
_checkpoints_between_sql = (f"SELECT {_checkpoint_columns} FROM audit_checkpoints WHERE seq >= $1 AND seq < $2 "
                            "ORDER BY seq")
_first_checkpoint_sql = f"SELECT {_checkpoint_columns} FROM audit_checkpoints WHERE seq >= $1 ORDER BY seq LIMIT 1"
# The seq of the checkpoint `share` of the way through those between two seqs (by count, not by number: a month's
# roll skips numbers), when there are two or more: two scans of the primary key's index.
_split_sql = """
WITH counted AS (SELECT count(*) AS n FROM audit_checkpoints WHERE seq > $1 AND seq < $2)
SELECT seq FROM audit_checkpoints WHERE seq > $1 AND seq < $2 AND (SELECT n FROM counted) >= 2 ORDER BY seq
OFFSET (SELECT floor(n * $3::float8)::bigint FROM counted) LIMIT 1
"""
# The newest archive anchor (service/audit_archive.py): where the chain in the database begins.
_anchor_sql = (f"SELECT {_checkpoint_columns}, archived_before, events, file_sha256 FROM audit_anchors "
               "ORDER BY seq DESC LIMIT 1")
_archived_before_sql = "SELECT max(archived_before) FROM audit_anchors"
_roll_sql = "SELECT audit_events_roll($1::date)"
_checkpoint_page_sql = f"SELECT {_checkpoint_columns} FROM audit_checkpoints WHERE seq > $1 ORDER BY seq LIMIT $2"
_latest_checkpoint_sql = f"SELECT {_checkpoint_columns} FROM audit_checkpoints ORDER BY seq DESC LIMIT 1"


def checkpoint(row: Any) -> Checkpoint:
    """A row of the checkpoint columns (a checkpoint's or an anchor's) as crypto.chain's Checkpoint. The key id
    interned: one string for the millions of checkpoints a key signs, not one each (≈ 55 bytes)."""
    return Checkpoint(row["seq"], bytes(row["hash"]), row["at_us"], sys.intern(row["key_id"]), bytes(row["signature"]),
                      bytes(row["prev"]) if row["prev"] is not None else None)


async def plan_walks(conn: asyncpg.Connection) -> None:
    """For the rest of `conn`'s (read-only) transaction, plan in seq order in this one process: merges of the
    primary keys' indexes. Left to itself the planner finds links whose event is gone (orphan_links) by a parallel
    hash anti-join over every link and event that spills to disk (measured, 10^6 events under load: 0.4 s of CPU
    here and as much in each of two more processes, against 0.2-0.3 s for the merge), and may read a long stretch
    of lines in parallel processes that each scan the whole chain: cores the hashing needs (issue #13)."""
    await conn.execute("SET LOCAL enable_hashjoin = off; SET LOCAL max_parallel_workers_per_gather = 0")


async def observe(conn: asyncpg.Connection) -> tuple[int, frozenset[str]]:
    """(highest committed seq, virtual transaction ids holding the recording lock)."""
    row = await conn.fetchrow(_observe_sql)
    return row["max_seq"] or 0, frozenset(row["holders"])


async def head(conn: asyncpg.Connection) -> tuple[int, bytes]:
    """The last sealed (seq, hash); (0, genesis) before the first."""
    row = await conn.fetchrow(_head_sql)
    return (row["seq"], bytes(row["hash"])) if row else (0, GENESIS)


async def to_seal(conn: asyncpg.Connection, after: int, upto: int, limit: int) -> list[asyncpg.Record]:
    """Committed events after `after` up to `upto`, in order, as chain values."""
    rows: list[asyncpg.Record] = await conn.fetch(_to_seal_sql, after, upto, limit)
    return rows


async def last_checkpoint(conn: asyncpg.Connection) -> asyncpg.Record | None:
    """The newest checkpoint (seq, hash, at_us, at, key_id, signature, prev), None before the first."""
    row: asyncpg.Record | None = await conn.fetchrow(_latest_checkpoint_sql)
    return row


async def sealed_since(conn: asyncpg.Connection, seq: int) -> int:
    count: int = await conn.fetchval(_sealed_since_sql, seq)
    return count


async def append(conn: asyncpg.Connection, links: Sequence[tuple[int, int, bytes, bytes]],
                 checkpoints: Sequence[tuple[int, bytes, datetime, str, bytes, bytes]]) -> None:
    """Links (seq, prev_seq, prev_hash, hash) and checkpoints (seq, hash, at, key id, signature, prev), in one
    transaction. A checkpoint whose seq has one already is left out: the application role can insert checkpoints,
    and a row put at the seq of the sealer's next one stalled sealing (the transaction failed, and again after
    each takeover); now the sealing goes on and verification names the row that is not its own (found in review)."""
    async with conn.transaction():
        await conn.copy_records_to_table("audit_chain", records=links, columns=("seq", "prev_seq", "prev_hash", "hash"))
        if checkpoints:
            await conn.executemany(_insert_checkpoint_sql, checkpoints)


async def walk_row(conn: asyncpg.Connection, *, after: int) -> Sequence[Any] | None:
    """The walk's row of the first event after seq `after` (links whose event is gone left out), or None."""
    row: asyncpg.Record | None = await conn.fetchrow(_walk_row_sql, after)
    return row


async def orphan_links(conn: asyncpg.Connection, *, after: int = 0) -> list[Sequence[Any]]:
    """Links after seq `after` whose event is gone, in seq order, as walk() rows (version and values null)."""
    return [(row["seq"], None, *([None] * len(EVENT_FIELDS)), row["prev_seq"], row["prev_hash"], row["hash"])
            for row in await conn.fetch(_orphan_links_sql, after)]


async def anchor(conn: asyncpg.Connection) -> asyncpg.Record | None:
    """The newest archive anchor (checkpoint columns, archived_before, events, file_sha256), None before any."""
    row: asyncpg.Record | None = await conn.fetchrow(_anchor_sql)
    return row


async def archived_before(conn: asyncpg.Connection) -> datetime | None:
    """The time before which events are archived (out of the database), None when none are."""
    before: datetime | None = await conn.fetchval(_archived_before_sql)
    return before


async def roll(conn: asyncpg.Connection, month: date) -> bool | None:
    """Begin `month` (its first day, UTC): its partition of audit_events, the numbering moved to it
    (migrations: audit_events by month); False when it had begun, None when the database's clock is not in it yet."""
    rolled: bool | None = await conn.fetchval(_roll_sql, month)
    return rolled


async def walk(conn: asyncpg.Connection, batch: int = 2000, *, after: int = 0,
               orphans: list[Sequence[Any]] | None = None) -> AsyncGenerator[list[Sequence[Any]], None]:
    """Batches of rows in seq order, after seq `after`: (seq, FORMAT_VERSION, the EVENT_FIELDS values…, prev_seq,
    prev_hash, hash).

    Row[1:-3] is what crypto.chain encodes. A link whose event was deleted comes in its place with version
    and values null (`orphans`: orphan_links(), when the caller has them). Run it inside a REPEATABLE READ
    transaction so the walk sees one state.
    """
    orphans = [o for o in (await orphan_links(conn, after=after) if orphans is None else orphans) if o[0] > after]
    cursor = await conn.cursor(_walk_sql, after)
    # The next batch is fetched (PostgreSQL on one core) while the caller hashes this one (Python on the other).
    pending = asyncio.ensure_future(cursor.fetch(batch))
    try:
        while rows := await pending:
            pending = asyncio.ensure_future(cursor.fetch(batch))
            if orphans and orphans[0][0] < rows[-1][0]:
                merged = sorted([*rows, *[o for o in orphans if o[0] < rows[-1][0]]], key=lambda row: row[0])
                orphans = [o for o in orphans if o[0] >= rows[-1][0]]
                yield merged
            else:
                yield rows
    finally:
        if not pending.done():
            with contextlib.suppress(Exception):
                await pending  # one operation at a time on a connection: let it finish before the transaction ends
    if orphans:
        yield orphans


async def each_checkpoint(conn: asyncpg.Connection, *, after: int = 0) -> AsyncIterator[asyncpg.Record]:
    """Every checkpoint after seq `after`, oldest first, a few thousand rows held at a time; in a transaction.

    The sealer signs one each 1,000 events and at least one each 10 s while it seals: a quiet service's log has one
    each few events, three million a year. verify_chain's peak for 10^5 of them, made into its checkpoints: 62 MiB
    from a list of their rows, 45 MiB this way."""
    async for row in conn.cursor(_checkpoints_sql, after, prefetch=5000):
        yield row


async def checkpoints_between(conn: asyncpg.Connection, *, first: int, below: int | None) -> list[asyncpg.Record]:
    """The checkpoints from seq `first` up to `below` (None: all from `first` on), oldest first (a window of a
    walk: service/domain/audit_windows.py)."""
    if below is None:
        rows: list[asyncpg.Record] = await conn.fetch(_checkpoints_sql, first - 1)  # each_checkpoint's, whole
    else:
        rows = await conn.fetch(_checkpoints_between_sql, first, below)
    return rows


async def first_checkpoint(conn: asyncpg.Connection, *, first: int) -> asyncpg.Record | None:
    """The checkpoint with the lowest seq from `first` on, if any."""
    row: asyncpg.Record | None = await conn.fetchrow(_first_checkpoint_sql, first)
    return row


async def split_seq(conn: asyncpg.Connection, *, after: int, below: int, share: float) -> int | None:
    """The seq of the checkpoint `share` (0 to 1) of the way through those after `after` and below `below`, by
    their count; None with fewer than two."""
    seq: int | None = await conn.fetchval(_split_sql, after, below, share)
    return seq


async def checkpoint_page(conn: asyncpg.Connection, *, after: int, limit: int, latest: bool = False) -> list[asyncpg.Record]:
    if latest:
        latest_rows: list[asyncpg.Record] = await conn.fetch(_latest_checkpoint_sql)
        return latest_rows
    rows: list[asyncpg.Record] = await conn.fetch(_checkpoint_page_sql, after, limit)
    return rows
