"""Balance reads stay flat as the ledger grows: the time to read the balance of a customer
with 1 thousand ledger rows next to one with 1 million, in the same table and run.

The rows are bulk-inserted with SQL (a million GraphQL mutations would take an hour here);
the read goes through ``items.get_balance`` exactly as the API's ``customer.item`` does.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select

from bench.catalog import prepare
from billgate.billing import customers, items
from billgate.clock import SystemClock
from billgate.db.engine import Database
from billgate.db.models import ItemBalance, ItemChange, ItemDefinition
from billgate.types import CustomerRef, CustomerType


async def _fill(db: Database, ref: CustomerRef, rows: int) -> None:
    now = datetime.now(UTC)
    async with db.session() as session, session.begin():
        customer = await customers.get_or_create(session, ref)
        item_pk = await session.scalar(select(ItemDefinition.id).where(ItemDefinition.item_id == "credits"))
        balance_id = (await session.execute(insert(ItemBalance).values(
            customer_pk=customer.id, item_pk=item_pk, quantity=rows, tracked_remaining=0,
            version=rows, updated_at=now).returning(ItemBalance.id))).scalar_one()
    batch = 20_000
    for start in range(0, rows, batch):
        async with db.session() as session, session.begin():
            await session.execute(insert(ItemChange), [
                {"balance_id": balance_id, "customer_pk": customer.id, "version": v + 1, "delta": 1,
                 "quantity_after": v + 1, "reason": "manual", "created_at": now}
                for v in range(start, min(rows, start + batch))])


async def _read_ms(db: Database, ref: CustomerRef, reads: int = 300) -> float:
    clock = SystemClock()
    samples = []
    for _ in range(reads):
        started = time.perf_counter()
        await items.get_balance(db, ref, "credits", clock=clock)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def _run(url: str) -> dict[str, float]:
    db = Database(url)
    try:
        small, large = (CustomerRef(CustomerType.USER, "small"), CustomerRef(CustomerType.USER, "large"))
        await _fill(db, small, 1_000)
        await _fill(db, large, 1_000_000)
        # Interleaved, so machine noise hits both alike.
        small_ms, large_ms = [], []
        for _ in range(5):
            small_ms.append(await _read_ms(db, small, 60))
            large_ms.append(await _read_ms(db, large, 60))
    finally:
        await db.dispose()
    small_med, large_med = statistics.median(small_ms), statistics.median(large_ms)
    return {"small_ms": small_med, "large_ms": large_med, "ratio": large_med / small_med}


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        prepare(url)
        return asyncio.run(_run(url))


if __name__ == "__main__":
    print(run())
