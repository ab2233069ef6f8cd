"""The ledger's normal path tries a balance change again when it lost a lock race, like every
other write (``items/service._run`` through ``writes.attempt``).

On PostgreSQL a real deadlock is made here: the ledger locks the balance row and then, with
its ledger INSERT, needs a key-share lock on the customer row (the foreign key), while a
unit of work holds the customer row and asks for the balance row. PostgreSQL breaks the
cycle by aborting the waiter whose deadlock check runs first (the ledger, which waited
first). SQLite serializes writers, so it has no such cycle; the test runs on PostgreSQL only.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from billgate.billing import balances, catalog, items
from billgate.billing.catalog_spec import ItemSpec
from billgate.billing.items import direct, service
from billgate.clock import FrozenClock
from billgate.db.engine import Database
from billgate.types import CustomerRef, CustomerType

pytestmark = pytest.mark.skipif(not os.environ.get("BILLGATE_TEST_DATABASE_URL"),
                                reason="a PostgreSQL deadlock (BILLGATE_TEST_DATABASE_URL)")

USER = CustomerRef(CustomerType.USER, "deadlocked")


@pytest.fixture
async def credits(db: Database) -> AsyncIterator[str]:
    async with db.session() as session, session.begin():
        await catalog.upsert_item(session, ItemSpec("credits", "Credits", CustomerType.USER))
    yield "credits"


@pytest.mark.timeout(60)
async def test_a_balance_change_that_lost_a_deadlock_is_made_once(
        db: Database, clock: FrozenClock, credits: str, monkeypatch: Any) -> None:
    await balances.increase(db, USER, credits, amount=10, clock=clock)
    monkeypatch.setattr(direct, "change", _declined)  # the normal path, where locks are taken
    balance_locked = asyncio.Event()
    original_lock = service.repo.lock

    async def lock_then_pause(session: Any, where: Any) -> Any:
        row = await original_lock(session, where)
        if not balance_locked.is_set():  # the first attempt only
            balance_locked.set()
            await asyncio.sleep(0.3)  # the unit of work takes the customer row meanwhile
        return row

    monkeypatch.setattr(service.repo, "lock", lock_then_pause)
    spend = asyncio.create_task(
        balances.try_decrease(db, USER, credits, amount=3, clock=clock))
    await balance_locked.wait()
    async with db.session() as session, session.begin():
        await session.execute(text(
            "SELECT id FROM customers WHERE customer_id = :c FOR UPDATE"), {"c": USER.customer_id})
        await asyncio.sleep(0.5)  # the ledger now waits for this row (its INSERT's key share)
        await session.execute(text(
            "SELECT b.id FROM item_balances b JOIN customers c ON c.id = b.customer_pk "
            "WHERE c.customer_id = :c FOR UPDATE"), {"c": USER.customer_id})
    result = await spend
    assert result.success and result.balance.quantity == 7
    changes = await items.list_changes(db, USER, credits, limit=10)
    assert [change.delta for change in changes] == [-3, 10]  # one spend recorded, not two


async def _declined(*args: Any, **kwargs: Any) -> None:
    return None
