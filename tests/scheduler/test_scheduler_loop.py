"""The in-process scheduler: its loop, the email job, the ``billgate serve`` lifespan that
starts and stops it, its settings, and ``billgate worker``'s start-up checks."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from worker_testing import A_MONTH_AND_A_BIT, advance_stored_clock, counts, subscribe, wait_for

from billgate.app import create_app
from billgate.billing.subscriptions.lifecycle import Billing
from billgate.cli import main
from billgate.clock import FrozenClock, TestClock, utcnow
from billgate.db.engine import Database
from billgate.runtime import Runtime
from billgate.scheduler.jobs import BILLING_JOBS, Job, email_job
from billgate.scheduler.runner import Scheduler
from billgate.settings import Settings


def _scheduler_tasks() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "billgate-scheduler" and not t.done()]


# The loop ------------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.times: list[datetime] = []

    async def before(self) -> None:
        self.calls.append("before")

    def job(self, name: str, *, fail: bool = False) -> Job:
        async def next_due(billing: Billing, now: datetime) -> datetime | None:
            return None

        async def run(billing: Billing, at: datetime) -> int:
            self.calls.append(name)
            self.times.append(at)
            if fail:
                raise RuntimeError(f"{name} broke")
            return 1

        return Job(name, next_due, run)


async def test_a_tick_syncs_first_then_billing_then_the_extra_jobs(runtime: Runtime) -> None:
    clock = FrozenClock(utcnow() + timedelta(days=40))
    recorder = Recorder()
    scheduler = Scheduler(runtime.billing, clock.now, extra=[recorder.job("a"), recorder.job("b")],
                          before_tick=recorder.before)
    assert await scheduler.tick() == 2
    assert recorder.calls == ["before", "a", "b"]
    assert recorder.times == [clock.now(), clock.now()]  # the billing clock, not real time


async def test_a_failing_part_does_not_stop_the_others(runtime: Runtime,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    scheduler = Scheduler(runtime.billing, runtime.clock.now,
                          extra=[recorder.job("broken", fail=True), recorder.job("email.send")])
    with caplog.at_level(logging.ERROR, logger="billgate.scheduler.runner"):
        assert await scheduler.tick() == 1
    assert recorder.calls == ["broken", "email.send"]
    assert any("broken failed" in r.getMessage() for r in caplog.records)


async def test_the_loop_runs_every_interval_and_stops_cleanly(runtime: Runtime) -> None:
    recorder = Recorder()
    scheduler = Scheduler(runtime.billing, runtime.clock.now, interval=0.02,
                          extra=recorder.job("tick"), before_tick=recorder.before)
    scheduler.start()
    with pytest.raises(RuntimeError):
        scheduler.start()
    await wait_for(lambda: _true_when(recorder.calls.count("tick") >= 3), within=60)
    await scheduler.stop()
    assert not scheduler.running and _scheduler_tasks() == []
    ticks = recorder.calls.count("tick")
    await asyncio.sleep(0.1)
    assert recorder.calls.count("tick") == ticks  # stopped means stopped
    await scheduler.stop()  # twice is fine


async def _true_when(value: bool) -> bool:
    return value


async def test_stop_cancels_a_tick_that_overruns_the_grace(runtime: Runtime,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    started = asyncio.Event()

    async def stuck(billing: Billing, at: datetime) -> int:
        started.set()
        await asyncio.sleep(60)
        return 0

    scheduler = Scheduler(runtime.billing, runtime.clock.now, extra=Job("stuck", stuck, stuck))
    scheduler.start()
    await asyncio.wait_for(started.wait(), 10)
    with caplog.at_level(logging.WARNING, logger="billgate.scheduler.runner"):
        await asyncio.wait_for(scheduler.stop(grace=0.1), 5)
    assert _scheduler_tasks() == []
    assert any("did not finish" in r.getMessage() for r in caplog.records)


async def test_the_email_job_delivers_the_outbox_each_tick(
        runtime: Runtime, db: Database, example_catalog: None, caplog: pytest.LogCaptureFixture) -> None:
    [sub] = await subscribe(db, 1)
    await advance_stored_clock(db, A_MONTH_AND_A_BIT)
    scheduler = Scheduler(runtime.billing, runtime.clock.now,
                          extra=email_job(smtp_url="", sender="billing@example.com"),
                          before_tick=runtime.sync_test_clock)
    with caplog.at_level(logging.INFO, logger="billgate.email"):
        await scheduler.tick()  # renews (the receipt is queued) and sends in one tick
    state = await counts(db, [sub])
    assert state.renewals[sub] == 1 and state.emails_sent == state.emails_total == 1
    assert any("Receipt for 49.00 USD" in r.getMessage() for r in caplog.records)


def test_the_email_job_is_not_billing_work() -> None:
    job = email_job(smtp_url="smtp://127.0.0.1:2525", sender="billing@example.com")
    assert job.name == "email.send" and job not in BILLING_JOBS
    with pytest.raises(ValueError):
        email_job(smtp_url="imap://mail.example.com", sender="billing@example.com")


# billgate serve: the lifespan ----------------------------------------------------------------


def _runtime_for(settings: Settings, db: Database, **changes: object) -> Runtime:
    return Runtime(settings=replace(settings, **changes), db=db, clock=TestClock(),  # type: ignore[arg-type]
                   secret_keys=settings.secret_keys)


async def test_serve_renews_due_subscriptions_in_process(db: Database, settings: Settings,
                                                         example_catalog: None) -> None:
    runtime = _runtime_for(settings, db, scheduler_interval=0.05)
    [sub] = await subscribe(db, 1)
    app = create_app(runtime=runtime)
    async with app.router.lifespan_context(app):
        assert len(_scheduler_tasks()) == 1
        bus = runtime.bus
        assert bus is not None
        # Another process (or an admin) moved the deployment's test clock: no
        # advanceTestClock here, the scheduler picks it up by itself.
        await advance_stored_clock(db, A_MONTH_AND_A_BIT)

        async def renewed() -> bool:
            state = await counts(db, [sub])
            return state.renewals[sub] == 1 and state.emails_sent == 1

        await wait_for(renewed, within=60, what="the in-process scheduler to renew")
    # Stopped before the bus it publishes on was closed, and nothing left running.
    assert _scheduler_tasks() == []
    assert runtime.bus is None and not bus.running
    assert (await counts(db, [sub])).renewals[sub] == 1


async def test_serve_without_the_scheduler(db: Database, settings: Settings,
                                           example_catalog: None) -> None:
    runtime = _runtime_for(settings, db, scheduler=False, scheduler_interval=0.05)
    [sub] = await subscribe(db, 1)
    await advance_stored_clock(db, A_MONTH_AND_A_BIT)
    app = create_app(runtime=runtime)
    async with app.router.lifespan_context(app):
        assert _scheduler_tasks() == []
        await asyncio.sleep(0.3)
    assert (await counts(db, [sub])).renewals[sub] == 0


async def test_the_scheduler_stops_before_the_bus_closes(db: Database, settings: Settings) -> None:
    runtime = _runtime_for(settings, db, scheduler_interval=0.05)
    seen: list[bool] = []

    async def watch(billing: Billing, at: datetime) -> int:
        seen.append(runtime.bus is not None and runtime.bus.running)
        return 0

    app = create_app(runtime=runtime)
    import billgate.app as app_module

    original = app_module.build_scheduler

    def with_watch(rt: Runtime) -> Scheduler:
        scheduler = original(rt)
        scheduler.extra += (Job("watch", watch, watch),)
        return scheduler

    app_module.build_scheduler = with_watch  # type: ignore[assignment]
    try:
        async with app.router.lifespan_context(app):
            await wait_for(lambda: _true_when(len(seen) >= 2), within=60)
    finally:
        app_module.build_scheduler = original  # type: ignore[assignment]
    assert seen and all(seen)  # every tick, the last one included, had a running bus


# Settings ------------------------------------------------------------------------------------


def test_scheduler_and_email_settings() -> None:
    defaults = Settings.from_env({})
    assert (defaults.scheduler, defaults.scheduler_interval) == (True, 1.0)
    assert (defaults.email_from, defaults.email_templates, defaults.smtp_url) == (
        "billing@localhost", "", "")
    custom = Settings.from_env({
        "BILLGATE_SCHEDULER": "false", "BILLGATE_SCHEDULER_INTERVAL": "0.25",
        "BILLGATE_EMAIL_FROM": "Shop <billing@shop.example>", "BILLGATE_EMAIL_TEMPLATES": "/etc/mail",
        "BILLGATE_SMTP_URL": "smtps://u:p@mail.example.com"})
    assert (custom.scheduler, custom.scheduler_interval) == (False, 0.25)
    assert (custom.email_from, custom.email_templates) == ("Shop <billing@shop.example>", "/etc/mail")
    for bad in ("0", "-1", "soon", "nan", "inf"):
        with pytest.raises(ValueError, match="BILLGATE_SCHEDULER_INTERVAL"):
            Settings.from_env({"BILLGATE_SCHEDULER_INTERVAL": bad})
    with pytest.raises(ValueError):
        Settings.from_env({"BILLGATE_SCHEDULER": "sometimes"})


# billgate worker: start-up checks ------------------------------------------------------------


@pytest.fixture
def keep_test_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command would point the root logger at CliRunner's short-lived stderr."""
    monkeypatch.setattr("billgate.ops.logging.configure", lambda **_: None)


def test_the_worker_needs_a_migrated_database(tmp_path: Path, keep_test_logging: None) -> None:
    env = {"BILLGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}",
           "BILLGATE_JSON_LOGS": "false"}
    result = CliRunner(env=env).invoke(main, ["worker"])
    assert result.exit_code == 1
    assert "run `billgate migrate` first" in result.output


@pytest.mark.parametrize(("name", "value", "message"), [
    ("BILLGATE_SMTP_URL", "mail.example.com:25", "smtp:// or smtps://"),
    ("BILLGATE_EMAIL_TEMPLATES", "/no/such/folder", "is not a directory"),
])
def test_the_worker_refuses_bad_email_settings(tmp_path: Path, name: str, value: str, message: str,
                                               keep_test_logging: None) -> None:
    env = {"BILLGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
           "BILLGATE_JSON_LOGS": "false", name: value}
    result = CliRunner(env=env).invoke(main, ["worker"])
    assert result.exit_code == 1
    assert message in result.output


# advanceTestClock beside the in-process scheduler ---------------------------------------------

ADVANCE = """mutation($seconds: Int!) {
  advanceTestClock(input: {seconds: $seconds}) { now userErrors { code message } } }"""


async def test_advance_test_clock_finishes_its_work_while_the_scheduler_runs(
        api, runtime: Runtime, db: Database, example_catalog: None) -> None:
    """The mutation returns once everything due is done, even though the process's own
    scheduler is ticking meanwhile and claims some of that work itself."""
    ids = await subscribe(db, 12)
    scheduler = Scheduler(runtime.billing, runtime.clock.now, interval=0.001,
                          before_tick=runtime.sync_test_clock)
    scheduler.start()
    try:
        for month in range(1, 4):
            body = await api.data(ADVANCE, {"seconds": A_MONTH_AND_A_BIT})
            assert body["advanceTestClock"]["userErrors"] == []
            state = await counts(db, ids)
            assert min(state.renewals.values()) >= month, (month, state.renewals)
    finally:
        await scheduler.stop()
