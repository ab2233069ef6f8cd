"""A server killed between claiming a charge and recording it, and what the scheduler's
``charge.recover`` job makes of the claim it left (``billing/charges.py``): a renewal is
charged again with its key and recorded (the customer keeps the plan it paid for), a
switch is refunded (its caller was never told it succeeded) and the plan stays as it was.

The kill is real: ``billgate serve`` runs with ``BILLGATE_TEST_CRASH_AT`` (test-only,
``ops/crash_points.py``), which exits the process right after the processor call, before
anything of it is recorded. The claim's lease (five minutes of real time) is then moved
into the past in the database, standing in for the wait, and a real ``billgate worker``
finishes the claim. ``billgate audit`` is clean afterwards.
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
from billgate.db.models import ChargeClaim, Customer, Invoice, Purchase, Transaction
from billgate.ops.crash_points import EXIT_CODE

pytestmark = pytest.mark.timeout(300)

RETURN_URL = "http://localhost:3000/done"
CHECKOUT = """mutation ($input: CreateCheckoutUrlInput!) {
  createCheckoutUrl(input: $input) { url userErrors { code message } } }"""
SWITCH = """mutation ($input: SwitchSubscriptionInput!) {
  switchSubscription(input: $input) { subscription { productId } userErrors { code } } }"""
ADVANCE = """mutation ($s: Int!) { advanceTestClock(input: {seconds: $s}) { now } }"""
MONTH = 31 * 24 * 3600


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with prepared_database(request.param, tmp_path) as url:
        await apply_example_catalog(url)
        yield url


async def _post(http: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> Any:
    response = await http.post("/graphql", json={"query": query, "variables": variables},
                               headers={"Authorization": f"Bearer {SERVER_KEY}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    return next(iter(body["data"].values()))


async def _buy_pro(http: httpx.AsyncClient, customer: dict[str, str]) -> None:
    """Pro, monthly, through a test-mode hosted checkout."""
    made = await _post(http, CHECKOUT, {"input": {"customer": customer, "productId": "pro",
                                                  "priceId": "pro-monthly",
                                                  "returnUrl": RETURN_URL}})
    assert made["userErrors"] == [], made
    done = await http.post(f"/checkout/{made['url'].rsplit('/', 1)[1]}/complete")
    assert done.status_code == 303, done.text


async def _killed_by(url: str, tmp_path: Path, point: str, call: Any) -> None:
    """Run ``call(http, customer)`` against a server that dies at ``point``; the request
    gets no answer and the process exits with the crash code."""
    env = server_env(url, ALLOWED_RETURN_URLS="localhost", TEST_CRASH_AT=point)
    with running({"doomed": env}, tmp_path / "logs") as servers:
        server = servers["doomed"]
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            with pytest.raises(httpx.TransportError):
                await call(http)
        assert server.process.wait(30) == EXIT_CODE, server.log_tail()


async def _claims(db: Database, pk: int) -> Counter[tuple[str, str]]:
    async with db.read_session() as session:
        rows = (await session.execute(select(ChargeClaim.operation, ChargeClaim.status)
                                      .where(ChargeClaim.customer_pk == pk))).all()
    return Counter((row[0], row[1]) for row in rows)


async def _recovered_by_worker(url: str, tmp_path: Path, pk: int) -> Counter[tuple[str, str]]:
    """End the abandoned claim's lease (the five minutes it waits), then let a real worker
    run until no claim of the customer is open."""
    db = Database(url)
    try:
        async with db.session() as session, session.begin():
            moved = await session.execute(
                update(ChargeClaim).where(ChargeClaim.customer_pk == pk,
                                          ChargeClaim.status == "PENDING")
                .values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))
            assert moved.rowcount == 1  # type: ignore[attr-defined]
        env = server_env(url)
        with worker_running(env, tmp_path / "worker.log"):
            async with asyncio.timeout(120):
                while True:
                    claims = await _claims(db, pk)
                    if not any(s in ("PENDING", "COMPENSATING") for _, s in claims):
                        return claims
                    await asyncio.sleep(0.2)
    finally:
        await db.dispose()


async def _state(url: str, user_id: str) -> dict[str, Any]:
    db = Database(url)
    try:
        async with db.read_session() as session:
            pk = await session.scalar(select(Customer.id).where(Customer.customer_id == user_id))
            sub = await session.scalar(select(Purchase).where(
                Purchase.customer_pk == pk, Purchase.kind == "SUBSCRIPTION",
                Purchase.ended_at.is_(None)))
            return {
                "pk": pk,
                "transactions": Counter(await session.scalars(
                    select(Transaction.kind).where(Transaction.customer_pk == pk))),
                "paid_invoices": int(await session.scalar(select(func.count()).select_from(
                    Invoice).where(Invoice.customer_pk == pk, Invoice.status == "PAID")) or 0),
                "plan": (sub.product_id, sub.status, sub.periods_billed) if sub else None,
            }
    finally:
        await db.dispose()


async def test_a_renewal_whose_server_died_after_charging_is_recorded(database: str,
                                                                      tmp_path: Path) -> None:
    user_id = unique("renewer")
    customer = {"type": "USER", "customerId": user_id}
    with running({"a": server_env(database, ALLOWED_RETURN_URLS="localhost")},
                 tmp_path / "logs") as servers:
        async with httpx.AsyncClient(base_url=servers["a"].url, timeout=60) as http:
            await _buy_pro(http, customer)
    before = await _state(database, user_id)
    assert before["plan"] == ("pro", "ACTIVE", 1)

    async def renew(http: httpx.AsyncClient) -> None:
        await _post(http, ADVANCE, {"s": MONTH})

    await _killed_by(database, tmp_path, "charge.charged", renew)
    left = await _state(database, user_id)
    assert left["transactions"] == before["transactions"]  # charged, nothing recorded
    assert await _claims_of(database, left["pk"]) == Counter({("renewal", "PENDING"): 1})

    claims = await _recovered_by_worker(database, tmp_path, left["pk"])
    assert claims == Counter({("renewal", "RECORDED"): 1})
    after = await _state(database, user_id)
    assert after["plan"] == ("pro", "ACTIVE", 2)  # the second period is paid and started
    assert after["transactions"]["renewal"] == 1
    assert after["paid_invoices"] == before["paid_invoices"] + 1
    audit(database)


async def test_a_switch_whose_server_died_after_charging_is_refunded(database: str,
                                                                     tmp_path: Path) -> None:
    user_id = unique("switcher")
    customer = {"type": "USER", "customerId": user_id}
    with running({"a": server_env(database, ALLOWED_RETURN_URLS="localhost")},
                 tmp_path / "logs") as servers:
        async with httpx.AsyncClient(base_url=servers["a"].url, timeout=60) as http:
            await _buy_pro(http, customer)
    before = await _state(database, user_id)

    async def upgrade(http: httpx.AsyncClient) -> None:
        await _post(http, SWITCH, {"input": {"customer": customer, "fromProductId": "pro",
                                             "toProductId": "enterprise"}})

    await _killed_by(database, tmp_path, "charge.charged", upgrade)
    left = await _state(database, user_id)
    assert await _claims_of(database, left["pk"]) == Counter({("switch", "PENDING"): 1})

    claims = await _recovered_by_worker(database, tmp_path, left["pk"])
    assert claims == Counter({("switch", "COMPENSATED"): 1})  # charged again, then refunded
    after = await _state(database, user_id)
    assert after["plan"] == before["plan"] == ("pro", "ACTIVE", 1)  # not switched after the fact
    assert after["transactions"] == before["transactions"]
    assert after["paid_invoices"] == before["paid_invoices"]
    audit(database)


async def _claims_of(url: str, pk: int) -> Counter[tuple[str, str]]:
    db = Database(url)
    try:
        return await _claims(db, pk)
    finally:
        await db.dispose()
