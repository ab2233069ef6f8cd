"""Two real ``billgate worker`` processes on one database deliver each event to each
endpoint once, in order per customer (PostgreSQL when ``BILLGATE_TEST_DATABASE_URL`` is
set, as CI does; SQLite always)."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import emit, endpoint
from receiver import Receiver

sys.path.insert(0, str(Path(__file__).parents[1] / "scheduler"))

from worker_testing import PG_URL, Worker, dedicated_database, wait_for  # noqa: E402

from billgate.db.engine import Database  # noqa: E402

BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.skipif(
        not PG_URL, reason="BILLGATE_TEST_DATABASE_URL is not set (CI sets it)")),
]
EVENTS = 40
CUSTOMERS = 8
WEBHOOK_ENV = {"BILLGATE_WEBHOOK_ALLOW_PRIVATE": "true", "BILLGATE_WEBHOOK_HTTP_HOSTS": "127.0.0.1"}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_two_workers_deliver_each_event_once_in_order(
        backend: str, tmp_path: Path, receiver: Receiver) -> None:
    async with dedicated_database(backend, tmp_path) as url:
        db = Database(url)
        workers: list[Worker] = []
        try:
            now = datetime.now(UTC)
            created = await endpoint(db, receiver.url("/hook"), now)
            receiver.secrets["/hook"] = [created.signing_secret]
            sent: dict[str, list[str]] = {}
            for n in range(EVENTS):
                customer = f"c{n % CUSTOMERS}"
                sent.setdefault(customer, []).append(await emit(db, now, customer))
            workers = [Worker(url, tmp_path, f"worker-{n}", **WEBHOOK_ENV) for n in range(2)]
            for worker in workers:
                await worker.wait_running()

            async def all_arrived() -> bool:
                return len({r.headers["webhook-id"] for r in receiver.at("/hook")}) == EVENTS

            await wait_for(all_arrived, within=120, what="every event to arrive")
            for worker in workers:
                assert await worker.stop() == 0
            got = receiver.at("/hook")
            counts = Counter(r.headers["webhook-id"] for r in got)
            assert set(counts.values()) == {1}, "an event was delivered twice"
            assert all(r.verified_with for r in got)
            for customer, ids in sent.items():
                arrived = [r.headers["webhook-id"] for r in got
                           if r.payload and r.payload["customer"]["customerId"] == customer]
                assert arrived == ids, f"{customer}'s events arrived out of order"
            for worker in workers:
                assert "Traceback" not in worker.output
        finally:
            for worker in workers:
                worker.kill()
            await db.dispose()
