"""The hot path on the driver itself (``db/direct.py``) next to a writer holding locks: a
read answers at once, a change waits for the lock without stopping the server (on SQLite
the direct statement never waits: it hands the change to the normal path), and every
answer is what the rules give."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from billgate.db.direct import Busy, PostgresDirect, SQLiteDirect, Statement, or_none
from billgate.db.engine import Database
from billgate.db.models import Customer, ItemBalance, ItemChange

pytestmark = pytest.mark.usefixtures("example_catalog")

CUSTOMER = {"type": "USER", "customerId": "direct-user"}
BALANCE = 'query ($c: CustomerRef!) { customer(customer: $c) { item(itemId: "credits") { quantity } } }'
TRY_DECREASE = """mutation ($c: CustomerRef!, $n: BigInt!) { tryDecreaseItemQuantity(input: {
  customer: $c, itemId: "credits", amount: $n}) { success item { quantity } userErrors { code } } }"""


async def quantity(api: Any) -> int:
    return (await api.data(BALANCE, {"c": CUSTOMER}))["customer"]["item"]["quantity"]


async def consume(api: Any, n: int) -> dict[str, Any]:
    return (await api.data(TRY_DECREASE, {"c": CUSTOMER, "n": n}))["tryDecreaseItemQuantity"]


async def hold_balance_lock(db: Database, held: asyncio.Event, release: asyncio.Event) -> None:
    """A writer's transaction holding the balance row (and, on SQLite, the write lock)."""
    async with db.session() as session, session.begin():
        pk = select(Customer.id).where(Customer.customer_id == CUSTOMER["customerId"])
        await session.execute(update(ItemBalance).where(ItemBalance.customer_pk == pk.scalar_subquery())
                              .values(version=ItemBalance.version))
        held.set()
        await release.wait()


async def test_a_change_waits_for_a_held_lock_without_stopping_the_server(api: Any,
                                                                          db: Database) -> None:
    assert await quantity(api) == 100  # the Free plan's credits
    held, release = asyncio.Event(), asyncio.Event()
    writer = asyncio.create_task(hold_balance_lock(db, held, release))
    await held.wait()
    change = asyncio.create_task(consume(api, 1))
    ticks = 0
    for _ in range(10):  # the loop keeps turning while the change waits
        await asyncio.sleep(0.02)
        ticks += 1
    assert not change.done()
    assert await quantity(api) == 100  # a read answers during the lock: the committed balance
    release.set()
    await writer
    result = await asyncio.wait_for(change, 30)
    assert ticks == 10
    assert result == {"success": True, "item": {"quantity": 99}, "userErrors": []}
    assert await quantity(api) == 99


async def test_concurrent_changes_never_oversell(api: Any, db: Database) -> None:
    """40 consumers of 3 against 100 credits, at once: 33 succeed, 1 is left, and the
    ledger has one row per success (plus the Free plan's grant)."""
    assert await quantity(api) == 100
    results = await asyncio.gather(*(consume(api, 3) for _ in range(40)))
    assert sum(r["success"] for r in results) == 33
    assert {r["userErrors"][0]["code"] for r in results if not r["success"]} == {
        "INSUFFICIENT_QUANTITY"}
    assert await quantity(api) == 1
    async with db.read_session() as session:
        rows = (await session.scalars(select(ItemChange.version).order_by(ItemChange.version))).all()
    assert list(rows) == list(range(1, 35))


def test_statement_parameters_for_postgresql() -> None:
    statement = Statement("SELECT :a, :b::text, :a, x FROM t WHERE y = :b_2")
    assert statement.postgres == "SELECT $1, $2::text, $1, x FROM t WHERE y = $3"
    assert statement.names == ["a", "b", "b_2"]


SELECT_ONE = Statement("SELECT 1")


async def test_sqlite_hands_a_long_held_write_lock_to_the_normal_path(tmp_path: Path) -> None:
    """A write lock held elsewhere: reads answer at once (WAL), a write tries again a few
    times while the loop keeps turning, then hands over (Busy: the caller takes the
    normal path, which queues on aiosqlite's thread)."""
    path = str(tmp_path / "locked.db")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t (x INTEGER)")
    writer.execute("BEGIN IMMEDIATE")
    direct = SQLiteDirect(path)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    try:
        async with direct.read() as conn:  # a WAL reader does not wait for the writer
            assert await conn.fetchone(SELECT_ONE) == (1,)
        with pytest.raises(Busy):
            async with direct.write():
                pass
        assert ticks >= len(SQLiteDirect.BUSY_WAITS)  # the loop turned while it waited
        writer.execute("COMMIT")
        async with direct.write() as conn:
            assert await conn.fetchone(SELECT_ONE) == (1,)
    finally:
        ticker.cancel()
        await direct.aclose()
        writer.close()


async def test_sqlite_takes_a_write_lock_released_while_it_waits(tmp_path: Path) -> None:
    """A normal-path writer that commits during the short waits leaves the write to the
    direct path (handing every busy write over at once made a loaded server take the slow
    way until the load dropped)."""
    path = str(tmp_path / "briefly.db")
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t (x INTEGER)")
    writer.execute("BEGIN IMMEDIATE")
    asyncio.get_running_loop().call_later(0.001, writer.execute, "COMMIT")
    direct = SQLiteDirect(path)
    try:
        async with direct.write() as conn:
            await conn.fetchall(Statement("INSERT INTO t (x) VALUES (1) RETURNING x"))
        assert writer.execute("SELECT x FROM t").fetchall() == [(1,)]
    finally:
        await direct.aclose()
        writer.close()


async def test_an_unreachable_postgresql_is_declined_and_not_retried_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A database that cannot be reached sends requests the normal way (which reports the
    outage) without a connection attempt per request."""
    import asyncpg

    attempts = []
    real = asyncpg.connect

    def counting(*args: Any, **kwargs: Any) -> Any:
        attempts.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(asyncpg, "connect", counting)
    direct = PostgresDirect("postgresql+asyncpg://postgres@127.0.0.1:1/none", connect_timeout=1)

    async def read() -> Any:
        async with direct.read() as conn:
            return await conn.fetchone(SELECT_ONE)

    assert await or_none(read()) is None
    assert await or_none(read()) is None
    assert attempts == [1]
