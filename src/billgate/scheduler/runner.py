"""Runs due work: renewals, trial ends, period-end cancels, automatic resumes, dunning
retries, item repeats and expiries, and the email outbox.

``run_due(billing, now)`` does everything due up to ``now`` in time order: each step takes
the earliest due time among the jobs and runs the work due then, with that time as
"now", so a renewal is dated at its period end even when the clock jumped a month
(``advanceTestClock``). ``Scheduler`` calls it every ``interval`` seconds in the background
(``billgate serve`` in-process, or ``billgate worker`` alone).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from billgate.billing.subscriptions.lifecycle import Billing
from billgate.clock import utcnow
from billgate.ops.metrics import SCHEDULER_LAG
from billgate.scheduler.jobs import BILLING_JOBS, Job

log = logging.getLogger(__name__)
MAX_STEPS = 10_000


async def run_due(billing: Billing, now: datetime, *, jobs: tuple[Job, ...] = BILLING_JOBS) -> int:
    """Run all work due at or before ``now``, in time order. Returns the units done."""
    done = 0
    for _ in range(MAX_STEPS):
        dues = [(await job.next_due(billing, now), n, job) for n, job in enumerate(jobs)]
        pending = [(due, n, job) for due, n, job in dues if due is not None]
        if not pending:
            return done
        due, _, job = min(pending, key=lambda entry: (entry[0], entry[1]))
        SCHEDULER_LAG.set(max(0.0, (now - due).total_seconds()))
        count = await job.run(billing, due)
        if count == 0:
            # Claimed by another process meanwhile (or leased): let it finish.
            return done
        done += count
    log.warning("scheduler stopped after %s steps; the rest runs next time", MAX_STEPS)
    return done


class Scheduler:
    """The background loop. ``make_billing`` builds the billing context for each tick (it
    reads the current payment settings, which may change at run time)."""

    def __init__(self, make_billing: Callable[[], Awaitable[Billing]], clock_now: Callable[[], datetime],
                 *, interval: float = 1.0, extra: Callable[[datetime], Awaitable[int]] | None = None):
        self.make_billing = make_billing
        self.clock_now = clock_now
        self.interval = interval
        self.extra = extra
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def tick(self) -> int:
        billing = await self.make_billing()
        done = await run_due(billing, self.clock_now())
        if self.extra is not None:
            done += await self.extra(utcnow())
        return done

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self.tick()
            except Exception:  # keep running: the next tick retries what failed
                log.exception("scheduler tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="billgate-scheduler")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
