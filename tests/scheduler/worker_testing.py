"""Helpers for the scheduler tests: dedicated databases, real ``billgate worker`` processes,
subscriptions made through the purchase service, and bounded waits."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url

from billgate.billing import customers, test_clock
from billgate.billing.catalog import apply_catalog
from billgate.billing.catalog_spec import parse_catalog
from billgate.billing.purchases import service
from billgate.cli import load_catalog_file
from billgate.clock import TestClock
from billgate.db.engine import Database
from billgate.db.migrate import upgrade_async
from billgate.db.models import EmailOutbox, Invoice, Purchase, Transaction
from billgate.types import CustomerRef, CustomerType

PG_URL = os.environ.get("BILLGATE_TEST_DATABASE_URL", "")
EXAMPLE_CATALOG = Path(__file__).parents[2] / "examples" / "catalog.yaml"
# More than any calendar month, less than two: one renewal is due for a fresh subscription.
A_MONTH_AND_A_BIT = 32 * 24 * 3600
# The example catalog's Team plan: 49.00 USD a month. Its seats never expire on a date, so
# the test is about renewals alone.
PLAN = "team"


async def _pg_admin(base_url: str):  # noqa: ANN202 - an asyncpg connection
    import asyncpg

    url = make_url(base_url)
    return await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                 password=url.password, database=url.database)


@contextlib.asynccontextmanager
async def dedicated_database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated database of the test's own with the example catalog: a SQLite file, or a
    new PostgreSQL database beside ``BILLGATE_TEST_DATABASE_URL`` (dropped at the end)."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'worker.db'}"
    else:
        name = f"billgate_sched_{uuid.uuid4().hex[:12]}"
        conn = await _pg_admin(PG_URL)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        await upgrade_async(url)
        db = Database(url)
        try:
            spec = parse_catalog(load_catalog_file(EXAMPLE_CATALOG))
            async with db.session() as session, session.begin():
                await apply_catalog(session, spec, now=datetime.now(UTC))
        finally:
            await db.dispose()
        yield url
    finally:
        if backend != "sqlite":
            conn = await _pg_admin(PG_URL)
            try:
                # Only this test's own database; its workers are gone by now.
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()


async def subscribe(db: Database, count: int, *, prefix: str = "team") -> list[int]:
    """``count`` TEAM customers with an email, each granted the Team plan; their ids."""
    clock = TestClock()
    ids = []
    for n in range(count):
        ref = CustomerRef(CustomerType.TEAM, f"{prefix}-{n}")
        async with db.session() as session, session.begin():
            customer = await customers.get_or_create(session, ref)
            customer.email = f"{prefix}-{n}@example.com"
        purchase = await service.grant_product(db, ref, product_id=PLAN, inline=None, price_id=None,
                                               currency=None, quantity=1, clock=clock)
        ids.append(purchase.id)
    await as_paid(db, ids)
    return ids


async def as_paid(db: Database, purchase_ids: list[int]) -> None:
    """Make granted subscriptions renew as bought ones do: a grant is never charged, and
    these tests count the scheduler's charges and emails (a checkout would add a purchase
    receipt of its own to the outbox)."""
    async with db.session() as session, session.begin():
        await session.execute(update(Purchase).where(Purchase.id.in_(purchase_ids))
                              .values(origin="checkout"))


async def advance_stored_clock(db: Database, seconds: int) -> None:
    """Move the deployment's test clock as ``advanceTestClock`` does, without running
    anything: the scheduler has to find the due work by itself."""
    async with db.session() as session, session.begin():
        await test_clock.advance(session, seconds)


@dataclass
class Counts:
    renewals: dict[int, int]
    paid_invoices: dict[int, int]
    emails_sent: int
    emails_total: int


async def counts(db: Database, ids: list[int]) -> Counts:
    async with db.read_session() as session:
        renewals = dict((await session.execute(
            select(Transaction.purchase_id, func.count()).where(
                Transaction.kind == "renewal", Transaction.purchase_id.in_(ids))
            .group_by(Transaction.purchase_id))).all())
        paid = dict((await session.execute(
            select(Invoice.purchase_id, func.count()).where(
                Invoice.status == "PAID", Invoice.purchase_id.in_(ids))
            .group_by(Invoice.purchase_id))).all())
        sent = await session.scalar(select(func.count()).select_from(EmailOutbox)
                                    .where(EmailOutbox.sent_at.is_not(None)))
        total = await session.scalar(select(func.count()).select_from(EmailOutbox))
    return Counts({i: renewals.get(i, 0) for i in ids}, {i: paid.get(i, 0) for i in ids},
                  int(sent or 0), int(total or 0))


async def periods_billed(db: Database, purchase_id: int) -> int:
    async with db.read_session() as session:
        return int(await session.scalar(select(Purchase.periods_billed)
                                        .where(Purchase.id == purchase_id)) or 0)


async def wait_for(check: Callable[[], Awaitable[bool]], *, within: float, every: float = 0.1,
                   what: str = "the condition") -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(every)


class Worker:
    """A real ``billgate worker`` process; its output goes to a file (never a full pipe)."""

    def __init__(self, database_url: str, log_dir: Path, name: str, **env: str) -> None:
        self.log_path = log_dir / f"{name}.log"
        full_env = {key: value for key, value in os.environ.items()
                    if not key.startswith("BILLGATE_")}
        full_env.update({
            "BILLGATE_DATABASE_URL": database_url,
            "BILLGATE_SECRET_KEYS": "sk_test_worker",
            "BILLGATE_SCHEDULER_INTERVAL": "0.2",
            "BILLGATE_JSON_LOGS": "false",
            "BILLGATE_PUBLIC_URL": "https://billing.example",
            "PYTHONUNBUFFERED": "1",
            **env,
        })
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "billgate.cli", "worker"], env=full_env,
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_running(self, within: float = 120) -> None:
        async def running() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited early:\n{self.output}")
            return "billgate worker: running" in self.output

        await wait_for(running, within=within, what="the worker to start")

    async def stop(self, within: float = 20) -> int:
        """SIGTERM, then a bounded wait; killed if it does not end. Its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, within)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait, 10)
        self._log.close()
        return int(self.process.returncode)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()
