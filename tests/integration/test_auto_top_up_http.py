"""Auto top-up through real servers: 20 concurrent spends that cross the threshold once
buy exactly one top-up (one server on SQLite and on PostgreSQL; two servers, both running
the scheduler, on PostgreSQL), and a server killed between the top-up's charge and its
record (``BILLGATE_TEST_CRASH_AT=charge.charged``, ``os._exit``: nothing after the charge
runs) is finished by a real ``billgate worker`` exactly once. ``billgate audit`` (one
purchase per bought crossing) is clean after each.

The servers run the scheduler in-process (``BILLGATE_SCHEDULER=true``, every 0.2 s), as
``billgate serve`` does by default.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import (
    SERVER_KEY,
    apply_example_catalog,
    audit,
    prepared_database,
    running,
    server_env,
    unique,
    worker_running,
)
from sqlalchemy import func, select, update

from billgate.db.engine import Database
from billgate.db.models import AutoTopUpCrossing, ChargeClaim, Customer, Purchase
from billgate.ops.crash_points import EXIT_CODE

pytestmark = pytest.mark.timeout(300)

SET = """mutation ($input: SetAutoTopUpInput!) { setAutoTopUp(input: $input) {
  autoTopUp { enabled } userErrors { code message } } }"""
SPEND = """mutation ($c: CustomerRef!, $n: BigInt!) { tryDecreaseItemQuantity(input: {
  customer: $c, itemId: "credits", amount: $n}) { success userErrors { code } } }"""
READ = """query ($c: CustomerRef!) { customer(customer: $c) { item(itemId: "credits") {
  quantity autoTopUp { lastTriggeredAt } } } }"""
PACK = 500  # credits in one credit-pack (examples/catalog.yaml)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with prepared_database(request.param, tmp_path) as url:
        await apply_example_catalog(url)
        yield url


def env(url: str, **extra: str) -> dict[str, str]:
    return server_env(url, SCHEDULER="true", SCHEDULER_INTERVAL="0.2", **extra)


async def post(http: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> Any:
    response = await http.post("/graphql", json={"query": query, "variables": variables},
                               headers={"Authorization": f"Bearer {SERVER_KEY}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    return next(iter(body["data"].values()))


async def set_top_up(http: httpx.AsyncClient, customer: dict[str, str]) -> None:
    done = await post(http, SET, {"input": {
        "customer": customer, "itemId": "credits", "threshold": 50, "productId": "credit-pack",
        "priceId": "once"}})
    assert done["userErrors"] == [], done


async def spend_at_once(clients: list[httpx.AsyncClient], customer: dict[str, str]) -> None:
    """20 spends of 5 from the Free plan's 100, released together, spread over ``clients``."""
    start = asyncio.Event()

    async def one(n: int) -> Any:
        await start.wait()
        return await post(clients[n % len(clients)], SPEND, {"c": customer, "n": 5})

    tasks = [asyncio.create_task(one(n)) for n in range(20)]
    await asyncio.sleep(0)
    start.set()
    async with asyncio.timeout(120):
        results = await asyncio.gather(*tasks)
    assert all(r["success"] for r in results), results


async def facts(url: str, user_id: str) -> dict[str, Any]:
    db = Database(url)
    try:
        async with db.read_session() as session:
            pk = await session.scalar(select(Customer.id).where(Customer.customer_id == user_id))
            crossings = Counter(await session.scalars(select(AutoTopUpCrossing.status).where(
                AutoTopUpCrossing.customer_pk == pk)))
            claims = Counter((row[0], row[1]) for row in await session.execute(
                select(ChargeClaim.operation, ChargeClaim.status)
                .where(ChargeClaim.customer_pk == pk)))
            packs = int(await session.scalar(select(func.count()).select_from(Purchase).where(
                Purchase.customer_pk == pk, Purchase.origin == "auto_top_up")) or 0)
        return {"pk": pk, "crossings": crossings, "claims": claims, "packs": packs}
    finally:
        await db.dispose()


async def settled(http: httpx.AsyncClient, customer: dict[str, str],
                  quantity: int) -> dict[str, Any]:
    """The balance once it reads ``quantity`` (the scheduler bought), then a second more
    for a second purchase to show up if there were one."""
    async with asyncio.timeout(90):
        while True:
            if (await post(http, READ, {"c": customer}))["item"]["quantity"] == quantity:
                break
            await asyncio.sleep(0.2)
    await asyncio.sleep(1.5)
    return (await post(http, READ, {"c": customer}))["item"]


async def test_20_concurrent_spends_crossing_once_buy_exactly_one_top_up(
        database: str, tmp_path: Path) -> None:
    user_id = unique("topper")
    customer = {"type": "USER", "customerId": user_id}
    with running({"a": env(database)}, tmp_path / "logs") as servers:
        async with httpx.AsyncClient(base_url=servers["a"].url, timeout=120) as http:
            await set_top_up(http, customer)
            await spend_at_once([http], customer)
            item = await settled(http, customer, 100 - 100 + PACK)
    assert item["quantity"] == PACK and item["autoTopUp"]["lastTriggeredAt"] is not None
    found = await facts(database, user_id)
    assert (found["crossings"], found["packs"]) == (Counter({"PURCHASED": 1}), 1)
    assert found["claims"] == Counter({("auto_top_up", "RECORDED"): 1})
    audit(database)


async def test_two_servers_on_postgresql_buy_one_top_up_per_crossing(
        database: str, tmp_path: Path) -> None:
    if not database.startswith("postgresql"):
        pytest.skip("several servers share one database on PostgreSQL")
    user_id = unique("topper2")
    customer = {"type": "USER", "customerId": user_id}
    with running({"a": env(database), "b": env(database)}, tmp_path / "logs") as servers:
        async with httpx.AsyncClient(base_url=servers["a"].url, timeout=120) as a, \
                httpx.AsyncClient(base_url=servers["b"].url, timeout=120) as b:
            await set_top_up(a, customer)
            await spend_at_once([a, b], customer)
            item = await settled(b, customer, PACK)
            # and again: spent to at or below 50 once more, from both servers
            await spend_at_once([a, b], customer)  # 500 -> 400: no crossing
            for _ in range(7):
                await post(a if _ % 2 else b, SPEND, {"c": customer, "n": 50})  # 400 -> 50
            item = await settled(a, customer, 50 + PACK)
    assert item["quantity"] == 50 + PACK
    found = await facts(database, user_id)
    assert (found["crossings"], found["packs"]) == (Counter({"PURCHASED": 2}), 2)
    audit(database)


async def test_a_server_killed_between_charge_and_record_is_recovered_once(
        database: str, tmp_path: Path) -> None:
    user_id = unique("crashed")
    customer = {"type": "USER", "customerId": user_id}
    doomed = env(database, TEST_CRASH_AT="charge.charged")
    with running({"doomed": doomed}, tmp_path / "logs") as servers:
        server = servers["doomed"]
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            await set_top_up(http, customer)
            # The consumer's answer never waits for the charge: it comes back, then the
            # scheduler charges and the process dies before recording.
            assert (await post(http, SPEND, {"c": customer, "n": 60}))["success"]
        assert await asyncio.to_thread(server.process.wait, 60) == EXIT_CODE, server.log_tail()
    left = await facts(database, user_id)
    assert (left["crossings"], left["packs"]) == (Counter({"CHARGING": 1}), 0)
    assert left["claims"] == Counter({("auto_top_up", "PENDING"): 1})

    db = Database(database)
    try:
        async with db.session() as session, session.begin():  # the lease's five minutes
            await session.execute(update(ChargeClaim).where(ChargeClaim.customer_pk == left["pk"])
                                  .values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))
    finally:
        await db.dispose()
    with worker_running(server_env(database), tmp_path / "worker.log"):
        async with asyncio.timeout(120):
            while True:
                claims = (await facts(database, user_id))["claims"]
                if claims == Counter({("auto_top_up", "RECORDED"): 1}):
                    break
                await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)  # a second run of the worker finds nothing more to do
    done = await facts(database, user_id)
    assert (done["crossings"], done["packs"]) == (Counter({"PURCHASED": 1}), 1)
    with running({"a": env(database)}, tmp_path / "logs2") as servers:
        async with httpx.AsyncClient(base_url=servers["a"].url, timeout=60) as http:
            assert (await post(http, READ, {"c": customer}))["item"]["quantity"] == 40 + PACK
    audit(database)
