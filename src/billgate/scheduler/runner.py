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
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from billgate.billing.subscriptions.lifecycle import Billing
from billgate.ops.metrics import SCHEDULER_LAG
from billgate.scheduler.jobs import BILLING_JOBS, Job

log = logging.getLogger(__name__)
MAX_STEPS = 10_000


# One run at a time per database within a process. ``advanceTestClock`` and the process's
# own scheduler would otherwise claim each other's work, and the one that meets a lease
# returns before everything due is done (the mutation would answer too early).
_runs: weakref.WeakKeyDictionary[object, asyncio.Lock] = weakref.WeakKeyDictionary()


def _run_lock(db: object) -> asyncio.Lock:
    lock = _runs.get(db)
    if lock is None:
        lock = _runs[db] = asyncio.Lock()
    return lock


async def run_due(billing: Billing, now: datetime, *, jobs: tuple[Job, ...] = BILLING_JOBS) -> int:
    """Run all work due at or before ``now``, in time order. Returns the units done."""
    async with _run_lock(billing.db):
        return await _run_due(billing, now, jobs)


async def _run_due(billing: Billing, now: datetime, jobs: tuple[Job, ...]) -> int:
    done = 0
    # A job that finds its due work held by another process (a lease) sits out the rest of
    # this run; the others carry on, and the next run picks it up again.
    waiting: set[str] = set()
    for _ in range(MAX_STEPS):
        dues = [(await job.next_due(billing, now), n, job) for n, job in enumerate(jobs)
                if job.name not in waiting]
        pending = [(due, n, job) for due, n, job in dues if due is not None]
        if not pending:
            return done
        due, _, job = min(pending, key=lambda entry: (entry[0], entry[1]))
        SCHEDULER_LAG.set(max(0.0, (now - due).total_seconds()))
        count = await job.run(billing, due)
        if count == 0:
            waiting.add(job.name)
        done += count
    log.warning("scheduler stopped after %s steps; the rest runs next time", MAX_STEPS)
    return done


class Scheduler:
    """The background loop. ``make_billing`` builds the billing context for each tick (it
    reads the current payment settings, which may change at run time). ``before_tick`` runs
    first (the runtime picks up a test clock another process advanced); ``extra`` jobs (the
    email outbox) run after the billing work of every tick, at the same billing time, and
    their failures never stop the billing work, nor the other way round."""

    def __init__(self, make_billing: Callable[[], Awaitable[Billing]], clock_now: Callable[[], datetime],
                 *, interval: float = 1.0, extra: Job | Sequence[Job] = (),
                 before_tick: Callable[[], Awaitable[None]] | None = None):
        self.make_billing = make_billing
        self.clock_now = clock_now
        self.interval = interval
        self.extra: tuple[Job, ...] = (extra,) if isinstance(extra, Job) else tuple(extra)
        self.before_tick = before_tick
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def tick(self) -> int:
        if self.before_tick is not None:
            await self.before_tick()
        billing = await self.make_billing()
        now = self.clock_now()
        done = 0
        parts: list[tuple[str, Callable[[], Awaitable[int]]]] = [("billing", lambda: run_due(billing, now))]
        parts += [(job.name, functools.partial(job.run, billing, now)) for job in self.extra]
        for name, work in parts:
            try:
                done += await work()
            except Exception:  # the next tick retries it; the other parts still run
                log.exception("scheduler: %s failed", name)
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
        if self.running:
            raise RuntimeError("the scheduler is running already")
        self._stop.clear()
        self._task = asyncio.create_task(self._loop(), name="billgate-scheduler")

    async def stop(self, *, grace: float = 30.0) -> None:
        """Let the current tick finish (up to ``grace`` seconds, then cancel it: leases and
        idempotency keys make an interrupted job safe to redo) and end the loop."""
        self._stop.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            log.warning("scheduler: the tick did not finish within %ss of shutdown; canceled", grace)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
