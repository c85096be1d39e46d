"""What request handling needs, built once at start-up and shared by every request."""
from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg

from crypto import FieldSealer, KeyProvider, KeyRing
from policies.decide import PolicyConfig
from policies.model import Zone
from policies.retention import Rule

from .audit_chain_sealer import AuditChainSealer
from .auth import TokenVerifier
from .errors import Unauthorized
from .settings import Settings
from .store.blobs import BlobStore, PostgresBlobStore
from .store.read_batches import ReadBatches

SWEDEN = ZoneInfo("Europe/Stockholm")
KEYRING_RECHECK_SECONDS = 1.0


def utc_now() -> datetime:
    return datetime.now(UTC)


class KeyRingHolder:
    """The current key ring, reloaded when its file changes (after `keys rotate`), checked at most once a second.

    Replicas pick up a new KEK version without a restart, so data keys re-wrapped
    by `keys rewrap` on one machine open everywhere.
    """

    def __init__(self, provider: KeyProvider, path: os.PathLike[str] | None = None) -> None:
        self._provider = provider
        self._path = path
        self._ring = provider.load()
        self._sealer = FieldSealer(self._ring)
        self._stamp = self._mtime()
        self._checked = time.monotonic()

    def _mtime(self) -> int | None:
        try:
            return os.stat(self._path).st_mtime_ns if self._path else None
        except OSError:
            return None

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < KEYRING_RECHECK_SECONDS:
            return
        self._checked = now
        stamp = self._mtime()
        if stamp != self._stamp:
            self._ring, self._stamp = self._provider.load(), stamp
            self._sealer = FieldSealer(self._ring)

    @property
    def ring(self) -> KeyRing:
        self._refresh()
        return self._ring

    def holding(self, kek_version: int, epoch: str | None) -> KeyRing:
        """The ring, read again at once when it lacks `kek_version` or `epoch`: another replica may have rotated or
        made this month's epoch (and wrapped a document under it) less than a second ago; without this, that
        document would fail as tampered here until the next recheck."""
        ring = self.ring
        if ring.holds(kek_version, epoch):
            return ring
        self._checked = time.monotonic()
        self._ring, self._stamp = self._provider.load(), self._mtime()
        self._sealer = FieldSealer(self._ring)
        return self._ring

    async def with_epoch(self, epoch: str | None) -> KeyRing:
        """The ring, holding culling epoch `epoch` (made in the ring file the first time a file falls due in that
        month: once a month, off the event loop); raises KeyRingError for an epoch destroyed before."""
        ring = self.ring
        if epoch is None or epoch in ring.epoch_ids:
            return ring
        ring = await asyncio.to_thread(self._provider.ensure_epoch, epoch)
        self._ring, self._stamp, self._sealer = ring, self._mtime(), FieldSealer(ring)
        return ring

    async def destroy_epoch(self, epoch: str) -> bool:
        """Remove a culling epoch's key from the ring file for good (its caller checked nothing needs it)."""
        destroyed = await asyncio.to_thread(self._provider.destroy_epoch, epoch)
        self._ring, self._stamp = self._provider.load(), self._mtime()
        self._sealer = FieldSealer(self._ring)
        return destroyed

    @property
    def field_sealer(self) -> FieldSealer:
        self._refresh()
        return self._sealer


@dataclass(slots=True)
class Runtime:
    """Settings, the database pool, keys, the blob store and the clock (injectable for tests)."""

    settings: Settings
    pool: asyncpg.Pool  # the service's is a BoundedPool (BRYGGA_DB_ACQUIRE_TIMEOUT); the CLI's need not be
    keys: KeyRingHolder
    verifier: TokenVerifier
    blobs: BlobStore = field(default_factory=PostgresBlobStore)
    clock: Callable[[], datetime] = utc_now
    chain_sealer: AuditChainSealer | None = None
    # A unit's zone never changes (only `active` does): remembered, so the hot read path can
    # check `active` inside its facts query instead of in a round trip of its own.
    unit_zones: dict[str, Zone] = field(default_factory=dict)
    # The client that talks to the identity provider (BRYGGA_OIDC_ISSUER): its keys, the web sign-in's code exchange.
    http: aiohttp.ClientSession | None = None

    _policy: tuple[Settings, PolicyConfig] | None = field(default=None, init=False, repr=False)
    _id_verifier: TokenVerifier | None = field(default=None, init=False, repr=False)
    # The retention rules uploads choose a culling epoch by: (read at, rules, research flags), for a few seconds
    # (domain.retention.upload_epoch); a change on this replica forgets them at once.
    retention_cache: tuple[float, dict[str, list[Rule]], dict[str, bool]] | None = field(default=None, init=False, repr=False)
    _upload_slots: asyncio.Semaphore | None = field(default=None, init=False, repr=False)
    # A year's suppressed indicator tables by what they were made from (domain.indicators; issue 17).
    indicator_tables: dict[tuple[Any, ...], Any] = field(default_factory=dict, init=False, repr=False)
    indicator_lock: asyncio.Lock | None = field(default=None, init=False, repr=False)
    # A year's tables being made for reads that found none (domain.indicators._building), by year.
    indicator_builds: dict[int, asyncio.Task[bool]] = field(default_factory=dict, init=False, repr=False)
    indicator_making: asyncio.Lock | None = field(default=None, init=False, repr=False)  # one year made at a time
    _reads: ReadBatches | None = field(default=None, init=False, repr=False)

    @property
    def reads(self) -> ReadBatches:
        """Content reads' facts and events gathered into shared statements (store/read_batches.py), made once."""
        if self._reads is None:
            self._reads = ReadBatches(self.pool, self.blobs)
        return self._reads

    async def close(self) -> None:
        """Give back what the runtime keeps of the pool (the read gatherers' connections), before the pool closes."""
        if self._reads is not None:
            await self._reads.close()

    @property
    def id_token_verifier(self) -> TokenVerifier:
        """The web sign-in's ID tokens: the issuer's keys and claim mapping, the client id as audience."""
        if self._id_verifier is None:
            if self.settings.oidc_client_id is None:  # a session begun before the client id was unset: over
                raise Unauthorized("the sign-in by the identity provider is not configured (BRYGGA_OIDC_CLIENT_ID)")
            self._id_verifier = self.verifier.for_audience(self.settings.oidc_client_id)
        return self._id_verifier

    @property
    def policy(self) -> PolicyConfig:
        """The rule configuration (where emergency access may open), from settings; made once per settings."""
        if self._policy is None or self._policy[0] is not self.settings:
            self._policy = (self.settings, PolicyConfig(emergency_domains=frozenset(self.settings.emergency_domains)))
        return self._policy[1]

    @property
    def upload_slots(self) -> asyncio.Semaphore:
        """Uploads streaming into the database at once: at most half the pool, made once.

        An upload holds its connection while its body arrives, at the client's pace; the other half of the
        pool stays for everything else, however many uploads stall (each until BRYGGA_BODY_CHUNK_TIMEOUT).
        """
        if self._upload_slots is None:
            self._upload_slots = asyncio.Semaphore(max(1, self.settings.db_pool_size // 2))
        return self._upload_slots

    @property
    def keyring(self) -> KeyRing:
        return self.keys.ring

    @property
    def field_sealer(self) -> FieldSealer:
        return self.keys.field_sealer

    def today(self) -> date:
        """Today's date in Sweden, where ages (minor or not) are reckoned."""
        return self.clock().astimezone(SWEDEN).date()
