"""The retry schedule: after the n-th failed attempt, wait ``RETRY_DELAYS[n-1]`` with
+/-20% jitter (so a receiver that came back is not hit by every queued event at once).
The delays add up to about 3.9 days; with the jitter at its lowest still more than 3 days,
then the delivery is FAILED and the endpoint is disabled (``delivery``)."""

from __future__ import annotations

import random
from datetime import timedelta

RETRY_DELAYS = (
    timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(minutes=30),
    timedelta(hours=1), timedelta(hours=3), timedelta(hours=6), timedelta(hours=12),
    timedelta(hours=24), timedelta(hours=24), timedelta(hours=24),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.2


def next_delay(failed_attempts: int, *, rng: random.Random | None = None) -> timedelta | None:
    """The wait after ``failed_attempts`` failures (1-based); None when retries are spent."""
    if failed_attempts < 1:
        return timedelta(0)
    if failed_attempts >= MAX_ATTEMPTS:
        return None
    base = RETRY_DELAYS[failed_attempts - 1]
    factor = 1 + (rng or random).uniform(-JITTER, JITTER)
    return timedelta(seconds=base.total_seconds() * factor)
