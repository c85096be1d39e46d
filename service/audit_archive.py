"""`audit archive --before DATE --out FILE`: whole months of the audit log out of the database (#15).

Logs are kept at least five years (HSLF-FS 2016:40 4:9; BRYGGA_AUDIT_KEEP_YEARS, never fewer). Older months
leave the database as a file that verifies on its own, and the chain in the database goes on from a signed
anchor. In this order, so that a crash (kill -9) at any point leaves nothing half done and a rerun finishes:

1. Refusals first, nothing changed: --before not a date, not the first of a month (months are the unit the log
   is partitioned in), in the future, or after the last month older than the keep years; events in the months to
   archive younger than that, or not sealed yet.
2. The file, whole or not at all: written as FILE.partial (the export format, `audit verify --file` reads it:
   each event the canonical array its hash was sealed over, written once the verifier proved it; closed by the
   anchor as a checkpoint and, after an earlier archive, opened by that one's anchor), fsynced, verified again
   from the disk against the key ring's keys, then renamed to FILE and the directory fsynced.
3. One transaction as the owner (brygga.audit_maintenance on): the anchor recorded, the months' partitions
   detached from the log (migrations: audit_events by month, audit_archive_detach). Before its commit nothing has
   changed in the database; after it, the events are out of the log and the file is on disk. A catalogue change
   only: the log is locked for milliseconds, whatever the months hold.
4. The detached months dropped (their files freed) in a transaction of their own, which locks nothing the service
   uses; then the chain's links before the anchor deleted, a batch per transaction (verification ignores them
   already). A rerun of the same archive finds its anchor and finishes these steps.

The anchor is a checkpoint (crypto/chain.py: the last archived event's seq and hash, signed), so the file's
last hash is the anchor's and `audit verify` (online) begins at it (ChainVerifier.start_at).
"""
from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg

from crypto import KeyRing
from crypto.chain import EVENT_FIELDS, ChainVerifier, Checkpoint, Verdict, canonical, micros, sign_checkpoint, vouching_prev

from .audit_file import FORMAT, verify_file
from .domain import audit_stretches
from .domain.audit_log import checkpoint_json, ndjson, public_key_json
from .domain.audit_windows import Windows
from .store import audit_chain as chain_store

ARCHIVE_LOCK = 7_264_004  # one archive at a time
_LINK_BATCH = 50_000

# An event as the archive writes it: `{"seq", "prev_seq", "prev_hash", "hash", "event"}`, `event` the canonical
# array its hash was sealed over (crypto/chain.py: [1, seq, at_us, …] in EVENT_FIELDS order). Made from the lines
# verification reads (store/audit_chain.py walk_lines: COPY, no Python object per value), each one written only
# once ChainVerifier.add_lines has proven it: bytes that hash to the event's link are its canonical bytes.
_EXPORT_LINE = b'{"seq":%b,"prev_seq":%b,"prev_hash":"%b","hash":"%b","event":%b}\n'
# The months' partitions (named audit_events_YYYY_MM: the events numbered from that month's roll to the next;
# the first also holds the log from before the partitioning), oldest first: in seq order, as they are rolled.
_MONTHS_SQL = """
SELECT c.relname AS name, to_date(substr(c.relname, 14), 'YYYY_MM') AS month
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'audit_events'::regclass AND c.relname ~ '^audit_events_[0-9]{4}_[0-9]{2}$'
ORDER BY c.relname
"""
_INSERT_ANCHOR_SQL = """
INSERT INTO audit_anchors (seq, hash, at, key_id, signature, archived_before, events, file_sha256, prev)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""
_CHECKPOINT_BEFORE_SQL = """
SELECT seq, hash, (EXTRACT(EPOCH FROM at) * 1000000)::bigint AS at_us, key_id, signature, prev
FROM audit_checkpoints WHERE seq < $1 ORDER BY seq DESC LIMIT 1
"""
_DELETE_LINKS_SQL = """
DELETE FROM audit_chain WHERE seq IN (SELECT seq FROM audit_chain WHERE seq < $1 ORDER BY seq LIMIT $2)
"""


class ArchiveRefused(ValueError):
    """Nothing was changed; the message names the field (`--before`, BRYGGA_AUDIT_KEEP_YEARS) or the state."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass
class Archived:
    events: int
    anchor_seq: int
    anchor_hash: bytes
    partitions: list[str]
    export_seconds: float = 0.0
    drop_seconds: float = 0.0  # the transaction that takes the months out of the log
    free_seconds: float = 0.0  # the detached months dropped after it
    links_seconds: float = 0.0
    verify_seconds: float = 0.0
    already: bool = False  # an earlier run had archived these months: only its last step was finished


def years_before(now: datetime, years: int) -> datetime:
    """`now` so many calendar years back (29 February becomes the 28th)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


def cutoff(before: str, *, now: datetime, keep_years: int) -> datetime:
    """--before as the instant the archive ends before (UTC midnight of the first of a month); raises
    ArchiveRefused naming the field."""
    try:
        day = date.fromisoformat(before)
    except ValueError:
        raise ArchiveRefused("--before", f"{before!r} is not a date (YYYY-MM-DD)") from None
    if day.day != 1:
        raise ArchiveRefused("--before", f"{day} is not the first of a month: the log is archived in whole months "
                                         f"(use {day.replace(day=1)})")
    at = datetime(day.year, day.month, 1, tzinfo=UTC)
    if at > now:
        raise ArchiveRefused("--before", f"{day} is in the future")
    kept_from = years_before(now, keep_years)
    if at > kept_from:
        raise ArchiveRefused("--before", f"events from {kept_from.date()} on are younger than "
                                         f"BRYGGA_AUDIT_KEEP_YEARS={keep_years} years and are kept; the latest "
                                         f"allowed is {kept_from.date().replace(day=1)}")
    return at


async def archive(conn: asyncpg.Connection, keyring: KeyRing, *, before: datetime, out: Path, keep_years: int,
                  now: datetime, progress: Callable[[str], None] = lambda _: None) -> Archived | None:
    """Archive the months before `before` into `out` (the steps in the module's docstring) on `conn`, a session
    of a member of brygga_owner. None when there is nothing before `before`. Raises ArchiveRefused."""
    latest = await chain_store.anchor(conn)
    if latest is not None and latest["archived_before"] >= before:
        progress(f"the months before {latest['archived_before'].date()} were archived already (anchor seq "
                 f"{latest['seq']}); finishing")
        archived = Archived(latest["events"], latest["seq"], bytes(latest["hash"]), [], already=True)
        archived.free_seconds = await _drop_detached(conn)
        archived.links_seconds = await _delete_links(conn, latest["seq"])
        return archived
    start = latest["seq"] if latest is not None else 0
    months = [row["name"] for row in await conn.fetch(_MONTHS_SQL) if row["month"] < before.date()]
    if not months:
        return None
    anchor_seq = max([await conn.fetchval(f'SELECT coalesce(max(seq), 0) FROM "{name}"') for name in months])
    if anchor_seq <= start:
        return None
    youngest = await conn.fetchval("SELECT max(at) FROM audit_events WHERE seq > $1 AND seq <= $2", start, anchor_seq)
    if youngest >= years_before(now, keep_years):
        raise ArchiveRefused("BRYGGA_AUDIT_KEEP_YEARS", f"the months before {before.date()} hold an event of "
                                                        f"{youngest.isoformat()}, younger than {keep_years} years")
    head_seq, _ = await chain_store.head(conn)
    if head_seq < anchor_seq:
        raise ArchiveRefused("--before", f"events up to seq {anchor_seq} are not all sealed yet (the chain's head is "
                                         f"{head_seq}); let the sealer catch up")
    anchor_hash = bytes(await conn.fetchval("SELECT hash FROM audit_chain WHERE seq = $1", anchor_seq))
    signed_at = datetime.now(UTC)
    # Format 2: the anchor signs the digest of the checkpoint before it (the file's last), vouching for the file's
    # checkpoints as the sealer's own do: the file's are then proven by the anchor's one signature. Only when that
    # one's signature holds: vouching for a row the database's writer forged would hide it (the months' check below
    # proves runs by their last signature, the anchor's). Otherwise a new run, and the check finds the forged one.
    before_anchor = await conn.fetchrow(_CHECKPOINT_BEFORE_SQL, anchor_seq)
    prev = vouching_prev(keyring.audit_public_keys,
                         chain_store.checkpoint(before_anchor) if before_anchor is not None else None)
    signature = sign_checkpoint(keyring.audit_signing_key, keyring.audit_key_id, anchor_seq, anchor_hash,
                                micros(signed_at), prev)
    anchor = {"seq": anchor_seq, "hash": anchor_hash, "at": signed_at, "key_id": keyring.audit_key_id,
              "signature": signature, "prev": prev}

    started = time.perf_counter()
    events, digest = await _write(conn, keyring, out, latest, anchor, start=start, before=before)
    archived = Archived(events, anchor_seq, anchor_hash, months, export_seconds=time.perf_counter() - started)
    progress(f"wrote {events} events to {out} in {archived.export_seconds:.1f} s; verifying it")
    started = time.perf_counter()
    _verify_file(out, keyring, anchor_seq, anchor_hash, events)
    archived.verify_seconds = time.perf_counter() - started

    started = time.perf_counter()
    async with conn.transaction():
        await conn.execute("SET LOCAL brygga.audit_maintenance = 'on'")
        await conn.execute("SET LOCAL lock_timeout = '10s'")
        await conn.execute("SELECT pg_advisory_xact_lock($1)", ARCHIVE_LOCK)
        again = await chain_store.anchor(conn)
        if (again["seq"] if again is not None else 0) != start:
            raise ArchiveRefused("--before", "another archive ran meanwhile; nothing was changed, run again")
        await conn.execute(_INSERT_ANCHOR_SQL, anchor_seq, anchor_hash, signed_at, keyring.audit_key_id, signature,
                           before, events, digest, anchor["prev"])
        await conn.fetchval("SELECT audit_events_archive($1::text[], $2)", months, anchor_seq)
    archived.drop_seconds = time.perf_counter() - started
    progress(f"took {', '.join(months)} out of the log in {archived.drop_seconds:.2f} s; the chain goes on from seq "
             f"{anchor_seq}")
    archived.free_seconds = await _drop_detached(conn)
    archived.links_seconds = await _delete_links(conn, anchor_seq)
    return archived


async def _write(conn: asyncpg.Connection, keyring: KeyRing, out: Path, latest: asyncpg.Record | None,
                 anchor: dict[str, Any], *, start: int, before: datetime) -> tuple[int, bytes]:
    """The events after `start` up to the anchor into `out`, whole or not at all, each proven as verification
    proves it (the walk of lines, an event they do not prove by its values); (events, SHA-256 of the file).
    Raises ArchiveRefused when the months do not verify."""
    partial = out.with_name(out.name + ".partial")
    digest = hashlib.sha256()
    with open(partial, "wb") as file:  # noqa: ASYNC230 - the command's one file; nothing else waits on this loop
        def write(data: bytes) -> None:
            digest.update(data)
            file.write(data)

        header = {FORMAT: 1, "exported_at": datetime.now(UTC).isoformat(),
                  "public_keys": [public_key_json(key_id, key) for key_id, key in keyring.audit_public_keys.items()],
                  "archive": {"before": before.isoformat(), "anchor_seq": anchor["seq"],
                              "event": ["format_version", *EVENT_FIELDS]}}
        if latest is not None:  # the chain in this file goes on from the earlier archive's anchor
            header["continues_from"] = checkpoint_json(latest)
        write(ndjson(header))
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            async for row in chain_store.each_checkpoint(conn, after=start):  # streamed: a year has millions
                if row["seq"] >= anchor["seq"]:
                    break
                write(ndjson({"checkpoint": checkpoint_json(row)}))
            write(ndjson({"checkpoint": checkpoint_json(anchor)}))  # the anchor closes the file
            closing = Checkpoint(anchor["seq"], anchor["hash"], micros(anchor["at"]), anchor["key_id"],
                                 anchor["signature"], anchor["prev"])
            # As verify_chain walks, the months' checkpoints a window at a time (_MonthsWindows).
            verifier = ChainVerifier(keyring.audit_public_keys, {}, covered=start + 1)
            if latest is not None:
                verifier.start_at(chain_store.checkpoint(latest))
            windows = _MonthsWindows(conn, verifier, closing)
            try:
                count = await _proven_lines(conn, verifier, windows, write, after=start, upto=anchor["seq"])
                verdict = await windows.finish()
            finally:
                windows.close()
        if not verdict.ok or verdict.head_seq != anchor["seq"]:
            file.close()
            partial.unlink(missing_ok=True)
            raise ArchiveRefused("--before", f"the months to archive do not verify (first bad seq "
                                             f"{verdict.first_bad_seq}: {verdict.problem}); nothing was changed: run "
                                             "`audit verify`")
        file.flush()
        os.fsync(file.fileno())
    return count, digest.digest()


class _MonthsWindows(Windows):
    """The checkpoints of the months to archive, a window at a time: the database's before the anchor, then the
    anchor (`closing`), the file's last; none after it (the database's at or after its seq are not the file's)."""

    def __init__(self, conn: asyncpg.Connection, verifier: ChainVerifier, closing: Checkpoint) -> None:
        super().__init__(conn, verifier)
        self._closing = closing

    async def reach(self, below: int | None) -> None:
        if not self._wants(below):
            return
        covered, last = self._verifier.covered, self._closing.seq
        assert covered is not None
        upto = last if below is None else min(below, last)
        rows = await chain_store.checkpoints_between(self._conn, first=covered, below=upto) if covered < upto else []
        window = {row["seq"]: chain_store.checkpoint(row) for row in rows}
        if below is None or below > last:
            window[last], below = self._closing, None  # every checkpoint of the file given
        self._take(window, below)

    async def finish(self) -> Verdict:
        return self._conclude(None)  # nothing beyond the anchor is the file's


async def _proven_lines(conn: asyncpg.Connection, verifier: ChainVerifier, windows: Windows,
                        write: Callable[[bytes], None], *, after: int, upto: int) -> int:
    """Write the events after `after` up to `upto` that `verifier` accepts, in order, until one it does not; how
    many. As verify_chain walks (audit_stretches.walk_lines): lines while they prove the events, an event they do
    not prove by its values, each stretch's checkpoints loaded by `windows` before it."""
    count = 0

    def take(lines: list[bytes]) -> bool:
        nonlocal count
        checked = verifier.checked
        accepted = verifier.add_lines(lines)
        proven = lines if accepted else lines[:verifier.checked - checked]
        write(b"".join(_EXPORT_LINE % tuple(line.split(b'"', 4)) for line in proven))
        count += len(proven)
        return accepted

    def add(seq: int, versioned: Any, prev_seq: Any, prev_hash: Any, chain_hash: Any) -> bool:
        checked = verifier.checked
        going_on = verifier.add_versioned(seq, versioned, prev_seq, prev_hash, chain_hash)
        if verifier.checked > checked:  # accepted: the canonical array its hash was sealed over
            nonlocal count
            write(_EXPORT_LINE % (b"%d" % seq, b"%d" % prev_seq, bytes(prev_hash).hex().encode(),
                                  bytes(chain_hash).hex().encode(), canonical(tuple(versioned[1:]))))
            count += 1
        return going_on

    await audit_stretches.walk_lines(conn, verifier, add, windows, after=after, end=upto + 1, lines=take)
    return count


def _verify_file(out: Path, keyring: KeyRing, anchor_seq: int, anchor_hash: bytes, events: int) -> None:
    """The written file as an auditor will check it, against the ring's keys; renamed into place only if it holds
    every event up to the anchor. Raises ArchiveRefused (and removes the partial file) otherwise."""
    partial = out.with_name(out.name + ".partial")
    verdict, _ = verify_file(partial, keyring.audit_public_keys)  # a window of its checkpoints at a time
    if not verdict.ok or verdict.head_seq != anchor_seq or verdict.head_hash != anchor_hash or verdict.checked != events:
        partial.unlink(missing_ok=True)
        raise ArchiveRefused("--before", f"the months to archive do not verify (first bad seq {verdict.first_bad_seq}:"
                                         f" {verdict.problem}); nothing was changed: run `audit verify`")
    os.replace(partial, out)
    directory = os.open(out.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


async def _drop_detached(conn: asyncpg.Connection) -> float:
    """The months an archive detached (this one's, or a crashed one's), dropped in a transaction of their own: the
    files are freed as it commits, holding no lock the service needs. Seconds taken."""
    started = time.perf_counter()
    async with conn.transaction():
        await conn.execute("SET LOCAL brygga.audit_maintenance = 'on'")
        await conn.fetchval("SELECT audit_events_drop_archived()")
    return time.perf_counter() - started


async def _delete_links(conn: asyncpg.Connection, anchor_seq: int) -> float:
    """The chain's links before the anchor (their events are archived), a batch per transaction; the anchor's own
    stays: the sealer's head when nothing came after it. Seconds taken."""
    started = time.perf_counter()
    while True:
        async with conn.transaction():
            await conn.execute("SET LOCAL brygga.audit_maintenance = 'on'")
            status = await conn.execute(_DELETE_LINKS_SQL, anchor_seq, _LINK_BATCH)
        if status == "DELETE 0":
            return time.perf_counter() - started
