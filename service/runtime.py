"""What request handling needs, built once at start-up and shared by every request."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import asyncpg

from crypto import FieldSealer, KeyRing

from .auth import TokenVerifier
from .settings import Settings


SWEDEN = ZoneInfo("Europe/Stockholm")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Runtime:
    """Settings, the database pool, keys and the clock (injectable for tests)."""

    settings: Settings
    pool: asyncpg.Pool
    keyring: KeyRing
    verifier: TokenVerifier
    sealer: FieldSealer = field(init=False)
    clock: Callable[[], datetime] = utc_now

    def __post_init__(self) -> None:
        self.sealer = FieldSealer(self.keyring)

    def today(self) -> date:
        """Today's date in Sweden, where ages (minor or not) are reckoned."""
        return self.clock().astimezone(SWEDEN).date()
