"""Checkpoint signatures checked ahead of the walk in threads (crypto/checkpoint_signatures.py): the same verdicts as
checking them in the walk, each signature checked once, and answers after the threads are stopped."""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from contextlib import nullcontext
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from crypto import checkpoint_signatures
from crypto.chain import (
    ChainVerifier,
    Checkpoint,
    Verdict,
    checkpoint_digest,
    checkpoint_message,
    sign_checkpoint,
    signature_holds,
)

from .test_crypto_chain import KEY, KEYS, chain, checkpoint

OTHER = Ed25519PrivateKey.generate()
ROWS = chain(range(1, 2001))
EVERY_TEN = [checkpoint(ROWS, index) for index in range(9, len(ROWS), 10)]  # 200 checkpoints, seqs 10, 20, ...


class CountingKeys(Mapping[str, Ed25519PublicKey]):
    """The real keys, counting the lookups signature_holds() makes (one per signature it checks)."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self._keys, self.lookups, self._lock = dict(keys), 0, threading.Lock()

    def __getitem__(self, key_id: str) -> Ed25519PublicKey:
        with self._lock:
            self.lookups += 1
        return self._keys[key_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def walk(checkpoints: list[Checkpoint], *, ahead: bool, keys: Mapping[str, Ed25519PublicKey] = KEYS,
         held: tuple[int, bytes] | None = None) -> Verdict:
    verifier = ChainVerifier(keys, {c.seq: c for c in checkpoints}, held)
    with checkpoint_signatures.ahead(verifier, after=0, end=len(ROWS) + 1) if ahead else nullcontext():
        for seq, values, chained in ROWS:
            if not verifier.add(seq, values, chained):
                break
        return verifier.finish()


def _forged(index: int) -> list[Checkpoint]:
    good = EVERY_TEN[index]
    return [*EVERY_TEN[:index], replace(good, signature=sign_checkpoint(OTHER, good.key_id, good.seq, good.hash,
                                                                          good.at_us)), *EVERY_TEN[index + 1:]]


@pytest.mark.parametrize("checkpoints", [
    pytest.param(EVERY_TEN, id="intact"),
    pytest.param(_forged(0), id="the first forged"),
    pytest.param(_forged(137), id="one in the middle forged"),
    pytest.param(_forged(199), id="the last forged"),
    pytest.param([*EVERY_TEN[:50], replace(EVERY_TEN[50], key_id="audit-9"), *EVERY_TEN[51:]], id="an unknown key"),
    pytest.param([*EVERY_TEN[:80], replace(EVERY_TEN[80], at_us=EVERY_TEN[80].at_us + 1), *EVERY_TEN[81:]],
                 id="its time changed"),
    pytest.param([*EVERY_TEN, replace(EVERY_TEN[-1], seq=2500)], id="one beyond the head"),
])
def test_checked_ahead_the_verdict_is_the_walks(checkpoints):
    assert walk(checkpoints, ahead=True) == walk(checkpoints, ahead=False)


def test_a_forged_checkpoint_is_named_at_its_seq_when_checked_ahead():
    verdict = walk(_forged(137), ahead=True)
    assert (verdict.ok, verdict.problem, verdict.first_bad_seq) == (False, "bad_signature", EVERY_TEN[137].seq)


def test_each_signature_is_checked_once_whoever_gets_there_first():
    keys = CountingKeys(KEYS)
    verdict = walk(EVERY_TEN, ahead=True, keys=keys)
    assert verdict.ok and verdict.checked == len(ROWS)
    assert keys.lookups == len(EVERY_TEN)


def test_after_the_threads_stop_every_checkpoint_is_still_answered_rightly():
    keys = CountingKeys(KEYS)
    forged = _forged(3)
    checks = checkpoint_signatures.Ahead(keys, forged, threads=1)
    checks.close()  # the chunks not begun are dropped: the answers are then checked here, as asked
    assert [checks(c) for c in forged] == [signature_holds(KEYS, c) for c in forged]
    assert [checks(c) for c in forged].count(False) == 1
    stranger = replace(EVERY_TEN[0], seq=5)  # not one it was given: checked as asked
    assert checks(stranger) is signature_holds(KEYS, stranger) is False


# -- format 2: each checkpoint signs the digest of the one before, so a run of them is proven by its last ----------

SECOND = Ed25519PrivateKey.generate()  # the key after a rotation
ROTATED_KEYS = {**KEYS, "audit-2": SECOND.public_key()}


def chained(checkpoints: list[Checkpoint], *, rotate_at: int | None = None, first_prev: bytes = bytes(32)) -> list[Checkpoint]:
    """`checkpoints` signed again as the sealer signs them (format 2), with audit-2 from `rotate_at` on."""
    out, prev = [], first_prev
    for index, c in enumerate(checkpoints):
        key, key_id = (SECOND, "audit-2") if rotate_at is not None and index >= rotate_at else (KEY, "audit-1")
        signed = Checkpoint(c.seq, c.hash, c.at_us, key_id, sign_checkpoint(key, key_id, c.seq, c.hash, c.at_us, prev),
                            prev)
        out.append(signed)
        prev = checkpoint_digest(signed)
    return out


CHAINED = chained(EVERY_TEN)


def _relinked(checkpoints: list[Checkpoint], index: int, **changes) -> list[Checkpoint]:
    """One checkpoint changed, and every later one's prev rewritten to its new digest (signatures kept): the run
    stays unbroken, so only signatures can tell."""
    out = [*checkpoints[:index], replace(checkpoints[index], **changes)]
    for c in checkpoints[index + 1:]:
        out.append(replace(c, prev=checkpoint_digest(out[-1])))
    return out


def _forged_chained(index: int) -> list[Checkpoint]:
    good = CHAINED[index]
    forged = replace(good, signature=sign_checkpoint(OTHER, good.key_id, good.seq, good.hash, good.at_us, good.prev))
    return [*CHAINED[:index], forged, *CHAINED[index + 1:]]


CHAINED_CASES = [
    pytest.param(CHAINED, id="intact"),
    pytest.param(_forged_chained(0), id="the first forged"),
    pytest.param(_forged_chained(137), id="one in the middle forged"),
    pytest.param(_forged_chained(199), id="the last forged"),
    pytest.param([*CHAINED[:80], replace(CHAINED[80], at_us=CHAINED[80].at_us + 1), *CHAINED[81:]], id="its time changed"),
    pytest.param(_relinked(CHAINED, 80, at_us=CHAINED[80].at_us + 1), id="its time changed, the run relinked after it"),
    pytest.param(_relinked(CHAINED, 0, hash=bytes(32)), id="the first's hash changed, the run relinked after it"),
    pytest.param([*CHAINED[:120], *CHAINED[121:]], id="one deleted"),
    pytest.param([*CHAINED[:50], replace(CHAINED[50], key_id="audit-9"), *CHAINED[51:]], id="an unknown key"),
    pytest.param([*CHAINED[:60], replace(CHAINED[60], prev=bytes(32)), *CHAINED[61:]], id="a prev zeroed"),
    pytest.param([*EVERY_TEN[:100], *chained(EVERY_TEN[100:], first_prev=checkpoint_digest(EVERY_TEN[99]))],
                 id="format 1, then format 2"),
    pytest.param([*CHAINED, replace(CHAINED[-1], seq=2500)], id="one beyond the head"),
]


@pytest.mark.parametrize("checkpoints", CHAINED_CASES)
def test_format_2_runs_checked_ahead_give_the_walks_verdict(checkpoints):
    assert walk(checkpoints, ahead=True) == walk(checkpoints, ahead=False)


@pytest.mark.parametrize(("checkpoints", "bad"), [
    pytest.param(_forged_chained(137), 137, id="forged"),
    pytest.param(_relinked(CHAINED, 80, at_us=CHAINED[80].at_us + 1), 80, id="relinked"),
    pytest.param(_forged_chained(199), 199, id="the last"),
])
def test_a_forged_checkpoint_in_a_run_is_named_at_its_seq(checkpoints, bad):
    verdict = walk(checkpoints, ahead=True)
    assert (verdict.ok, verdict.problem, verdict.first_bad_seq) == (False, "bad_signature", CHAINED[bad].seq)


def test_a_run_is_proven_by_its_last_signature():
    keys = CountingKeys(KEYS)
    verdict = walk(CHAINED, ahead=True, keys=keys)
    assert verdict.ok and verdict.checked == len(ROWS)
    assert keys.lookups == 1  # 200 checkpoints, one signature
    rotated = chained(EVERY_TEN, rotate_at=100)
    keys = CountingKeys(ROTATED_KEYS)
    assert walk(rotated, ahead=True, keys=keys).ok and keys.lookups == 2  # a run per key
    assert walk(rotated, ahead=False, keys=ROTATED_KEYS).ok


def test_a_run_whose_last_signature_fails_is_searched_in_halves():
    keys = CountingKeys(KEYS)
    verdict = walk(_relinked(CHAINED, 80, at_us=CHAINED[80].at_us + 1), ahead=True, keys=keys)
    assert (verdict.problem, verdict.first_bad_seq) == ("bad_signature", CHAINED[80].seq)
    assert keys.lookups <= 1 + 8  # the last, then halves of 200: not one each


def test_runs_are_cut_where_a_checkpoint_does_not_vouch_for_the_one_before():
    assert checkpoint_signatures.runs(CHAINED) == [CHAINED]
    assert checkpoint_signatures.runs(EVERY_TEN[:3]) == [[c] for c in EVERY_TEN[:3]]  # format 1: each alone
    deleted = [*CHAINED[:120], *CHAINED[121:]]
    assert checkpoint_signatures.runs(deleted) == [CHAINED[:120], CHAINED[121:]]
    rotated = chained(EVERY_TEN, rotate_at=100)
    assert checkpoint_signatures.runs(rotated) == [rotated[:100], rotated[100:]]
    assert checkpoint_signatures.runs(_forged_chained(137)) == [CHAINED[:137] + [_forged_chained(137)[137]], CHAINED[138:]]
    assert checkpoint_signatures.runs([]) == []


def test_the_format_2_message_and_digest_are_as_documented():
    c = CHAINED[1]
    assert checkpoint_message(c.key_id, c.seq, c.hash, c.at_us, c.prev) == (
        f"brygga-audit-checkpoint/2\naudit-1\n20\n{c.hash.hex()}\n{c.at_us}\n{c.prev.hex()}".encode())
    before = CHAINED[0]
    assert c.prev == hashlib.sha256(hashlib.sha256(
        f"brygga-audit-checkpoint/2\naudit-1\n10\n{before.hash.hex()}\n{before.at_us}\n{'00' * 32}".encode()
    ).digest() + before.signature).digest()
    assert checkpoint_message("audit-1", 10, before.hash, 5) == f"brygga-audit-checkpoint/1\naudit-1\n10\n{before.hash.hex()}\n5".encode()
    with pytest.raises(ValueError):
        replace(c, prev=b"short")


def _retimed_into_signature(c: Checkpoint, digits: int = 6) -> Checkpoint:
    """Found in review: a format 1 message ends in its time's digits; moved to the front of the signature they made
    another checkpoint (another time) with the same digest while that was SHA-256(message || signature)."""
    text = str(c.at_us)
    return replace(c, at_us=int(text[:-digits]), signature=text[-digits:].encode() + c.signature)


UPGRADED = [*EVERY_TEN[:100], *chained(EVERY_TEN[100:], first_prev=checkpoint_digest(EVERY_TEN[99]))]


def test_no_two_checkpoints_share_a_digest_when_the_time_moves_into_the_signature():
    retimed = _retimed_into_signature(EVERY_TEN[99])
    assert checkpoint_digest(retimed) != checkpoint_digest(EVERY_TEN[99])
    tampered = [*UPGRADED[:99], retimed, *UPGRADED[100:]]
    verdict = walk(tampered, ahead=True)
    assert verdict == walk(tampered, ahead=False)
    assert (verdict.problem, verdict.first_bad_seq) == ("bad_signature", EVERY_TEN[99].seq)
    assert walk(UPGRADED, ahead=True).ok


def test_checkpoints_an_export_file_can_hold_but_no_key_signs_cut_runs_and_raise_nothing():
    odd_key = [replace(c, key_id="\ud800") for c in CHAINED[:3]]  # a lone surrogate: JSON, but not UTF-8
    assert checkpoint_signatures.runs(odd_key) == [[c] for c in odd_key]
    long_signature = [replace(CHAINED[0], signature=CHAINED[0].signature + b"\0"), *CHAINED[1:]]
    assert checkpoint_signatures.runs(long_signature) == [long_signature[:1], CHAINED[1:]]
    for checkpoints in ([*odd_key, *CHAINED[3:]], long_signature):
        verdict = walk(checkpoints, ahead=True)
        assert verdict == walk(checkpoints, ahead=False)
        assert (verdict.problem, verdict.first_bad_seq) == ("bad_signature", CHAINED[0].seq)


def test_a_checkpoint_is_found_by_its_seq_and_must_be_the_one_given():
    """The answers are kept per chunk and a checkpoint found by its seq (no dict entry per checkpoint): one with a
    given seq but other contents is not the one given, and is checked as asked."""
    keys = CountingKeys(KEYS)
    checks = checkpoint_signatures.Ahead(keys, CHAINED, threads=1)
    try:
        assert all(checks(c) for c in CHAINED)
        changed = replace(CHAINED[5], at_us=CHAINED[5].at_us + 1)
        assert checks(changed) is signature_holds(KEYS, changed) is False
        assert checks(replace(CHAINED[0], seq=1)) is False and checks(replace(CHAINED[-1], seq=10**6)) is False
    finally:
        checks.close()
    with pytest.raises(ValueError, match="seq order"):
        checkpoint_signatures.Ahead(KEYS, [CHAINED[1], CHAINED[0]], threads=1)
