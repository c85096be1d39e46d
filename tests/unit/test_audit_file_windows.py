"""`audit verify --file` holds a window of the file's checkpoints at a time (service/audit_file.py verify_file): the
verdict of every kind of file is the one verify_lines gives holding them all, edited files (checkpoint lines out of
order or after an event) are verified again that way, and a file of many checkpoints never has them all in memory."""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from crypto.chain import ChainVerifier, Link, canonical, link
from service import audit_file
from service.audit_file import FORMAT, ExportError, verify_file, verify_lines
from tests.unit.test_checkpoint_windows import ROWS, _cases, signed_at
from tests.unit.test_crypto_chain import KEYS, chain, checkpoint, event

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _checkpoint_item(c) -> dict:
    return {"seq": c.seq, "hash": c.hash.hex(), "at": (_EPOCH + timedelta(microseconds=c.at_us)).isoformat(),
            "key_id": c.key_id, "signature": base64.b64encode(c.signature).decode(),
            "prev": c.prev.hex() if c.prev is not None else None}


def _event_line(seq, values, chained) -> bytes:
    """An archive's line (service/audit_archive.py): the link and the canonical array; an unsealed event's link null."""
    if chained is None:
        return b'{"seq":%d,"prev_seq":null,"prev_hash":null,"hash":null,"event":%b}\n' % (seq, canonical(values))
    return b'{"seq":%d,"prev_seq":%d,"prev_hash":"%b","hash":"%b","event":%b}\n' % (
        seq, chained.prev_seq, chained.prev_hash.hex().encode(), chained.hash.hex().encode(), canonical(values))


def file_lines(rows, checkpoints, *, anchor=None) -> list[bytes]:
    header = {FORMAT: 1, "exported_at": "2026-12-02T00:00:00+00:00"}
    if anchor is not None:
        header["continues_from"] = _checkpoint_item(anchor)
    return ([json.dumps(header).encode() + b"\n"]
            + [json.dumps({"checkpoint": _checkpoint_item(c)}).encode() + b"\n" for c in checkpoints]
            + [_event_line(*row) for row in rows])


@pytest.fixture(params=[1, 3, 4096], ids=lambda size: f"windows of {size}")
def windowed(request, monkeypatch):
    """How verify_file went: `modes` of its readings ("windows", then "all" when it read the file again holding
    every checkpoint), the most checkpoints a verifier held at once by windows, and the events that went by their
    values rather than as lines; windows of at least 1, 3 and 4,096 checkpoints."""
    monkeypatch.setattr(audit_file._FileWindows, "WINDOW", request.param)
    seen: dict = {"modes": [], "most": 0, "by_values": 0}
    add = ChainVerifier.add

    def counting_add(self, *args):
        seen["by_values"] += 1
        return add(self, *args)

    monkeypatch.setattr(ChainVerifier, "add", counting_add)
    verify, take = audit_file._verify, audit_file._FileWindows._take

    def recording_verify(lines, public_keys, **kwargs):
        seen["modes"].append("all" if kwargs.get("again") is None else "windows")
        return verify(lines, public_keys, **kwargs)

    def measuring_take(self, checkpoints, below):
        take(self, checkpoints, below)
        seen["most"] = max(seen["most"], len(self._verifier.checkpoints))

    monkeypatch.setattr(audit_file, "_verify", recording_verify)
    monkeypatch.setattr(audit_file._FileWindows, "_take", measuring_take)
    return seen


def both(tmp_path, lines, held=None, seen=None):
    """(verify_file's verdict, verify_lines' verdict) of the same lines; `seen` (the fixture's): verify_file's modes."""
    path = tmp_path / "log.ndjson"
    path.write_bytes(b"".join(lines))
    by_windows = verify_file(path, KEYS, held=held)[0]
    kept = (list(seen["modes"]), seen["by_values"]) if seen is not None else None
    with open(path, "rb") as handle:
        all_at_once = verify_lines(handle, KEYS, held=held)[0]
    if seen is not None and kept is not None:
        seen["modes"], seen["by_values"] = kept
    return by_windows, all_at_once


@pytest.mark.parametrize(("name", "rows", "checkpoints", "held"), list(_cases()), ids=[case[0] for case in _cases()])
def test_a_file_by_windows_gets_the_verdict_all_at_once_gives(tmp_path, windowed, name, rows, checkpoints, held):
    ordered = sorted(checkpoints, key=lambda c: c.seq)
    by_windows, all_at_once = both(tmp_path, file_lines(rows, ordered), held, windowed)
    assert by_windows == all_at_once
    assert windowed["modes"] == ["windows"]  # in seq order before the events: by windows, not again from the start
    # Lines as verify_lines reads a stream of them (str, each by its values): the same verdict.
    assert verify_lines([line.decode() for line in file_lines(rows, ordered)], KEYS, held=held)[0] == all_at_once


def _edited():
    """Files an editor changed, each with what it tests."""
    good = [checkpoint(ROWS, index) for index in (2, 5, 9, 15)]
    lines = file_lines(ROWS, good)
    events = lines[1 + len(good):]
    yield "checkpoints out of order", [lines[0], lines[2], lines[1], *lines[3:]], True
    yield "a checkpoint twice", [lines[0], lines[1], lines[1], *lines[2:]], True
    yield "a checkpoint line among the events", [*lines[:2], *lines[3:8], lines[2], *lines[8:]], True
    yield "a checkpoint line after the events", [lines[0], lines[1], *lines[3:], lines[2]], True
    forged = replace(checkpoint(ROWS, 10), signature=bytes(64))
    yield "a forged checkpoint line after the events", [*lines, *file_lines([], [forged])[1:]], True
    yield "a checkpoint line after the events, beyond the head", [*lines, *file_lines([], [signed_at(30)])[1:]], True
    yield "a checkpoint line after the events at a seq met", [*lines, *file_lines([], [replace(good[1], signature=bytes(64))])[1:]], True
    yield "a checkpoint at a negative seq", [*lines[:1], *file_lines([], [signed_at(-4)])[1:], *lines[1:]], True
    yield "no event", lines[:1 + len(good)], True
    yield "lines moved among the events", [*lines[:1 + len(good)], events[3], *events[:3], *events[4:]], False
    yield "an event line twice", [*lines, events[5]], False
    yield "blank lines between", [lines[0], b"\n", *lines[1:3], b"\n", *lines[3:10], b"  \n", *lines[10:]], False
    yield "a header line among the checkpoints", [lines[0], lines[1], lines[0], *lines[2:]], False
    yield "an event at a huge seq", [*lines, _event_line(1 << 70, chain([21])[0][1], chain([21])[0][2])], False
    yield "a header line that begins as a checkpoint line", [*lines[:2], b'{"checkpoint": 1, "brygga_audit_export": 1}\n',
                                                             *lines[2:]], True
    yield "a checkpoint at a huge seq", [*lines[:1 + len(good)], *file_lines([], [signed_at((1 << 63) - 1)])[1:],
                                        *events], True


@pytest.mark.parametrize(("name", "lines", "again"), list(_edited()), ids=[case[0] for case in _edited()])
def test_an_edited_file_gets_the_verdict_all_at_once_gives(tmp_path, windowed, name, lines, again):
    by_windows, all_at_once = both(tmp_path, lines, seen=windowed)
    assert by_windows == all_at_once
    # Checkpoint lines out of order or after an event (or no event): verified again from the start, holding them all.
    assert windowed["modes"] == (["windows", "all"] if again else ["windows"])


def test_the_edited_files_cover_each_verdict(tmp_path):
    problems = set()
    for _, lines, _ in _edited():
        by_windows, _ = both(tmp_path, lines)
        problems.add(by_windows.problem)
    assert {None, "reordered", "bad_signature", "missing"} <= problems


def test_an_archive_after_an_anchor(tmp_path, windowed):
    """`continues_from`: the walk begins at the signed anchor; checkpoints after it by windows."""
    anchor = checkpoint(ROWS, 4)
    later = [checkpoint(ROWS, index) for index in (7, 11, 15)]
    for checkpoints in (later, [checkpoint(ROWS, 2), *later], [*later, signed_at(30)]):
        windowed["modes"] = []
        by_windows, all_at_once = both(tmp_path, file_lines(ROWS[5:], checkpoints, anchor=anchor), seen=windowed)
        assert by_windows == all_at_once and windowed["modes"] == ["windows"]
    assert both(tmp_path, file_lines(ROWS[5:], later, anchor=anchor))[0].ok


def test_a_file_of_many_checkpoints_holds_a_window_of_them(tmp_path, windowed, monkeypatch):
    if audit_file._FileWindows.WINDOW > 100:
        monkeypatch.setattr(audit_file._FileWindows, "WINDOW", 100)
    rows = chain(range(1, 6001))
    checkpoints = [checkpoint(rows, index) for index in range(0, 6000, 2)]  # 3,000: one each two events
    by_windows, all_at_once = both(tmp_path, file_lines(rows, checkpoints), seen=windowed)
    assert by_windows == all_at_once and by_windows.ok and by_windows.checked == 6000
    assert windowed["modes"] == ["windows"]
    assert 0 < windowed["most"] <= 1100  # a batch of 2,000 lines' (at least WINDOW), not the file's 3,000
    assert windowed["by_values"] == 1  # the first event (as ever), then every one as a line: each batch's window first


def test_a_malformed_checkpoint_line_is_an_error_either_way(tmp_path):
    good = [checkpoint(ROWS, index) for index in (2, 5, 9)]
    lines = file_lines(ROWS, good)
    for bad in (b'{"checkpoint": {"seq": 12}}\n', b'{"checkpoint": {"seq": 12, "hash": "zz"}}\n', b'{"checkpoint": [\n'):
        path = tmp_path / "log.ndjson"
        path.write_bytes(b"".join([*lines[:3], bad, *lines[3:]]))
        with pytest.raises(ExportError, match="line 4 is not part of an audit export"):
            verify_file(path, KEYS)
        with open(path, "rb") as handle, pytest.raises(ExportError, match="line 4 is not part of an audit export"):
            verify_lines(handle, KEYS)


def test_a_malformed_checkpoint_line_beyond_the_walk_is_an_error_either_way(tmp_path, windowed):
    """verify_lines parses every checkpoint line before the first event; windows parse those the walk never got to
    at its end (here after one beyond the head, which the walk's last window looks at)."""
    good = [checkpoint(ROWS, index) for index in (2, 5, 9)]
    lines = file_lines(ROWS, [*good, signed_at(30)])
    path = tmp_path / "log.ndjson"
    path.write_bytes(b"".join([*lines[:5], b'{"checkpoint": {"seq": 40}}\n', *lines[5:]]))
    with pytest.raises(ExportError, match="line 6 is not part of an audit export"):
        verify_file(path, KEYS)
    with open(path, "rb") as handle, pytest.raises(ExportError, match="line 6 is not part of an audit export"):
        verify_lines(handle, KEYS)


def test_a_file_that_changes_while_it_is_verified_gets_a_verdict_of_what_it_read(tmp_path, windowed, monkeypatch):
    """A second reading that finds the checkpoints out of order (the file rewritten meanwhile) reads it again from the
    start, holding them all: the verdict of the file as it is then."""
    good = [checkpoint(ROWS, index) for index in (2, 5, 9)]
    path = tmp_path / "log.ndjson"
    path.write_bytes(b"".join(file_lines(ROWS, good)))
    changed = b"".join(file_lines(ROWS, [good[1], good[0], replace(good[2], signature=bytes(64))]))
    init = audit_file._FileWindows.__init__

    def changing(self, verifier, again):
        path.write_bytes(changed)  # the handle reads the new bytes (the same inode, rewritten)
        again.seek(0)
        init(self, verifier, again)

    monkeypatch.setattr(audit_file._FileWindows, "__init__", changing)
    verdict = verify_file(path, KEYS)[0]
    assert windowed["modes"] == ["windows", "all"]
    with open(path, "rb") as handle:
        assert verdict == verify_lines(handle, KEYS)[0]
    assert verdict.problem == "bad_signature"


def _linked_after(seq: int, prev: tuple[int, bytes]):
    """An event at `seq` sealed right after (prev_seq, prev_hash)."""
    values = event(seq)
    return seq, values, Link(prev[0], prev[1], link(prev[1], values))


def test_a_line_whose_bytes_and_json_name_other_events_gets_one_verdict(tmp_path, windowed):
    """Found in review: a line whose leading fields name seq 100 and whose hashed bytes are `[0],` and the genuine
    event's keys again (json.loads keeps the last of a key given twice, so it reads the genuine event 3). Holding every
    checkpoint, add_lines takes it as seq 100 and the rest are `reordered`; by windows it stopped at the window's end
    and handed the line on by its values: intact. Now its batch's window reaches its highest seq first."""
    rows = chain(range(1, 8))
    _, _, chained = rows[2]
    genuine = _event_line(*rows[2]).rstrip(b"\n")
    raw = b"[0]," + genuine[1:-1]
    crafted = b'{"seq":100,"prev_seq":2,"prev_hash":"%b","hash":"%b","event":%b}\n' % (
        chained.prev_hash.hex().encode(), hashlib.sha256(chained.prev_hash + raw).hexdigest().encode(), raw)
    # One beyond the head, so that the last window is not every checkpoint (which bounds nothing).
    lines = file_lines(rows, [*(checkpoint(rows, index) for index in (1, 5, 6)), signed_at(150)])
    lines[7] = crafted  # the header, four checkpoints, events 1 and 2, then event 3's line
    by_windows, all_at_once = both(tmp_path, lines, seen=windowed)
    assert by_windows == all_at_once and windowed["modes"] == ["windows"]
    assert not by_windows.ok


def test_an_event_far_ahead_with_a_forged_checkpoint_gets_one_verdict(tmp_path, windowed):
    """Found in review: an event at seq 100 sealed right after 3, its checkpoint forged, then 4 to 7. Holding every
    checkpoint: `reordered` at 4 (add_lines stops at the forged one, the next line comes after a higher seq); by
    windows the rest of the batch was never handed over: `bad_signature` at 100."""
    rows = chain(range(1, 8))
    high = _linked_after(100, (3, rows[2][2].hash))
    forged = replace(signed_at(100, high[2].hash), signature=bytes(64))
    checkpoints = sorted([checkpoint(rows, index) for index in (1, 5, 6)] + [forged], key=lambda c: c.seq)
    lines = file_lines(rows, checkpoints)
    lines.insert(1 + len(checkpoints) + 3, _event_line(*high))
    by_windows, all_at_once = both(tmp_path, lines, seen=windowed)
    assert by_windows == all_at_once and windowed["modes"] == ["windows"]
    assert (by_windows.problem, by_windows.first_bad_seq) == ("reordered", 4)


def test_a_file_whose_checkpoint_lines_are_blanked_meanwhile_is_an_error(tmp_path, monkeypatch):
    """Found in review: the first pass read the checkpoint lines, the file is rewritten in place with them blanked
    (the same length), the second reading finds none: the verdict would be of a file never read whole."""
    rows = chain(range(1, 8))
    good = [checkpoint(rows, index) for index in (1, 5)]
    lines = file_lines([*rows[:3], (rows[3][0], event(4, actor_name="Mallory"), rows[3][2]), *rows[4:]], good)
    path = tmp_path / "log.ndjson"
    path.write_bytes(b"".join(lines))
    blanked = b"".join([lines[0], *(b" " * (len(line) - 1) + b"\n" for line in lines[1:3]), *lines[3:]])
    init = audit_file._FileWindows.__init__

    def blanking(self, verifier, again):
        path.write_bytes(blanked)
        again.seek(0)
        init(self, verifier, again)

    monkeypatch.setattr(audit_file._FileWindows, "__init__", blanking)
    with pytest.raises(ExportError, match="changed while it was verified"):
        verify_file(path, KEYS)


@pytest.mark.parametrize("line", [b'{"seq": Infinity, "hash": null}\n', b"[" * 100_000 + b"]" * 100_000 + b"\n"],
                         ids=["Infinity", "nested deeper than the stack"])
def test_a_line_json_reads_but_python_cannot_hold_is_an_error_naming_it(tmp_path, line):
    """Found in review (older than windows): OverflowError and RecursionError went out as they were."""
    path = tmp_path / "log.ndjson"
    path.write_bytes(b"".join([*file_lines(ROWS[:3], []), line]))
    for verify in (lambda: verify_file(path, KEYS), lambda: verify_lines(path.open("rb"), KEYS)):
        with pytest.raises(ExportError, match="line 5 is not part of an audit export"):
            verify()


def test_a_pipe_is_read_once_holding_every_checkpoint(tmp_path, windowed):
    """`audit verify --file /dev/stdin` from a pipe: a pipe cannot be read twice, so no windows."""
    import os
    import threading

    lines = file_lines(ROWS, [checkpoint(ROWS, index) for index in (2, 5, 9)])
    path = tmp_path / "pipe"
    os.mkfifo(path)
    writer = threading.Thread(target=lambda: path.write_bytes(b"".join(lines)))
    writer.start()
    try:
        verdict = verify_file(path, KEYS)[0]
    finally:
        writer.join()
    assert verdict.ok and verdict.checked == len(ROWS) and windowed["modes"] == ["all"]
