"""ChainVerifier given its checkpoints a window at a time (service/domain/audit_windows.py): the verdict of every
kind of log is the one it gets with all of them at the start, whatever the windows' size."""
from __future__ import annotations

from dataclasses import replace

import pytest

from crypto.chain import ALL_SEQS, ChainVerifier, Stretch, canonical
from tests.unit.test_crypto_chain import KEYS, as_lines, chain, checkpoint, event, verify


def in_windows(rows, checkpoints=(), held=None, *, size: int, lines: bool = False):
    """As verify_chain walks: before the events of each `size` seqs, the checkpoints from `covered` up to there;
    after the walk, the first checkpoint it never loaded. With `lines`, each window's events as lines first."""
    ordered = sorted(checkpoints, key=lambda c: c.seq)
    verifier = ChainVerifier(KEYS, {}, held, covered=1)
    most = 0

    def load(below: int) -> None:
        nonlocal most
        if below > verifier.covered:
            verifier.window({c.seq: c for c in ordered if verifier.covered <= c.seq < below}, below=below)
            most = max(most, len(verifier.checkpoints))

    index = 0
    while index < len(rows):
        below = (rows[index][0] // size + 1) * size
        load(below)
        stretch = [row for row in rows[index:] if row[0] < below]
        index += len(stretch)
        if lines and verifier.intact and verifier.add_lines(to_lines(stretch)):
            continue
        for seq, values, chained in stretch:
            if lines and seq <= verifier.head_seq:
                continue  # taken as a line
            if not verifier.add(seq, values, chained):
                return verifier.finish(), most
    beyond = next((c for c in ordered if c.seq >= verifier.covered), None)
    return verifier.finish(beyond if verifier.problem is None else None), most


def to_lines(rows) -> list[bytes]:
    """Lines as COPY writes them, an unsealed event's link `\\N`."""
    return [b'%d"\\N"\\N"\\N"' % seq + canonical(values) if chained is None else as_lines([(seq, values, chained)])[0]
            for seq, values, chained in rows]


def signed_at(seq: int, chain_hash: bytes = bytes(32)):
    """A checkpoint signed by the key for any seq and hash (one naming an event not in the chain)."""
    rows = [(seq, event(seq), replace(chain([seq])[0][2], hash=chain_hash))]
    return checkpoint(rows, 0)


ROWS = chain([1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13, 14, 17, 18, 19, 20])


def _cases():
    at = {seq: index for index, (seq, _, _) in enumerate(ROWS)}
    good = [checkpoint(ROWS, at[seq]) for seq in (3, 7, 8, 14, 20)]
    forged = replace(checkpoint(ROWS, at[11]), signature=bytes(64))
    moved = replace(checkpoint(ROWS, at[12]), hash=ROWS[at[13]][2].hash)
    modified = [r if r[0] != 12 else (12, event(12, actor_name="Mallory"), r[2]) for r in ROWS]
    unsealed = ROWS[:10] + [(s, v, None) for s, v, _ in ROWS[10:]]
    yield "intact", ROWS, good, None
    yield "held in the middle", ROWS, good, (10, ROWS[at[10]][2].hash)
    yield "held that is gone", ROWS, good, (9, bytes(32))
    yield "held beyond", ROWS, good, (25, bytes(32))
    yield "forged one met", ROWS, [*good, forged], None
    yield "hash of another event", ROWS, [*good, moved], None
    yield "one naming no event", ROWS, [*good, signed_at(9)], None
    yield "forged one naming no event", ROWS, [*good, replace(signed_at(9), signature=bytes(64))], None
    yield "one beyond the head", ROWS, [*good, signed_at(23)], None
    yield "forged one beyond the head", ROWS, [*good, replace(signed_at(23), signature=bytes(64))], None
    yield "one naming no event and one beyond", ROWS, [*good, signed_at(23), signed_at(4)], None
    yield "two naming no event", ROWS, [*good, signed_at(16), signed_at(4)], None
    yield "a modified event", modified, good, None
    yield "an unsealed tail with a checkpoint in it", unsealed, [*good, signed_at(18)], None
    yield "an event deleted under a checkpoint", [r for r in ROWS if r[0] != 8], good, None
    yield "the last events deleted", ROWS[:-3], good, None


CASES = list(_cases())


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 100])
@pytest.mark.parametrize(("rows", "checkpoints", "held"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_windows_of_any_size_give_the_verdict_all_at_once_gives(rows, checkpoints, held, size):
    expected = verify(rows, checkpoints, held)
    assert in_windows(rows, checkpoints, held, size=size)[0] == expected
    assert in_windows(rows, checkpoints, held, size=size, lines=True)[0] == expected


def test_the_cases_cover_each_verdict():
    """So the comparison above could fail: the cases reach every problem the checkpoints decide."""
    problems = {verify(rows, checkpoints, held).problem for _, rows, checkpoints, held in CASES}
    assert problems >= {None, "bad_signature", "missing", "truncated", "modified"}
    assert verify(ROWS, [checkpoint(ROWS, 2), signed_at(23), signed_at(4)]).first_bad_seq == 4  # the lowest


def test_a_window_holds_only_the_checkpoints_ahead_of_the_walk():
    rows = chain(range(1, 201))
    checkpoints = [checkpoint(rows, index) for index in range(0, 200, 2)]
    verdict, most = in_windows(rows, checkpoints, size=10)
    assert verdict.ok and verdict.checked == 200
    assert most <= 6  # of 100: the window's, and none the walk has passed


def test_the_walk_never_goes_past_the_checkpoints_it_was_given():
    """A bug in the windows would otherwise skip a checkpoint silently: add_lines and add refuse to go on."""
    rows = chain([1, 2, 3, 4])
    verifier = ChainVerifier(KEYS, {}, covered=1)
    verifier.window({}, below=3)
    with pytest.raises(RuntimeError, match="seq 3"):
        verifier.add_lines(as_lines(rows))
    verifier = ChainVerifier(KEYS, {}, covered=1)
    verifier.window({}, below=2)
    seq, values, chained = rows[0]
    assert verifier.add(seq, values, chained)
    seq, values, chained = rows[1]
    with pytest.raises(RuntimeError, match="seq 2"):
        verifier.add(seq, values, chained)
    with pytest.raises(ValueError):
        verifier.window({}, below=1)  # behind the last
    with pytest.raises(ValueError):
        ChainVerifier(KEYS).window({}, below=5)  # given all at the start


def test_lines_that_reach_the_window_s_end_ask_for_more_and_go_on():
    """add_lines(more=...) (a file's walk, service/audit_file.py): where a line reaches `covered`, the next window is
    asked for there and the line goes on, the verdict the one holding every checkpoint gives."""
    rows = chain([1, 2, 3, 5, 6, 8, 9])
    for marks in ([1, 4], [2, 3], [0, 6], [3, 4, 5]):
        ordered = [checkpoint(rows, index) for index in marks]
        for first in (2, 4, 7):
            verifier = ChainVerifier(KEYS, {}, covered=1)
            asked: list[int] = []

            def more(below: int, verifier=verifier, ordered=ordered, asked=asked) -> None:
                asked.append(below)
                verifier.window({c.seq: c for c in ordered if verifier.covered <= c.seq < below}, below=below)

            more(first)
            assert verifier.add_lines(as_lines(rows), more=more)
            beyond = next((c for c in ordered if c.seq >= verifier.covered), None)
            assert verifier.finish(beyond) == verify(rows, ordered)
            assert asked[1:] == sorted(asked[1:]) and all(below - 1 in [r[0] for r in rows] for below in asked[1:])


def test_given_every_checkpoint_no_seq_is_beyond_them():
    """With every checkpoint given (at the start, or the last window's ALL_SEQS) an event at 2^63 or beyond is taken
    like any other, by lines or by values: a file's seqs may be any integer (it raised, found in review)."""
    rows = chain([1, 2, 1 << 63, (1 << 63) + 5])
    last = checkpoint(rows, 3)
    for covered in (None, ALL_SEQS):
        for lines in (True, False):
            verifier = ChainVerifier(KEYS, {last.seq: last} if covered is None else {}, covered=covered and 1)
            if covered is not None:
                verifier.window({last.seq: last}, below=ALL_SEQS)
            if lines:
                assert verifier.add_lines(as_lines(rows))
            else:
                assert all(verifier.add(seq, values, chained) for seq, values, chained in rows)
            assert verifier.finish() == verify(rows, [last]) and verifier.finish().ok


def test_a_stretch_that_passed_a_checkpoint_without_meeting_it_is_not_intact():
    """The worker's stretch joins only when it met every checkpoint up to its head (it loads its own)."""
    rows = chain([1, 2, 3, 5, 6])
    begun = (rows[2][2].prev_seq, rows[2][2].prev_hash)  # its first link: seq 3's
    for extra, intact in (((), True), ((signed_at(4),), False)):
        fork = ChainVerifier(KEYS, {}, covered=3).fork(*begun)
        fork.window({c.seq: c for c in (checkpoint(rows, 3), *extra)}, below=10)
        assert fork.add_lines(as_lines(rows[2:]))
        stretch = Stretch.of(fork, begun)
        assert stretch.intact is intact
        whole = ChainVerifier(KEYS, {}, covered=1)
        whole.window({}, below=2)
        assert whole.add_lines(as_lines(rows[:1]))
        whole.window({}, below=3)
        assert whole.add_lines(as_lines(rows[1:2]))
        assert not whole.join(stretch)  # the seq the stretch was checked after is not said: not taken
        assert whole.join(stretch, low=2) is intact
        if intact:  # the windows here go on after the stretch's head
            assert whole.covered == 7 and whole.finish().ok and whole.finish().checked == 5


def test_a_stretch_joins_only_where_every_checkpoint_before_it_was_given():
    """A walk that stepped over numbers no event has (a month's roll) may not have loaded their window: joining
    a stretch checked after them would skip a checkpoint there (found in review)."""
    rows = chain([1, 2, 20, 21])
    begun = (rows[2][2].prev_seq, rows[2][2].prev_hash)  # seq 20's link names seq 2
    fork = ChainVerifier(KEYS, {}, covered=11).fork(*begun)  # checked after seq 10
    fork.window({}, below=30)
    assert fork.add_lines(as_lines(rows[2:]))
    stretch = Stretch.of(fork, begun)
    whole = ChainVerifier(KEYS, {}, covered=1)
    whole.window({}, below=5)
    assert whole.add_lines(as_lines(rows[:2]))
    assert not whole.join(stretch, low=10)  # seqs 5 to 10 never loaded here
    whole.window({8: signed_at(8)}, below=11)
    assert whole.join(stretch, low=10)
    assert (whole.finish().problem, whole.finish().first_bad_seq) == ("missing", 8)
    assert verify(rows, [signed_at(8)]).first_bad_seq == 8

