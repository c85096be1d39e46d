"""`retention run` on a schedule inside the service (API-1.1 "Retention": optional, BRYGGA_RETENTION_RUN_AT).

Every replica wakes at the time of day (UTC) and tries the run; the run's lock (store.retention.RUN_LOCK) lets one
run at a time and the others find it under way and sleep to the next day. A run that fails is logged and tried
again the next day: culling is resumable (a later run finishes what a failed one began), and nothing is culled
before it is due, so a day missed only delays what the law permits, never culls early.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, time, timedelta

from .domain import retention
from .runtime import Runtime

log = logging.getLogger("brygga.retention")


def seconds_until(now: datetime, at: time) -> float:
    """Seconds from `now` (aware) to the next `at` (UTC) after it; a whole day when it is `at` now."""
    now = now.astimezone(UTC)
    target = datetime.combine(now.date(), at, tzinfo=UTC)
    if target <= now:
        target += timedelta(days=1)
    return (target - now).total_seconds()


async def daily(rt: Runtime, at: time) -> None:
    """Run retention each day at `at` until cancelled."""
    while True:
        await asyncio.sleep(seconds_until(rt.clock(), at))
        try:
            result = await retention.run(rt)
        except retention.RunUnderWay:
            log.info("retention run: another replica or the command line is running it")
            continue
        except Exception:
            log.exception("retention run failed; it is tried again tomorrow")
            continue
        log.info("retention run: culled %d documents in %d files", result.documents, result.files,
                 extra={"culled_documents": result.documents, "culled_files": result.files,
                        "kept_files": result.skipped_files, "moved_keys": result.moved_keys,
                        "destroyed_epochs": result.destroyed_epochs})
