"""The schedule's arithmetic: the next run at the time of day set, in UTC, never now again."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone

from service.retention_schedule import seconds_until


def test_the_next_run_is_later_today_or_tomorrow_in_utc():
    now = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)
    assert seconds_until(now, time(2, 0)) == 1800
    assert seconds_until(now, time(1, 0)) == timedelta(hours=23, minutes=30).total_seconds()
    assert seconds_until(now, time(1, 30)) == 86400  # at the time itself: tomorrow's, never a second run now
    stockholm = now.astimezone(timezone(timedelta(hours=1)))  # the same instant in another zone: the same answer
    assert seconds_until(stockholm, time(2, 0)) == 1800
