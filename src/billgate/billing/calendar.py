"""Calendar intervals. A month is a calendar month anchored on the start: a plan bought on
31 January renews on 28 (or 29) February, then on 31 March — always counted from the
anchor, never from the previous (clamped) date."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta


def add_interval(anchor: datetime, interval: dict[str, Any], times: int = 1) -> datetime:
    """``anchor`` plus ``times`` intervals (``{"unit": "MONTH", "count": 1}``)."""
    count = int(interval.get("count", 1)) * times
    unit = interval["unit"]
    if unit == "DAY":
        return anchor + timedelta(days=count)
    if unit == "WEEK":
        return anchor + timedelta(weeks=count)
    if unit == "MONTH":
        return anchor + relativedelta(months=count)
    if unit == "YEAR":
        return anchor + relativedelta(years=count)
    raise ValueError(f"unknown interval unit {unit!r}")


def interval_length(interval: dict[str, Any], *, start: datetime) -> timedelta:
    """How long one interval starting at ``start`` lasts (calendar-aware)."""
    return add_interval(start, interval) - start
