"""The one source of time for billing.

Everything that decides money or credits asks a ``Clock``. In test mode the clock is a
``TestClock``: real time plus an offset that ``advanceTestClock`` moves forward, so
renewals, trials and expiries can be walked through without sleeping. Token expiry is
always checked against the real clock, never this one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


def utcnow() -> datetime:
    return datetime.now(UTC)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


class TestClock:
    """Real time plus an offset; the offset only ever grows."""

    __test__ = False  # not a pytest test class

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, seconds: float) -> datetime:
        if seconds <= 0:
            raise ValueError("a test clock only moves forward")
        self.offset += timedelta(seconds=seconds)
        return self.now()


class FrozenClock:
    """A clock that stands still until moved: for unit tests of time rules."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> datetime:
        self.at += timedelta(seconds=seconds)
        return self.at
