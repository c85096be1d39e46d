"""Checkpoint signatures checked ahead of the walk in threads (crypto/checkpoint_signatures.py): the same verdicts as
checking them in the walk, each signature checked once, and answers after the threads are stopped."""
from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import nullcontext
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from crypto import checkpoint_signatures
from crypto.chain import ChainVerifier, Checkpoint, Verdict, sign_checkpoint, signature_holds

from .test_crypto_chain import KEYS, chain, checkpoint

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
    checks = checkpoint_signatures._Ahead(keys, forged, threads=1)
    checks.close()  # the chunks not begun are dropped: the answers are then checked here, as asked
    assert [checks(c) for c in forged] == [signature_holds(KEYS, c) for c in forged]
    assert [checks(c) for c in forged].count(False) == 1
    stranger = replace(EVERY_TEN[0], seq=5)  # not one it was given: checked as asked
    assert checks(stranger) is signature_holds(KEYS, stranger) is False
