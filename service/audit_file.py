"""The audit export (NDJSON) and its offline verification, needing only the file and the public key.

Lines, in order: a header `{"brygga_audit_export": 1, "exported_at", "public_keys": [...]}` (with
`continues_from`, the signed anchor of the last `audit archive`, once there has been one: the chain begins after
it; an archive's file has it after the first archive, and `archive` saying what it holds), then
`{"checkpoint": {...}}` lines, then one event per line (as GET /v1/audit/events shows it; in an archive's file
`{"seq", "prev_seq", "prev_hash", "hash", "event"}`, `event` the canonical array the hash was sealed over),
oldest first, all read in one snapshot. An NDJSON stream from GET /v1/audit/events
(unfiltered) verifies too; checkpoints may then be given beside it.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from crypto import checkpoint_signatures
from crypto.chain import ALL_SEQS, EVENT_FIELDS, FORMAT_VERSION, ChainVerifier, Checkpoint, Link, Verdict, micros
from policies.audit import WHOLE, EventFilter

from .domain.audit_log import checkpoint_json, event_json, ndjson, public_key_json
from .domain.audit_windows import Windowing
from .store import audit_chain as chain_store
from .store import audit_events as events_store

FORMAT = "brygga_audit_export"


class ExportError(ValueError):
    """The file is not an export this version reads; the message says where."""


async def export(conn: asyncpg.Connection, out: IO[bytes], public_keys: Mapping[str, Ed25519PublicKey]) -> int:
    """Write the whole log to `out` from one snapshot; returns the number of events."""
    count = 0
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        header = {FORMAT: 1, "exported_at": datetime.now(UTC).isoformat(),
                  "public_keys": [public_key_json(key_id, key) for key_id, key in public_keys.items()]}
        anchor = await chain_store.anchor(conn)
        if anchor is not None:  # after `audit archive`: the log here goes on from its signed anchor
            header["continues_from"] = checkpoint_json(anchor)
        out.write(ndjson(header))
        async for row in chain_store.each_checkpoint(conn, after=anchor["seq"] if anchor is not None else 0):
            out.write(ndjson({"checkpoint": checkpoint_json(row)}))
        async for row in events_store.stream(conn, EventFilter(), scope=WHOLE, batch=5000):
            out.write(ndjson(event_json(row)))
            count += 1
    return count


def load_public_keys(document: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """Keys from GET /v1/audit/public-key's body (or an export header's `public_keys`)."""
    keys = document.get("keys", document.get("public_keys"))
    if not isinstance(keys, list):
        raise ExportError("no `keys` list: expected the body of GET /v1/audit/public-key")
    try:
        return {_key_id(k["key_id"]): Ed25519PublicKey.from_public_bytes(base64.b64decode(k["public_key"])) for k in keys}
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError(f"a public key cannot be read: {exc}") from None


def load_checkpoint(document: Mapping[str, Any]) -> tuple[int, bytes]:
    """A held checkpoint: `{"seq", "hash"}` (a checkpoint item) or `{"head": {...}}` (a verify answer)."""
    held = document.get("head", document)
    try:
        return int(held["seq"]), bytes.fromhex(held["hash"])
    except (KeyError, TypeError, ValueError):
        raise ExportError("the checkpoint file needs `seq` and a hex `hash`") from None


def _values(event: Mapping[str, Any]) -> tuple[object, ...]:
    if "event" in event:  # an archive's line: the canonical array itself (service/audit_archive.py)
        versioned = event["event"]
        if not isinstance(versioned, list) or versioned[:1] != [FORMAT_VERSION] or len(versioned) != len(EVENT_FIELDS) + 1:
            raise ValueError(f"`event` is not a format {FORMAT_VERSION} event of {len(EVENT_FIELDS)} fields")
        return tuple(versioned[1:])
    actor, zone = event["actor"], event["actor"]["zone"] or {}
    return (event["seq"], micros(datetime.fromisoformat(event["at"])), actor["sub"], actor["name"], actor["unit"],
            zone.get("organisation"), zone.get("domain"), actor["roles"], event["action"], event["client_id"],
            event["document_id"], event["consent_id"], event["decision"], event["basis"], event["reason_codes"],
            event["purpose"], event["request_id"], event["remote_addr"], event["flagged"])


def _key_id(value: object) -> str:
    """A key id from a file: text that UTF-8 can carry (what a signed message holds), else ValueError; a list or a
    lone surrogate made a verification raise where it should answer (found in review)."""
    if not isinstance(value, str):
        raise ValueError(f"a key_id is text, not {type(value).__name__}")
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate
        raise ValueError("a key_id is text UTF-8 can carry") from None
    return value


def _checkpoint(item: Mapping[str, Any]) -> Checkpoint:
    prev = item.get("prev")  # format 2; absent or null: format 1
    return Checkpoint(int(item["seq"]), bytes.fromhex(item["hash"]), micros(datetime.fromisoformat(item["at"])),
                      _key_id(item["key_id"]), base64.b64decode(item["signature"]),
                      bytes.fromhex(prev) if prev is not None else None)


PROGRESS_LINES = 50_000  # lines between two counts told to verify_lines' progress


def verify_file(path: str | Path, public_keys: Mapping[str, Ed25519PublicKey] | None = None, *,
                held: tuple[int, bytes] | None = None,
                progress: Callable[[int], None] | None = None) -> tuple[Verdict, bool]:
    """verify_lines() of a file, holding a window of its checkpoints at a time instead of all of them (issue #13: a
    year of a quiet service's log has three million, ≈450 bytes each in memory): the checkpoint lines, which come
    before the events in seq order (audit export, audit archive), are read a second time from a second handle as
    the walk gets to them (_FileWindows), as verify_chain loads the database's. A file whose checkpoint lines are
    not so (edited: out of order, or one after an event) is verified again from its start with all of them held,
    as verify_lines() does: the same verdict either way (tests/unit/test_audit_file_windows.py). A file rewritten
    between the two readings is an ExportError; a pipe, which cannot be read twice, is read once holding them all."""
    if not stat.S_ISREG(os.stat(path).st_mode):  # a pipe (`--file /dev/stdin`) cannot be read twice
        with open(path, "rb") as lines:
            return _verify(lines, public_keys, held=held, progress=progress)
    try:
        with open(path, "rb") as lines, open(path, "rb") as again:
            return _verify(lines, public_keys, held=held, progress=progress, again=again)
    except _NotWindowable:
        with open(path, "rb") as lines:
            return _verify(lines, public_keys, held=held, progress=progress)


def verify_lines(lines: Iterable[bytes | str], public_keys: Mapping[str, Ed25519PublicKey] | None = None, *,
                 held: tuple[int, bytes] | None = None,
                 progress: Callable[[int], None] | None = None) -> tuple[Verdict, bool]:
    """(verdict, whether the keys came from the export itself). Raises ExportError on a malformed line.

    Keys from the export prove only that it is consistent: pass the keys you trust.
    Events go to the verifier the online walk uses in the order of their lines; it
    checks that order itself, so lines moved in the file get the answer their
    contents moved between seqs get online (reordered, not a gap). An archive's lines as
    service/audit_archive.py writes them go to ChainVerifier.add_lines a batch at a time (their
    `event` bytes hashed as they are: proven when they hash to the link); a line it does not
    prove, and every other, is parsed and handed to the verifier by its values. `progress` is told the
    verifier's count each PROGRESS_LINES lines (`audit verify --file` prints it). Holds every checkpoint of the
    lines: verify_file() holds a window of them.
    """
    return _verify(lines, public_keys, held=held, progress=progress)


_CHECKPOINT_LINE = b'{"checkpoint":'  # how an export's and an archive's checkpoint lines begin (ndjson())
# What parsing a line that is not part of an export raises: json's errors, a missing key, a wrong type, an
# integer from `Infinity` (OverflowError), nesting deeper than Python's stack (RecursionError): ExportError, naming the
# line (the last two raised as they are, found in review).
_MALFORMED = (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError)


class _NotWindowable(Exception):
    """The file's checkpoint lines are not in seq order before its events: verify_file() holds them all instead."""


class _FileWindows(Windowing):
    """A file's checkpoints a window at a time, from `again` (the file read from its start once more): its checkpoint
    lines, which must come in seq order after the header and before the events (else _NotWindowable), parsed here
    as the walk gets to them (the first pass only sees that they are checkpoints), each at most once. A window is
    at least WINDOW of them (while there are), so that their signatures are checked ahead in a few large runs."""

    WINDOW = 4096

    def __init__(self, verifier: ChainVerifier, again: Iterable[bytes | str]) -> None:
        super().__init__(verifier)
        self._lines: Iterator[tuple[int, bytes | str]] = enumerate(again, start=1)
        self._read = hashlib.sha256()  # the lines read, up to the first event's
        self._next: Checkpoint | None = None
        self._advance()

    def _advance(self) -> None:
        """The next checkpoint line into _next (None after the last: at the first event line, or the end)."""
        below = self._next.seq if self._next is not None else -1
        self._next = None
        for number, line in self._lines:
            self._read.update(line.encode() if isinstance(line, str) else line)
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if FORMAT in item:
                    if isinstance(line, bytes) and line.startswith(_CHECKPOINT_LINE):
                        raise _NotWindowable()  # a header the first pass took for a checkpoint by its start
                    continue
                if "checkpoint" not in item:
                    return
                checkpoint = _checkpoint(item["checkpoint"])
            except _MALFORMED as exc:
                raise ExportError(f"line {number} is not part of an audit export: {type(exc).__name__} {exc}") from None
            if not below < checkpoint.seq < ALL_SEQS - 1:
                raise _NotWindowable()  # out of order, or where a bigint bound cannot go
            self._next = checkpoint
            return

    def reach(self, below: int | None) -> None:
        """Before events below seq `below` (None or beyond a bigint: all the rest) go to the verifier."""
        below = None if below is not None and below >= ALL_SEQS else below
        if not self._wants(below):
            return
        window: dict[int, Checkpoint] = {}
        while self._next is not None and (below is None or self._next.seq < below or len(window) < self.WINDOW):
            window[self._next.seq] = self._next
            self._advance()
        if self._next is None:
            below = None  # every checkpoint of the file is in this window or was in one before
        elif window and below is not None:  # (with None the loop took them all)
            below = max(below, max(window) + 1)
        self._take(window, below)

    def finish(self, read_before: bytes) -> Verdict:
        """The verdict, with the first checkpoint after the last window (one naming events beyond the walk's); the
        checkpoint lines after it parsed too, as verify_lines() parses them all (a malformed one is an error).
        `read_before`: SHA-256 of the lines up to the first event's as the first pass read them; read otherwise here
        (the file rewritten meanwhile), the verdict would be of a file never read whole: an error (found in review)."""
        beyond = self._next if self._verifier.problem is None else None
        while self._next is not None:
            self._advance()
        if self._read.digest() != read_before:
            raise ExportError("the file changed while it was verified: verify it again once nothing writes it")
        return self._conclude(beyond)


def _verify(lines: Iterable[bytes | str], public_keys: Mapping[str, Ed25519PublicKey] | None, *,
            held: tuple[int, bytes] | None, progress: Callable[[int], None] | None,
            again: Iterable[bytes | str] | None = None) -> tuple[Verdict, bool]:
    """verify_lines(); with `again` (the lines once more from their start), the checkpoints a window at a time
    (_FileWindows), raising _NotWindowable when the lines' checkpoints are not in seq order before their events."""
    verifier: ChainVerifier | None = None
    checkpoints: dict[int, Checkpoint] = {}
    start: Checkpoint | None = None  # an archive's, or an export's after one: the anchor the chain goes on from
    keys_from_file = public_keys is None
    pending: list[tuple[int, bytes | str, bytes]] = []  # archive lines for add_lines: (number, line, as a walk line)
    windows: _FileWindows | None = None
    # With `again`: the lines up to the first event, which _FileWindows reads again: the same, or an error.
    read_before = hashlib.sha256() if again is not None else None

    def by_values(number: int, line: bytes | str, item: Mapping[str, Any] | None = None) -> bool:
        assert verifier is not None
        try:
            item = json.loads(line) if item is None else item
            chained = None
            if item["hash"] is not None:
                chained = Link(int(item["prev_seq"]), bytes.fromhex(item["prev_hash"]), bytes.fromhex(item["hash"]))
            seq, values = int(item["seq"]), _values(item)
            if windows is not None:
                windows.reach(seq + 1)
            return verifier.add(seq, values, chained)
        except _MALFORMED as exc:
            raise ExportError(f"line {number} is not part of an audit export: {type(exc).__name__} {exc}") from None

    def flush() -> bool:
        """The pending archive lines: as lines while they prove their events, the rest by values."""
        assert verifier is not None
        batch = pending.copy()
        pending.clear()
        checked = verifier.checked
        # With windows, add_lines asks for the next one where a line reaches it, and the line goes on: the path it
        # takes holding every checkpoint. Stopping there instead handed a line and the rest by their values, which
        # can read a line otherwise (a JSON key twice) or stop sooner: another verdict (found in review).
        if not batch or verifier.add_lines([walk_line for _, _, walk_line in batch],
                                           more=windows.reach if windows is not None else None):
            return True
        return all(by_values(number, line) for number, line, _ in batch[verifier.checked - checked:])

    with ExitStack() as signatures:  # threads checking checkpoint signatures, stopped however this ends
        for number, line in enumerate(lines, start=1):
            if progress is not None and number % PROGRESS_LINES == 0 and verifier is not None:
                progress(verifier.checked)
            if read_before is not None and verifier is None:
                read_before.update(line.encode() if isinstance(line, str) else line)
            walk_line = _walk_line(line) if isinstance(line, bytes) and verifier is not None else None
            if walk_line is not None:
                pending.append((number, line, walk_line))
                if len(pending) >= 2000 and not flush():
                    break
                continue
            if not line.strip():  # after the walk line: no event line is blank, and most lines are event lines
                continue
            if verifier is not None and not flush():
                break
            if again is not None and isinstance(line, bytes) and line.startswith(_CHECKPOINT_LINE):
                if verifier is not None:
                    raise _NotWindowable()  # after an event: its window may be gone
                continue  # parsed (and checked) by _FileWindows when the walk gets there: a line each, once
            try:
                item = json.loads(line)
                is_event = FORMAT not in item and "checkpoint" not in item
                if FORMAT in item:
                    if public_keys is None:
                        public_keys = load_public_keys(item)
                    if item.get("continues_from") is not None:
                        start = _checkpoint(item["continues_from"])
                elif "checkpoint" in item:
                    if again is None:
                        checkpoints[int(item["checkpoint"]["seq"])] = _checkpoint(item["checkpoint"])
                    elif verifier is not None:
                        raise _NotWindowable()  # after an event: its window may be gone
                    # else: read (and checked) from `again` when the walk gets there (_FileWindows)
            except _MALFORMED as exc:
                raise ExportError(f"line {number} is not part of an audit export: {type(exc).__name__} {exc}") from None
            if is_event:
                if verifier is None:
                    verifier = _verifier(public_keys, checkpoints, held, start, windowed=again is not None)
                    if verifier.problem is not None:
                        break
                    if again is not None:
                        windows = _FileWindows(verifier, again)
                        signatures.callback(windows.close)
                    else:
                        # The checkpoints come before the events (audit export, audit archive): their signatures are
                        # checked in threads while the lines are (one given later is checked when it is met).
                        signatures.enter_context(checkpoint_signatures.ahead(
                            verifier, after=start.seq if start is not None else 0, end=max(checkpoints, default=0) + 1))
                if not by_values(number, line, item):
                    break
        else:
            if verifier is not None:
                flush()
        if windows is not None:
            assert read_before is not None
            return windows.finish(read_before.digest()), keys_from_file
        if again is not None:
            raise _NotWindowable()  # no event: the checkpoints are all there is to verify
        verifier = verifier or _verifier(public_keys, checkpoints, held, start)
        return verifier.finish(), keys_from_file


_ARCHIVE_FIELDS = (b'{"seq":', b'"prev_seq":', b'"prev_hash":"', b'"hash":"', b'"event":')
# An event line as `audit archive` writes it (seqs in digits, hashes in lower-case hex): its walk line in one match,
# twice as fast as taking it apart (a tenth of a file's verification). Any other line is taken apart by
# _walk_line_parts, whose answer this always gives too (tests/unit/test_audit_file_lines.py): the fields before the
# event hold no comma, so the event begins after the fourth, and it ends where the line, its \r\n stripped, ends.
_ARCHIVE_LINE = re.compile(rb'\{"seq":([0-9]+),"prev_seq":([0-9]+),"prev_hash":"([0-9a-f]{64})","hash":"([0-9a-f]{64})",'
                           rb'"event":(\[.*\])\}\r?\n?\Z', re.DOTALL)


def _walk_line(line: bytes) -> bytes | None:
    """An archive's event line `{"seq":S,"prev_seq":P,"prev_hash":"H","hash":"H2","event":[...]}` as the line
    ChainVerifier.add_lines takes (`S"P"H"H2"` and the event's bytes as they stand), None for any other line."""
    match = _ARCHIVE_LINE.match(line)
    return b'"'.join(match.groups()) if match is not None else _walk_line_parts(line)


def _walk_line_parts(line: bytes) -> bytes | None:
    """_walk_line, for any line: its fields taken apart at the first four commas."""
    parts = line.rstrip(b"\r\n").split(b",", 4)
    if len(parts) != 5 or not parts[4].endswith(b"]}"):
        return None
    for part, field in zip(parts, _ARCHIVE_FIELDS, strict=True):
        if not part.startswith(field):
            return None
    seq, prev_seq = parts[0][7:], parts[1][11:]
    prev_hash, chain_hash, event = parts[2][13:-1], parts[3][8:-1], parts[4][8:-1]
    return b'%b"%b"%b"%b"%b' % (seq, prev_seq, prev_hash, chain_hash, event)


def _verifier(public_keys: Mapping[str, Ed25519PublicKey] | None, checkpoints: dict[int, Checkpoint],
              held: tuple[int, bytes] | None, start: Checkpoint | None, *, windowed: bool = False) -> ChainVerifier:
    """The verifier for the file's events: from its `continues_from` anchor when it has one (its signature checked);
    `windowed`: given its checkpoints a window at a time, from seq 0 on (_FileWindows)."""
    verifier = ChainVerifier(public_keys or {}, checkpoints, held, covered=0 if windowed else None)
    if start is not None:
        verifier.start_at(start)
    return verifier
