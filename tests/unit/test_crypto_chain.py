"""The chain format and its verifier, on synthetic chains: each kind of damage, named at its seq."""
from __future__ import annotations

from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto.chain import (
    EVENT_FIELDS,
    GENESIS,
    ChainVerifier,
    Checkpoint,
    Link,
    Stretch,
    canonical,
    link,
    sign_checkpoint,
)

KEY = Ed25519PrivateKey.generate()
KEYS = {"audit-1": KEY.public_key()}


def event(seq: int, **changes) -> tuple:
    values = dict(zip(EVENT_FIELDS, (seq, 1_764_000_000_000_000 + seq, "anna", "Anna Å", "iof", "malmo-stad", "social",
                                     ["staff"], "client.read", "6f1c0f0e-0000-4000-8000-000000000001", None, None,
                                     "allow", "own_zone", [], "care", f"r-{seq}", "10.0.0.1", False), strict=True))
    values.update(changes)
    return tuple(values.values())


def chain(seqs) -> list[tuple[int, tuple, Link]]:
    rows, prev_seq, prev_hash = [], 0, GENESIS
    for seq in seqs:
        values = event(seq)
        chain_hash = link(prev_hash, values)
        rows.append((seq, values, Link(prev_seq, prev_hash, chain_hash)))
        prev_seq, prev_hash = seq, chain_hash
    return rows


def checkpoint(rows, index: int, key=KEY, key_id="audit-1") -> Checkpoint:
    seq, _, chained = rows[index]
    at_us = 1_764_000_000_000_000
    return Checkpoint(seq, chained.hash, at_us, key_id, sign_checkpoint(key, key_id, seq, chained.hash, at_us))


def verify(rows, checkpoints=(), held=None):
    verifier = ChainVerifier(KEYS, {c.seq: c for c in checkpoints}, held)
    for seq, values, chained in rows:
        if not verifier.add(seq, values, chained):
            break
    return verifier.finish()


def test_canonical_bytes_are_fixed_by_the_format():
    assert canonical(event(7)) == ('[1,7,1764000000000007,"anna","Anna Å","iof","malmo-stad","social",["staff"],'
                                   '"client.read","6f1c0f0e-0000-4000-8000-000000000001",null,null,"allow","own_zone",'
                                   '[],"care","r-7","10.0.0.1",false]').encode()
    with pytest.raises(ValueError):
        canonical(event(7)[:-1])


def test_an_intact_chain_with_gaps_and_an_unsealed_tail():
    rows = chain([1, 2, 4, 5, 9])
    result = verify(rows + [(10, event(10), None), (11, event(11), None)], [checkpoint(rows, 2)])
    assert (result.ok, result.checked, result.head_seq, result.head_hash) == (True, 5, 9, rows[-1][2].hash)


def test_each_kind_of_damage_at_its_seq():
    rows = chain(range(1, 11))
    modified = [r if r[0] != 4 else (4, event(4, basis="consent:x"), r[2]) for r in rows]
    assert (verify(modified).first_bad_seq, verify(modified).problem) == (4, "modified")
    missing = [r for r in rows if r[0] != 6]
    assert (verify(missing).first_bad_seq, verify(missing).problem) == (6, "missing")
    link_only = [r if r[0] != 6 else (6, None, r[2]) for r in rows]
    assert (verify(link_only).first_bad_seq, verify(link_only).problem) == (6, "missing")
    inserted = rows[:5] + [(5.5, event(5), None)] + rows[5:]
    assert (verify(inserted).first_bad_seq, verify(inserted).problem) == (5.5, "inserted")
    a, b = rows[2], rows[7]
    contents = {3: (3, *b[1][1:]), 8: (8, *a[1][1:])}  # the two events' contents trade places, seqs stay
    swapped = [(seq, contents.get(seq, values), chained) for seq, values, chained in rows]
    assert (verify(swapped).first_bad_seq, verify(swapped).problem) == (3, "reordered")


def test_moved_rows_are_reordered_as_swapped_contents_are():
    """A file can move whole rows (seq and link with them); the database can only move contents between seqs.

    Both are the same tampering and get the same answer: reordered, at the first place out of order.
    """
    rows = chain(range(1, 11))
    swapped = [rows[7] if r[0] == 3 else rows[2] if r[0] == 8 else r for r in rows]
    assert (verify(swapped).first_bad_seq, verify(swapped).problem) == (3, "reordered")
    neighbours = rows[:3] + [rows[4], rows[3]] + rows[5:]
    assert (verify(neighbours).first_bad_seq, verify(neighbours).problem) == (4, "reordered")
    to_the_end = [r for r in rows if r[0] != 5] + [rows[4]]
    assert (verify(to_the_end).first_bad_seq, verify(to_the_end).problem) == (5, "reordered")
    unsealed = rows + [(12, event(12), None), (11, event(11), None)]
    assert (verify(unsealed).first_bad_seq, verify(unsealed).problem) == (11, "reordered")
    # a gap whose events never turn up is still what it was: missing
    gone = [r for r in rows if r[0] not in (4, 5)]
    assert (verify(gone).first_bad_seq, verify(gone).problem) == (5, "missing")


def test_checkpoints_catch_a_rewritten_chain_a_forged_signature_and_a_cut_tail():
    rows = chain(range(1, 11))
    good = checkpoint(rows, 7)
    assert verify(rows, [good]).ok
    forged = replace(good, signature=bytes(64))
    assert (verify(rows, [forged]).first_bad_seq, verify(rows, [forged]).problem) == (8, "bad_signature")
    stranger = checkpoint(rows, 7, key=Ed25519PrivateKey.generate())
    assert verify(rows, [stranger]).problem == "bad_signature"
    # a forger recomputes every link after 3: the chain is self-consistent, the signed checkpoint is not
    rewritten, prev_seq, prev_hash = [], 0, GENESIS
    for seq in range(1, 11):
        values = event(seq, actor_sub="mallory") if seq == 3 else event(seq)
        chain_hash = link(prev_hash, values)
        rewritten.append((seq, values, Link(prev_seq, prev_hash, chain_hash)))
        prev_seq, prev_hash = seq, chain_hash
    assert verify(rewritten).ok
    assert (verify(rewritten, [good]).first_bad_seq, verify(rewritten, [good]).problem) == (8, "modified")
    cut = rows[:6]
    assert (verify(cut, [good]).first_bad_seq, verify(cut, [good]).problem) == (7, "truncated")
    held = (rows[8][0], rows[8][2].hash)
    assert verify(rows, held=held).ok and verify(cut, held=held).problem == "truncated"
    assert verify(rows, held=(9, bytes(32))).problem == "truncated"


# --- add_lines: the common case, many links at a time (service/store/audit_chain.py walk_lines)


def as_lines(rows, encode=canonical) -> list[bytes]:
    return [b'%d"%d"%s"%s"' % (seq, chained.prev_seq, chained.prev_hash.hex().encode(), chained.hash.hex().encode())
            + encode(values) for seq, values, chained in rows]


def verify_lines(rows, lines, checkpoints=(), held=None):
    """add_lines as verify_chain uses it: the lines, and each event they do not prove handed to add()."""
    verifier = ChainVerifier(KEYS, {c.seq: c for c in checkpoints}, held)
    index = 0
    while index < len(rows) and verifier.intact:
        if verifier.add_lines(lines[index:]):
            index = len(rows)
            break
        index = next(i for i, (seq, _, _) in enumerate(rows) if seq > verifier.head_seq)
        seq, values, chained = rows[index]
        index += 1
        if not verifier.add(seq, values, chained):
            return verifier.finish()
    for seq, values, chained in rows[index:]:
        if not verifier.add(seq, values, chained):
            break
    return verifier.finish()


def test_lines_of_an_intact_chain_verify_as_its_events_do():
    rows = chain([1, 2, 4, 7, 8, 9])
    checkpoints = [checkpoint(rows, 2), checkpoint(rows, 5)]
    held = (rows[3][0], rows[3][2].hash)
    verifier = ChainVerifier(KEYS, {c.seq: c for c in checkpoints}, held)
    assert verifier.add_lines(as_lines(rows))
    assert verifier.finish() == verify(rows, checkpoints, held)
    assert verifier.finish().checked == 6 and verifier.finish().ok


def test_a_line_whose_bytes_are_not_the_sealed_ones_stops_the_lines_there():
    rows = chain([1, 2, 3, 4])
    lines = as_lines(rows)
    lines[2] = lines[2].replace(b'"anna"', b'"anna" ')  # other bytes of the same values: not proven, not refuted
    verifier = ChainVerifier(KEYS)
    assert not verifier.add_lines(lines)
    assert (verifier.head_seq, verifier.checked, verifier.problem, verifier.intact) == (2, 2, None, True)
    assert verify_lines(rows, lines).ok  # the event itself, encoded by canonical(), is sealed right


@pytest.mark.parametrize("damage", ["value", "link", "prev_hash", "prev_seq", "unparsable", "unsealed"])
def test_damage_in_lines_gets_the_verdict_the_events_get(damage):
    rows = chain([1, 2, 3, 4, 5])
    seq, values, chained = rows[2]
    if damage == "value":
        rows[2] = (seq, event(seq, actor_name="Mallory"), chained)
    elif damage == "link":
        rows[2] = (seq, values, replace(chained, hash=bytes(32)))
    elif damage == "prev_hash":
        rows[2] = (seq, values, replace(chained, prev_hash=bytes(32)))
    elif damage == "prev_seq":
        rows[2] = (seq, values, replace(chained, prev_seq=1))
    lines = as_lines(rows)
    if damage == "unparsable":
        lines[2] = lines[2].replace(b'"', b"", 2)
    if damage == "unsealed":
        rows[3:] = [(s, v, None) for s, v, _ in rows[3:]]
        lines[3:] = [b'%d"\\N"\\N"\\N"' % s + canonical(v) for s, v, _ in rows[3:]]
    assert verify_lines(rows, lines) == verify(rows)


def test_a_checkpoint_met_in_lines_is_checked():
    rows = chain([1, 2, 3, 4])
    forged = replace(checkpoint(rows, 1), signature=bytes(64))
    assert verify_lines(rows, as_lines(rows), [forged]) == verify(rows, [forged])
    assert verify(rows, [forged]).problem == "bad_signature"
    truncated = (3, bytes(32))  # a held checkpoint the chain no longer has
    assert verify_lines(rows, as_lines(rows), held=truncated) == verify(rows, held=truncated)
    assert verify(rows, held=truncated).problem == "truncated"


# --- a stretch checked on its own (fork, add_proven) and joined (service/domain/audit_stretches.py)


def test_a_stretch_joins_only_where_the_chain_before_ends_at_its_first_link():
    rows = chain([1, 2, 3, 4, 5, 6])
    checkpoints = {c.seq: c for c in [checkpoint(rows, 1), checkpoint(rows, 4)]}
    held = (rows[4][0], rows[4][2].hash)
    lines = as_lines(rows)
    whole = ChainVerifier(KEYS, checkpoints, held)
    begun = (rows[3][2].prev_seq, rows[3][2].prev_hash)
    later = whole.fork(*begun)
    assert later.add_lines(lines[3:])  # checked on its own, before the stretch before it
    stretch = Stretch.of(later, begun)
    assert not whole.join(stretch)  # the chain here still ends at the genesis: nothing taken
    assert (whole.head_seq, whole.checked) == (0, 0)
    assert whole.add_lines(lines[:3]) and whole.join(stretch)
    assert whole.finish() == verify(rows, checkpoints.values(), held)
    assert whole.finish().ok and whole.finish().checked == 6
    # A stretch whose first link names a predecessor other than the head (an event cut out between) never joins.
    cut = ChainVerifier(KEYS, checkpoints, held)
    assert cut.add_lines(lines[:2])
    assert not cut.join(stretch) and (cut.head_seq, cut.checked) == (2, 2)


def test_a_stretch_joins_up_to_the_first_event_it_cannot_prove_and_no_further():
    rows = chain([1, 2, 3, 4, 5, 6])
    rows[4] = (5, event(5, actor_name="Mallory"), rows[4][2])  # modified in the later stretch
    begun = (rows[2][2].prev_seq, rows[2][2].prev_hash)
    later = ChainVerifier(KEYS).fork(*begun)
    assert not later.add_lines(as_lines(rows)[2:])
    seq, values, chained = rows[4]
    assert not later.add_proven(seq, (1, *values), chained.prev_seq, chained.prev_hash, chained.hash)
    assert (later.head_seq, later.checked, later.intact) == (4, 2, True)  # unchanged: left to the walk
    whole = ChainVerifier(KEYS)
    assert whole.add_lines(as_lines(rows)[:2]) and whole.join(Stretch.of(later, begun))
    assert (whole.head_seq, whole.checked) == (4, 4)
    for seq, values, chained in rows[4:]:
        if not whole.add(seq, values, chained):
            break
    assert whole.finish() == verify(rows)
    assert (whole.finish().problem, whole.finish().first_bad_seq) == ("modified", 5)


def test_a_stretch_with_a_failed_checkpoint_does_not_join():
    rows = chain([1, 2, 3, 4])
    forged = replace(checkpoint(rows, 3), signature=bytes(64))
    whole = ChainVerifier(KEYS, {forged.seq: forged})
    begun = (rows[2][2].prev_seq, rows[2][2].prev_hash)
    later = whole.fork(*begun)
    assert not later.add_lines(as_lines(rows)[2:]) and not later.intact
    assert whole.add_lines(as_lines(rows)[:2]) and not whole.join(Stretch.of(later, begun))
    assert whole.head_seq == 2


def test_a_workers_answer_is_believed_only_inside_its_stretch() -> None:
    """audit verify's worker answers in JSON (service/domain/audit_stretches.py _stretch): a field of another type,
    a stretch that does not begin at or before its first link, or ends past the log or before it began, is no
    answer (the walk then takes the stretch), never a Stretch join() could weigh."""
    from service.domain.audit_stretches import _stretch

    good = {"begun": [500, "00" * 32], "head_seq": 900, "head_hash": "11" * 32, "checked": 400,
            "held_met": True, "intact": True}
    stretch = _stretch(good, low=500, end=1000)
    assert stretch is not None and stretch.begun == (500, bytes(32)) and stretch.held_met
    for changed in ({"begun": [501, "00" * 32]}, {"head_seq": 1000}, {"head_seq": 500}, {"held_met": 1},
                    {"held_met": "true"}, {"intact": 1}, {"checked": "400"}, {"head_hash": "zz"}, {"begun": [500]},
                    {"head_seq": 900.0}):
        assert _stretch({**good, **changed}, low=500, end=1000) is None, changed
    assert _stretch(None, low=500, end=1000) is None and _stretch({}, low=500, end=1000) is None
