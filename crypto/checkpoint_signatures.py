"""Checkpoint signatures checked ahead of the chain's walk, in threads (issue #13).

The sealer signs a checkpoint each 1,000 events and at least each 10 s while it seals, so the log of a quiet
service holds one each few events: a year of an event a second is three million. Each is an Ed25519 verification
(130-180 µs on this project's 2-vCPU machines), and checked one by one as the walk reached them they took most of
a verification's time (bench/audit.py part 4). The verification lets go of the GIL, so threads check them while the
walk's Python and PostgreSQL work. Each is checked once: by a thread, or by the walk when it gets to one no thread
has begun; either way the answer is signature_holds()'s, so the verdict is the one checking them in the walk gives.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .chain import ChainVerifier, Checkpoint, signature_holds

THREADS = 2
CHUNK = 64  # checkpoints a thread checks at a time (a few milliseconds): what the walk may wait for


class _Ahead:
    """The signatures of `checkpoints` (in the order the walk meets them), checked in threads from the first on."""

    def __init__(self, public_keys: Mapping[str, Ed25519PublicKey], checkpoints: Sequence[Checkpoint],
                 threads: int) -> None:
        self._public_keys = public_keys
        self._chunks = [checkpoints[i:i + CHUNK] for i in range(0, len(checkpoints), CHUNK)]
        self._chunk_of = {checkpoint: index for index, chunk in enumerate(self._chunks) for checkpoint in chunk}
        self._holds: dict[Checkpoint, bool] = {}
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="checkpoint-signatures")
        self._futures: list[Future[None]] = [self._pool.submit(self._check, chunk) for chunk in self._chunks]

    def _check(self, chunk: Sequence[Checkpoint]) -> None:
        for checkpoint in chunk:
            self._holds[checkpoint] = signature_holds(self._public_keys, checkpoint)

    def __call__(self, checkpoint: Checkpoint) -> bool:
        """Whether its signature holds: checked already, or now (its chunk, when no thread has begun it), or once
        the thread checking it is done. A checkpoint not given at the start is checked here and now."""
        holds = self._holds.get(checkpoint)
        if holds is not None:
            return holds
        index = self._chunk_of.get(checkpoint)
        if index is None:
            return signature_holds(self._public_keys, checkpoint)
        future = self._futures[index]
        if future.cancel():  # no thread took it: this one checks it
            self._check(self._chunks[index])
        else:
            future.result()  # a thread is checking it (or has): its answer
        return self._holds[checkpoint]

    def close(self) -> None:
        """Stop: the chunks not begun are dropped (a walk that stopped early does not want them), none waited for."""
        self._pool.shutdown(wait=False, cancel_futures=True)


@contextmanager
def ahead(verifier: ChainVerifier, *, after: int, end: int, threads: int = THREADS) -> Iterator[None]:
    """While the block runs, the signatures of `verifier`'s checkpoints after seq `after` and before `end` (the
    stretch this process walks) are checked ahead of its walk, in `threads` threads; afterwards as before."""
    checkpoints = [verifier.checkpoints[seq] for seq in sorted(verifier.checkpoints) if after < seq < end]
    checks = _Ahead(verifier.public_keys, checkpoints, threads)
    before, verifier.signatures = verifier.signatures, checks
    try:
        yield
    finally:
        verifier.signatures = before
        checks.close()
