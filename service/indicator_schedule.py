"""Indicator tables made ahead of the first read (issue 17): a background task in the service.

A year's tables are made from its records as they stood at its freeze instant; making them takes long (every period
and scope of the year, suppressed together), so no user should wait for it. Once a year has ended and
BRYGGA_INDICATORS_FREEZE_DAYS more days have passed (so late entries for December get in), the service freezes the
year and makes its tables under the threshold and units' zones of that moment, which the year keeps (one publication
a year: store/followup.py `frozen`); it also makes again the tables of a frozen year that has none stored. One
replica at a time (a session advisory lock: the others find it taken and leave it). A read of a year that is due
and has no tables freezes it and has them made (the same task a year on a replica as this making's:
indicators.making); before the year is due a read is refused (422 period_not_closed). Nothing here reads a client or
gives anything to anyone: no audit event (the reads are audited).
"""
from __future__ import annotations

import asyncio
import logging
from datetime import date, timedelta

from .database import session_lock
from .domain import indicators
from .runtime import Runtime
from .store import indicator_tables as kept

log = logging.getLogger("brygga.indicators")

EVERY = 3600.0  # seconds between checks; the first one an interval after start


def due_year(today: date, freeze_days: int) -> int:
    """The latest year whose end plus `freeze_days` days has passed by `today`."""
    year = today.year - 1
    return year if today >= date(year + 1, 1, 1) + timedelta(days=freeze_days) else year - 1


async def build_due(rt: Runtime) -> list[int] | None:
    """Make the tables of the year due and of every year already frozen, where the current key has none stored;
    the years made, or None when another replica (or the command line) holds the lock."""
    async with rt.pool.acquire() as conn:
        frozen = await kept.frozen_years(conn)
    years = sorted({*frozen, due_year(rt.today(), rt.settings.indicators_freeze_days)})
    return await build_locked(rt, [year for year in years if date(year, 12, 31) < rt.today()])


async def build_locked(rt: Runtime, years: list[int]) -> list[int] | None:
    """indicators.build of each year (ended ones) under the making's lock, one replica or command at a time: the
    years whose tables were made now (the others were stored already), or None when the lock is held elsewhere."""
    async with rt.pool.acquire() as conn, session_lock(conn, kept.BUILD_LOCK) as held:
        if not held:
            return None
        return [year for year in years if await indicators.making(rt, year)]


async def every(rt: Runtime, interval: float = EVERY) -> None:
    """build_due every `interval` seconds until cancelled; a failure is logged and tried again next time."""
    while True:
        await asyncio.sleep(interval)
        try:
            made = await build_due(rt)
        except Exception:
            log.exception("indicator tables: making failed; tried again in an hour")
            continue
        if made:
            log.info("indicator tables made for %s", ", ".join(map(str, made)), extra={"years": made})
