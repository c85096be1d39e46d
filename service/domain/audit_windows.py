"""The checkpoints a walk of the audit chain meets, loaded a window at a time as it gets there (issue #13).

The sealer signs a checkpoint each 1,000 events and at least each 10 s while it seals: a quiet service's log holds
three million a year, ≈450 bytes each in memory, and verify_chain held them all (1.4 GB a year of log in the
process serving GET /v1/audit/verify). A walk goes in seq order, so it needs only those of the stretch it is about
to read: before each COPY of lines (or event walked alone) reach() loads the checkpoints up to its end, and the
verifier lets go of those it has passed (ChainVerifier.window, which keeps the lowest one it did not meet for the
verdict); finish() asks for the first one after the last window. Their signatures are checked in threads a
window ahead of the walk (crypto/checkpoint_signatures.py): a run of them by its last signature, so a window cut
through a run costs one signature more. The verifier refuses to go past what it was given (a bug here would
otherwise skip checkpoints silently).
"""
from __future__ import annotations

from collections.abc import Mapping

import asyncpg

from crypto import checkpoint_signatures
from crypto.chain import ALL_SEQS, ChainVerifier, Checkpoint, Verdict

from ..store import audit_chain as chain_store


class Windowing:
    """What a walk's windows do wherever the checkpoints come from (the database here, an export's lines in
    service/audit_file.py): hand `verifier` the next window, its signatures checked ahead, and conclude."""

    def __init__(self, verifier: ChainVerifier, *, threads: int = checkpoint_signatures.THREADS) -> None:
        if verifier.covered is None:
            raise ValueError("a verifier given its checkpoints a window at a time (covered)")
        self._verifier, self._threads = verifier, threads
        self._checks: checkpoint_signatures.Ahead | None = None

    def _wants(self, below: int | None) -> bool:
        """Whether events below seq `below` (None: all the rest) need checkpoints not loaded yet."""
        covered = self._verifier.covered
        assert covered is not None
        return covered != ALL_SEQS and (below is None or below > covered)

    def _take(self, checkpoints: Mapping[int, Checkpoint], below: int | None) -> None:
        """The checkpoints from `covered` up to `below` as the verifier's next window; their signatures checked
        ahead from now."""
        verifier = self._verifier
        verifier.window(checkpoints, below=ALL_SEQS if below is None else below)
        if self._checks is not None:
            self._checks.close()
        self._checks = checkpoint_signatures.Ahead(
            verifier.public_keys, [verifier.checkpoints[seq] for seq in sorted(verifier.checkpoints)], self._threads)
        verifier.signatures = self._checks

    def _conclude(self, beyond: Checkpoint | None) -> Verdict:
        self.close()
        return self._verifier.finish(beyond)

    def close(self) -> None:
        """Stop checking signatures ahead (the chunks not begun are dropped); the verifier checks its own again."""
        if self._checks is not None:
            self._checks.close()
            self._checks = None
        self._verifier.signatures = None


class Windows(Windowing):
    """`verifier`'s checkpoints (its `covered` set: all below it loaded), loaded from `conn` as its walk goes on."""

    def __init__(self, conn: asyncpg.Connection, verifier: ChainVerifier, *,
                 threads: int = checkpoint_signatures.THREADS) -> None:
        super().__init__(verifier, threads=threads)
        self._conn = conn

    async def reach(self, below: int | None) -> None:
        """Before the walk hands over events below seq `below` (None: all the rest): the checkpoints up to there,
        in the transaction's snapshot; their signatures checked ahead from now."""
        if not self._wants(below):
            return
        assert self._verifier.covered is not None
        rows = await chain_store.checkpoints_between(self._conn, first=self._verifier.covered, below=below)
        self._take({row["seq"]: chain_store.checkpoint(row) for row in rows}, below)

    async def finish(self) -> Verdict:
        """The verdict, with the first checkpoint after the last window (one naming events beyond the walk's)."""
        verifier, beyond = self._verifier, None
        if verifier.problem is None and verifier.covered is not None and verifier.covered != ALL_SEQS:
            row = await chain_store.first_checkpoint(self._conn, first=verifier.covered)
            beyond = chain_store.checkpoint(row) if row is not None else None
        return self._conclude(beyond)
