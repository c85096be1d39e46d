"""Checkpoint signatures checked ahead of the chain's walk, in threads (issue #13).

The sealer signs a checkpoint each 1,000 events and at least each 10 s while it seals, so the log of a quiet
service holds one each few events: a year of an event a second is three million. Each is an Ed25519 verification
(130-180 µs on this project's 2-vCPU machines), and checked one by one as the walk reached them they took most of
a verification's time (bench/audit.py part 4). The verification lets go of the GIL, so threads check them while the
walk's Python and PostgreSQL work. Each is checked once: by a thread, or by the walk when it gets to one no thread
has begun; either way the answer is signature_holds()'s, so the verdict is the one checking them in the walk gives.

Since format 2 each checkpoint signs the digest of the one before it (crypto/chain.py), so one signature proves a
run of them: where each checkpoint's `prev` is the digest of the one before it, under one key, the last one's
signature holding means the key's holder signed a chain of digests covering every earlier one's bytes, their
signatures included, as they stand; that holder only ever vouches for checkpoints whose signatures it has seen
hold: its own, made in memory, or the newest one in the database, checked when a sealer takes over (and by the
archive, the one before its anchor). Otherwise a row the database's writer forged and a sealer then chained to
would be vouched for (found in review; tests/integration/test_audit_chain.py). A run is therefore checked by its
last signature, and only when that fails searched in halves (_last_holding): a forged or altered checkpoint's
digest differs from the `prev` signed after it, so it ends its run, and is found and checked itself. Ten years
of a quiet service (30 million checkpoints) cost one signature, not hours.
"""
from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .chain import ChainVerifier, Checkpoint, checkpoint_digest, checkpoint_seq, signature_holds

THREADS = 2
CHUNK = 64  # checkpoints a thread checks at a time (a few milliseconds): what the walk may wait for


def runs(checkpoints: Sequence[Checkpoint]) -> list[Sequence[Checkpoint]]:
    """`checkpoints` (in seq order) cut into runs, each of checkpoints that each vouch for the one before them in
    it: its `prev` is that one's digest and its key is that one's. Every checkpoint is in exactly one run."""
    cut: list[Sequence[Checkpoint]] = []
    begun = 0
    for index in range(1, len(checkpoints)):
        before, checkpoint = checkpoints[index - 1], checkpoints[index]
        if not (checkpoint.prev is not None and checkpoint.key_id == before.key_id and _vouches(checkpoint, before)):
            cut.append(checkpoints[begun:index])
            begun = index
    if checkpoints:
        cut.append(checkpoints[begun:])
    return cut


def _vouches(checkpoint: Checkpoint, before: Checkpoint) -> bool:
    """Whether `checkpoint` signs `before`'s digest; False for a `before` that cannot be a signed checkpoint (a
    signature not of Ed25519's 64 bytes, a key id not text UTF-8 can carry: an export file can hold both)."""
    if len(before.signature) != 64:
        return False
    try:
        return checkpoint.prev == checkpoint_digest(before)
    except UnicodeEncodeError:
        return False


class Ahead:
    """The signatures of `checkpoints` (in seq order, as the walk meets them), checked in threads from the first on:
    a run of them by its last signature, checkpoints alone in their run a chunk at a time. What it keeps is per
    chunk, not per checkpoint (a checkpoint's chunk and place are found by its seq): a dict entry for each of a
    log's millions of checkpoints was a third of a verification's memory."""

    def __init__(self, public_keys: Mapping[str, Ed25519PublicKey], checkpoints: Sequence[Checkpoint],
                 threads: int) -> None:
        if any(before.seq >= after.seq for before, after in itertools.pairwise(checkpoints)):
            raise ValueError("checkpoints are checked ahead in seq order")
        self._public_keys = public_keys
        self._chunks: list[Sequence[Checkpoint]] = []
        self._runs: set[int] = set()  # the chunks that are runs (of more than one)
        alone: list[Checkpoint] = []
        for run in runs(checkpoints):
            if len(run) > 1 or len(alone) == CHUNK:
                if alone:
                    self._chunks.append(alone)
                    alone = []
            if len(run) > 1:
                self._runs.add(len(self._chunks))
                self._chunks.append(run)
            else:
                alone.append(run[0])
        if alone:
            self._chunks.append(alone)
        self._firsts = [chunk[0].seq for chunk in self._chunks]
        # Each chunk's answer once checked: a run's, the place of its last checkpoint that holds (-1: none); checkpoints
        # alone, whether each one's holds. Written whole, once, by whoever checked the chunk.
        self._answers: list[int | list[bool] | None] = [None] * len(self._chunks)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="checkpoint-signatures")
        self._futures: list[Future[None]] = [self._pool.submit(self._check, index) for index in range(len(self._chunks))]

    def _check(self, index: int) -> None:
        """A chunk: checkpoints alone, each by its signature, or a run, by the signature of its last one holding."""
        chunk = self._chunks[index]
        if index in self._runs:
            self._answers[index] = _last_holding(self._public_keys, chunk)
        else:
            self._answers[index] = [signature_holds(self._public_keys, checkpoint) for checkpoint in chunk]

    def _place(self, checkpoint: Checkpoint) -> tuple[int, int] | None:
        """(its chunk, its place in it), None for a checkpoint not given at the start."""
        index = bisect.bisect_right(self._firsts, checkpoint.seq) - 1
        if index < 0:
            return None
        chunk = self._chunks[index]
        place = bisect.bisect_left(chunk, checkpoint.seq, key=checkpoint_seq)
        return (index, place) if place < len(chunk) and chunk[place] == checkpoint else None

    def __call__(self, checkpoint: Checkpoint) -> bool:
        """Whether its signature holds: checked already, or now (its chunk, when no thread has begun it), or once
        the thread checking it is done. A checkpoint not given at the start is checked here and now."""
        found = self._place(checkpoint)
        if found is None:
            return signature_holds(self._public_keys, checkpoint)
        index, place = found
        answer = self._answers[index]
        if answer is None:
            if self._futures[index].cancel():  # no thread took it: this one checks it
                self._check(index)
            else:
                self._futures[index].result()  # a thread is checking it (or has): its answer
            answer = self._answers[index]
            assert answer is not None
        return place <= answer if isinstance(answer, int) else answer[place]

    def close(self) -> None:
        """Stop: the chunks not begun are dropped (a walk that stopped early does not want them), none waited for."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def _last_holding(public_keys: Mapping[str, Ed25519PublicKey], run: Sequence[Checkpoint]) -> int:
    """The position in `run` of a checkpoint whose signature holds (so does every one before it, which it vouches
    for) with the next one's not holding; -1 when the first's does not. Sought from the end in halves: the last
    one's signature holding proves the run by one check; a forged checkpoint ends its run (its digest is not the
    `prev` signed after it), so the one found not holding is the forged one in a run that ends in it, whatever
    an attacker rewrote after it. Those after it are not proven, so not taken as holding: the walk meets the
    first one that does not hold and stops there, where checking each of them alone would stop it too."""
    if signature_holds(public_keys, run[-1]):
        return len(run) - 1
    holds, fails = -1, len(run) - 1
    while fails - holds > 1:
        middle = (holds + fails) // 2
        if signature_holds(public_keys, run[middle]):
            holds = middle
        else:
            fails = middle
    return holds


@contextmanager
def ahead(verifier: ChainVerifier, *, after: int, end: int, threads: int = THREADS) -> Iterator[None]:
    """While the block runs, the signatures of `verifier`'s checkpoints after seq `after` and before `end` (the
    stretch this process walks) are checked ahead of its walk, in `threads` threads; afterwards as before."""
    checkpoints = [verifier.checkpoints[seq] for seq in sorted(verifier.checkpoints) if after < seq < end]
    checks = Ahead(verifier.public_keys, checkpoints, threads)
    before, verifier.signatures = verifier.signatures, checks
    try:
        yield
    finally:
        verifier.signatures = before
        checks.close()
