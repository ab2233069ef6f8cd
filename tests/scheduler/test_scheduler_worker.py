"""``billgate worker`` as real processes against a migrated database: due renewals are found
and done by the worker alone, and two workers never renew (or email) anything twice.

The two-worker test runs on SQLite always and on PostgreSQL when
``BILLGATE_TEST_DATABASE_URL`` is set (CI), each in a database of its own.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from worker_testing import (
    A_MONTH_AND_A_BIT,
    PG_URL,
    Worker,
    advance_stored_clock,
    counts,
    dedicated_database,
    periods_billed,
    subscribe,
    wait_for,
)

from billgate.db.engine import Database

BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.skipif(
        not PG_URL, reason="BILLGATE_TEST_DATABASE_URL is not set (CI sets it)")),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_the_worker_renews_a_due_subscription_by_itself(backend: str, tmp_path: Path) -> None:
    async with dedicated_database(backend, tmp_path) as url:
        db = Database(url)
        worker = None
        try:
            [sub] = await subscribe(db, 1)
            await advance_stored_clock(db, A_MONTH_AND_A_BIT)
            worker = Worker(url, tmp_path, "worker")
            await worker.wait_running()

            async def renewed_and_mailed() -> bool:
                now = await counts(db, [sub])
                return now.renewals[sub] == 1 and now.emails_sent == 1

            await wait_for(renewed_and_mailed, within=120, what="the worker to renew")
            assert await periods_billed(db, sub) == 2  # the first period, and the renewal
            assert (await counts(db, [sub])).paid_invoices[sub] == 1
            assert await worker.stop() == 0
            output = worker.output
            # No BILLGATE_SMTP_URL: the receipt went to the log, in full.
            assert "team-0@example.com" in output and "Receipt for 49.00 USD" in output
            assert "https://billing.example/invoices/" in output
            assert "billgate worker: stopped" in output
            assert "Traceback" not in output
        finally:
            if worker is not None:
                worker.kill()
            await db.dispose()


async def test_two_workers_never_renew_or_email_twice(backend: str, tmp_path: Path) -> None:
    from smtp_testing import SmtpServer  # tests/notifications

    async with dedicated_database(backend, tmp_path) as url:
        db = Database(url)
        workers: list[Worker] = []
        try:
            ids = await subscribe(db, 30)
            with SmtpServer() as smtp:
                workers = [Worker(url, tmp_path, f"worker-{n}", BILLGATE_SMTP_URL=smtp.url,
                                  BILLGATE_SCHEDULER_INTERVAL="0.05") for n in range(2)]
                await asyncio.gather(*(w.wait_running() for w in workers))
                # Both are polling: the whole month falls due for both at the same moment.
                await advance_stored_clock(db, A_MONTH_AND_A_BIT)

                async def all_done() -> bool:
                    now = await counts(db, ids)
                    return min(now.renewals.values()) >= 1 and now.emails_sent == now.emails_total == 30

                await wait_for(all_done, within=120, every=0.25, what="30 renewals and receipts")
                await asyncio.sleep(1.0)  # many more ticks of both: nothing may happen twice
                for worker in workers:
                    assert await worker.stop() == 0, worker.output
                messages = smtp.messages
            final = await counts(db, ids)
            assert final.renewals == {i: 1 for i in ids}
            assert final.paid_invoices == {i: 1 for i in ids}
            assert final.emails_total == final.emails_sent == 30
            assert len(messages) == 30
            assert len({m.message["Message-ID"] for m in messages}) == 30
            assert sorted(r for m in messages for r in m.recipients) == sorted(
                f"team-{n}@example.com" for n in range(30))
            subjects = [str(m.subject) for m in messages]
            assert all(s.startswith("Receipt for 49.00 USD (invoice INV-") for s in subjects), subjects
            # Two workers issued the renewals' invoices: 30 numbers, none shared.
            assert len({s.rsplit(" ", 1)[1] for s in subjects}) == 30
            for worker in workers:
                assert "Traceback" not in worker.output, worker.output
                assert re.search(r"billgate worker: stopped", worker.output)
        finally:
            for worker in workers:
                worker.kill()
            await db.dispose()
