"""Dates as the service counts them: in Swedish time (service.runtime.SWEDEN), not the test machine's zone.

Between 22:00/23:00 UTC and midnight the machine's date.today() is yesterday in Sweden, so a test that sends
"tomorrow" by the machine's clock sends the service's today, and a refusal of a date in the future fails.
"""
from __future__ import annotations

from datetime import date, datetime

from service.runtime import SWEDEN


def today_in_sweden() -> date:
    return datetime.now(SWEDEN).date()
