"""The audit sealer: chains committed events in sequence order and signs checkpoints.

Off the request path: recorders only insert their event (audit.record); one sealer
at a time (a session advisory lock, so replicas stand by) links them afterwards.
An event's number is final once every transaction that could still commit a
smaller one has ended. Recorders hold RECORDING_LOCK (shared) from before they draw
a number until they end, so: read the highest committed seq H, then the holders V of
that lock; once none of V is still running, every seq ≤ H is committed or never
will be (rolled back), and the sealer links up to H. Requests never wait for it,
nor for each other; a long transaction delays sealing only if it holds a number.
After a crash the sealer resumes from the chain's last link.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from crypto import KeyRing
from crypto.chain import GENESIS, Checkpoint, checkpoint_digest, link, micros, sign_checkpoint, vouching_prev

from .metrics import audit_checkpoints, audit_seal_lag, audit_sealed
from .store import audit_chain as store

log = logging.getLogger("brygga.field_sealer")

SEALER_LOCK = 7_264_003
# The database went away under the sealer (restart, failover, network): reconnect and resume from the chain's head.
# InternalClientError: asyncpg's protocol broken by a server-side FATAL before the socket closed.
_CONNECTION_LOST = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
CHECKPOINT_EVENTS = 1000
CHECKPOINT_SECONDS = 10.0


def _now() -> datetime:
    return datetime.now(UTC)


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


class AuditChainSealer:
    """Seals in the background (`run`); `catch_up()` seals what is final now (tests, CLI)."""

    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]], keyring: Callable[[], KeyRing], *,
                 interval: float = 0.2, batch: int = 5000, checkpoint_events: int = CHECKPOINT_EVENTS,
                 checkpoint_seconds: float = CHECKPOINT_SECONDS, clock: Callable[[], datetime] = _now) -> None:
        self._connect = connect
        self._keyring = keyring
        self._interval = interval
        self._batch = batch
        self._checkpoint_events = checkpoint_events
        self._checkpoint_seconds = checkpoint_seconds
        self._clock = clock
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        self._pending: list[tuple[int, frozenset[str]]] = []
        self._head: tuple[int, bytes] = (0, b"")
        self._since_checkpoint = 0
        self._checkpoint_at: float | None = None
        self._checkpoint_prev = GENESIS  # the newest checkpoint's digest: the next one signs it (format 2)
        self._prev_signer = b""  # the public key whose signature of that checkpoint held: only that key vouches for it
        self._month: date | None = None  # the month the log's numbering was last seen rolled into

    async def run(self) -> None:
        """Seal forever; stand by while another replica seals; reconnect after errors."""
        while True:
            try:
                while not await self._take_over():  # noqa: ASYNC110 - the lock is another replica's: nothing to wait on here
                    await asyncio.sleep(max(self._interval, 1.0))
                while True:
                    await self.step()
                    await asyncio.sleep(self._interval)
            except asyncio.CancelledError:
                raise
            except _CONNECTION_LOST as exc:
                log.warning("audit sealer lost its connection; retrying", extra={"error": type(exc).__name__})
                await self.close()
                await asyncio.sleep(1.0)
            except Exception:  # never die quietly: a sealer that stopped would leave events unsealed for good
                log.exception("audit sealer failed; retrying")
                await self.close()
                await asyncio.sleep(5.0)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await conn.close(timeout=5)  # ends the session: the sealer lock goes with it
            except asyncio.CancelledError:
                conn.terminate()
                raise
            except Exception:  # noqa: BLE001 - a broken connection: drop it (the server ends the session, and the lock with it)
                conn.terminate()

    async def _take_over(self) -> bool:
        """Become the one sealer, loading the chain's state; False while another one seals."""
        async with self._lock:
            if self._conn is None:
                self._conn = await self._connect()
            if not await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", SEALER_LOCK):
                return False
            self._head = await store.head(self._conn)
            last = await store.last_checkpoint(self._conn)
            self._since_checkpoint = await store.sealed_since(self._conn, last["seq"] if last is not None else 0)
            self._checkpoint_prev, self._prev_signer = self._vouchable(last)
            # Its time only when it is ours: a row dated 2100 would put off the checkpoints each 10 s until then.
            self._checkpoint_at = last["at_us"] / 1e6 if last is not None and self._prev_signer else None
            self._pending.clear()
            self._month = None
            log.info("audit sealer active", extra={"head_seq": self._head[0]})
            return True

    def _vouchable(self, row: asyncpg.Record | None) -> tuple[bytes, bytes]:
        """(the digest the next checkpoint signs as its `prev`, the public key it held under): the newest
        checkpoint's in the database, only when its signature holds under the ring's keys. Signing the digest of a
        row it has not checked would vouch for what the database's writer put there (a forged newest checkpoint,
        and the run it forged before it), and verification proves a run by its last signature. Otherwise a new run
        begins (32 zero bytes, no key): the forged row stays the last of its own run, and verification names it."""
        if row is None:
            return GENESIS, b""
        newest = store.checkpoint(row)
        keys = self._keyring().audit_public_keys
        prev = vouching_prev(keys, newest)
        if prev != GENESIS:
            return prev, _raw(keys[newest.key_id])
        log.warning("the newest audit checkpoint's signature does not hold; its checkpoints are not vouched for "
                    "(run `audit verify`)", extra={"seq": newest.seq})
        return GENESIS, b""

    async def _roll(self, conn: asyncpg.Connection) -> None:
        """When a month has begun since the last round: its partition of audit_events, the numbering moved to it
        (migrations: audit_events by month). One call a month (and one when the sealer takes over)."""
        now = datetime.now(UTC)
        month = date(now.year, now.month, 1)
        if month != self._month:
            rolled = await store.roll(conn, month)
            if rolled:
                log.info("audit log rolled into a new month", extra={"month": month.isoformat()})
            if rolled is not None:  # None: the database's clock is not in that month yet, ask next round
                self._month = month

    async def catch_up(self) -> int:
        """Seal every event that is final now (no transaction that could add one is running); returns how many."""
        if self._conn is None and not await self._take_over():
            raise RuntimeError("another sealer holds the sealer lock")
        total = 0
        while True:
            sealed = await self.step()
            total += sealed
            if not sealed:
                return total

    async def step(self) -> int:
        """One round: observe, seal what became final, sign a checkpoint when due; returns events sealed."""
        async with self._lock:
            conn = self._conn
            await self._roll(conn)
            highest, holders = await store.observe(conn)
            self._pending.append((highest, holders))
            # An earlier observation is final once all its holders ended; this one only if it has none.
            final = max((h for h, v in self._pending[:-1] if v.isdisjoint(holders)), default=0)
            if not holders:
                final = max(final, highest)
            self._pending = [(h, v) for h, v in self._pending if h > final]
            sealed = 0
            while self._head[0] < final:
                rows = await store.to_seal(conn, self._head[0], final, self._batch)
                if not rows:
                    break
                sealed += await self._seal(conn, rows)
                if len(rows) < self._batch:
                    break
            if self._since_checkpoint and self._checkpoint_due():
                await store.append(conn, [], [self._checkpoint()])
            return sealed

    def _checkpoint_due(self) -> bool:
        return self._checkpoint_at is None or time.time() - self._checkpoint_at >= self._checkpoint_seconds

    def _checkpoint(self) -> tuple[int, bytes, datetime, str, bytes, bytes]:
        """The head signed, with the digest of the checkpoint before (format 2: it vouches for every earlier one)."""
        keyring = self._keyring()
        at = self._clock()
        seq, chain_hash = self._head
        signer = _raw(keyring.audit_signing_key.public_key())
        # Vouched for only under the key whose signature of it held: a key replaced under the same id (the ring is
        # read again while the service runs) would otherwise vouch for checkpoints the new key does not verify.
        prev = self._checkpoint_prev if signer == self._prev_signer else GENESIS
        signature = sign_checkpoint(keyring.audit_signing_key, keyring.audit_key_id, seq, chain_hash, micros(at), prev)
        self._checkpoint_prev = checkpoint_digest(Checkpoint(seq, chain_hash, micros(at), keyring.audit_key_id,
                                                             signature, prev))
        self._prev_signer = signer
        self._since_checkpoint, self._checkpoint_at = 0, at.timestamp()
        audit_checkpoints.inc()
        return seq, chain_hash, at, keyring.audit_key_id, signature, prev

    async def _seal(self, conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> int:
        links: list[tuple[int, int, bytes, bytes]] = []
        checkpoints: list[tuple[int, bytes, datetime, str, bytes, bytes]] = []
        prev_seq, prev_hash = self._head
        for row in rows:
            values = tuple(row)
            chain_hash = link(prev_hash, values)
            links.append((values[0], prev_seq, prev_hash, chain_hash))
            prev_seq, prev_hash = values[0], chain_hash
            self._since_checkpoint += 1
            if self._since_checkpoint >= self._checkpoint_events:
                self._head = (prev_seq, prev_hash)
                checkpoints.append(self._checkpoint())
        await store.append(conn, links, checkpoints)
        self._head = (prev_seq, prev_hash)
        audit_sealed.inc(len(links))
        audit_seal_lag.set(max(0.0, time.time() - rows[-1][1] / 1e6))
        return len(links)
