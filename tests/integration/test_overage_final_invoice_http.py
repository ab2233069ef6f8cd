"""A plan's final overage invoice through a real server: the immediate cancel answers without
charging, then the server's scheduler charges the invoice and the process is killed between
the charge and its record (``BILLGATE_TEST_CRASH_AT=charge.charged``, ``os._exit``); a real
``billgate worker`` finishes it exactly once (``charge.recover``): the invoice PAID, one
transaction, ``billgate audit`` clean. SQLite and PostgreSQL."""

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
from sqlalchemy import select, update

from billgate.db.engine import Database
from billgate.db.models import ChargeClaim, Customer, Invoice, Transaction
from billgate.ops.crash_points import EXIT_CODE

pytestmark = pytest.mark.timeout(300)

UPSERT = """mutation ($input: UpsertProductInput!) {
  upsertProduct(input: $input) { userErrors { code message } } }"""
GRANT = """mutation ($input: GrantProductInput!) {
  grantProduct(input: $input) { userErrors { code message } } }"""
SPEND = """mutation ($c: CustomerRef!, $n: BigInt!) { tryDecreaseItemQuantity(input: {
  customer: $c, itemId: "credits", amount: $n}) { success userErrors { code } } }"""
CANCEL = """mutation ($input: CancelSubscriptionInput!) {
  cancelSubscription(input: $input) { subscription { status } userErrors { code message } } }"""
METERED = {
    "displayName": "Metered", "customerType": "USER", "productLineId": "user-plans",
    "prices": [{"priceId": "metered-monthly", "interval": {"unit": "MONTH", "count": 1},
                "amounts": [{"currency": "USD", "amount": "10.00"}]}],
    "includedItems": [{"itemId": "credits", "quantity": 100,
                       "repeat": {"unit": "MONTH", "count": 1}, "expires": "WHEN_REPEATED"}],
    "overage": [{"itemId": "credits", "limit": 50,
                 "unitAmounts": [{"currency": "USD", "amount": "0.02"}]}],
}


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with prepared_database(request.param, tmp_path) as url:
        await apply_example_catalog(url)
        yield url


async def post(http: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> Any:
    response = await http.post("/graphql", json={"query": query, "variables": variables},
                               headers={"Authorization": f"Bearer {SERVER_KEY}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    return next(iter(body["data"].values()))


async def facts(url: str, user_id: str) -> dict[str, Any]:
    db = Database(url)
    try:
        async with db.read_session() as session:
            pk = await session.scalar(select(Customer.id).where(Customer.customer_id == user_id))
            claims = Counter((row[0], row[1]) for row in await session.execute(
                select(ChargeClaim.operation, ChargeClaim.status)
                .where(ChargeClaim.customer_pk == pk)))
            final = [(row[0], row[1]) for row in await session.execute(
                select(Invoice.status, Invoice.amount_total)
                .where(Invoice.customer_pk == pk, Invoice.amount_total > 0))]
            charged = [row[0] for row in await session.execute(
                select(Transaction.amount).where(Transaction.customer_pk == pk))]
        return {"pk": pk, "claims": claims, "invoices": final, "charged": charged}
    finally:
        await db.dispose()


async def test_a_server_killed_while_charging_a_final_invoice_is_recovered_once(
        database: str, tmp_path: Path) -> None:
    user_id = unique("final")
    customer = {"type": "USER", "customerId": user_id}
    doomed = server_env(database, SCHEDULER="true", SCHEDULER_INTERVAL="0.2",
                        TEST_CRASH_AT="charge.charged")
    with running({"doomed": doomed}, tmp_path / "logs") as servers:
        server = servers["doomed"]
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            done = await post(http, UPSERT, {"input": {"productId": "metered",
                                                       "product": METERED}})
            assert done["userErrors"] == [], done
            # A granted plan (nothing charged) still bills its overage.
            done = await post(http, GRANT, {"input": {"customer": customer,
                                                      "productId": "metered",
                                                      "priceId": "metered-monthly"}})
            assert done["userErrors"] == [], done
            assert (await post(http, SPEND, {"c": customer, "n": 112}))["success"]
            # The cancel answers (it never charges); then the scheduler charges and dies.
            done = await post(http, CANCEL, {"input": {"customer": customer,
                                                       "productId": "metered",
                                                       "immediately": True}})
            assert done["userErrors"] == [] and done["subscription"]["status"] == "CANCELED"
        assert await asyncio.to_thread(server.process.wait, 60) == EXIT_CODE, server.log_tail()
    left = await facts(database, user_id)
    assert left["claims"] == Counter({("final_invoice", "PENDING"): 1})
    assert left["invoices"] == [("OPEN", 24)]
    assert [a for a in left["charged"] if a > 0] == [], "the grant charged nothing"

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
                if claims == Counter({("final_invoice", "RECORDED"): 1}):
                    break
                await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)  # a second run of the worker finds nothing more to do
    done = await facts(database, user_id)
    assert done["invoices"] == [("PAID", 24)]
    assert [a for a in done["charged"] if a > 0] == [24]
    audit(database)
