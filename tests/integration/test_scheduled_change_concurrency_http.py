"""Plan changes at the period end clicked many times at once through a real ``billgate
serve`` on SQLite and on PostgreSQL: the same switch clicked 20 times leaves one scheduled
change; switches to different plans, cancels of the change and price migrations racing each
other leave at most one, never a 5xx or "Unexpected error", and ``billgate audit`` clean."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from servers import SERVER_KEY, Server, audit
from sqlalchemy import select
from test_billing_concurrency_http import Caller, caller, outcome, served  # noqa: F401 - fixtures

from billgate.db.engine import Database
from billgate.db.models import Customer, ScheduledChange

pytestmark = pytest.mark.timeout(300)
SWITCH = """mutation ($input: SwitchSubscriptionInput!) {
  switchSubscription(input: $input) { subscription { id } userErrors { code message } } }"""
CANCEL = """mutation ($input: CancelScheduledChangeInput!) {
  cancelScheduledChange(input: $input) { userErrors { code message } } }"""
MIGRATE = """mutation ($input: MigrateSubscriptionsPriceInput!) {
  migrateSubscriptionsPrice(input: $input) { scheduledCount userErrors { code message } } }"""


async def pending(url: str, user_id: str) -> list[str | None]:
    db = Database(url)
    try:
        async with db.read_session() as session:
            rows = await session.scalars(
                select(ScheduledChange.to_price_id)
                .join(Customer, Customer.id == ScheduledChange.customer_pk)
                .where(Customer.customer_id == user_id, ScheduledChange.status == "PENDING"))
            return list(rows)
    finally:
        await db.dispose()


async def migrate(server: Server) -> dict[str, Any]:
    import httpx

    async with httpx.AsyncClient(base_url=server.url, timeout=120) as http:
        response = await http.post("/graphql", headers={"Authorization": f"Bearer {SERVER_KEY}"},
                                   json={"query": MIGRATE, "variables": {"input": {
                                       "productId": "pro", "fromPriceId": "pro-monthly",
                                       "toPriceId": "pro-yearly"}}})
    assert response.status_code == 200, response.text
    return dict(response.json()["data"]["migrateSubscriptionsPrice"])


async def test_the_same_switch_twenty_times_schedules_one(
        caller: Caller, served: tuple[Server, str]) -> None:  # noqa: F811
    await caller.buy("pro", "pro-monthly")
    payloads = await caller.burst(SWITCH, {"fromProductId": "pro", "toProductId": "enterprise",
                                           "when": "PERIOD_END"}, copies=20)
    ok, codes = outcome(payloads)
    assert len(ok) == 20 and not codes, codes
    assert await pending(served[1], caller.user_id) == ["enterprise-monthly"]
    audit(served[1])


async def test_switches_cancels_and_migrations_racing_leave_at_most_one(
        caller: Caller, served: tuple[Server, str]) -> None:  # noqa: F811
    await caller.buy("pro", "pro-monthly")
    sub_id = (await caller.post(SWITCH, {"fromProductId": "pro", "toProductId": "enterprise",
                                         "when": "PERIOD_END"}))["subscription"]["id"]
    start = asyncio.Event()

    async def one(index: int) -> dict[str, Any]:
        await start.wait()
        if index % 3 == 0:
            return await caller.post(CANCEL, {"subscriptionId": sub_id}, as_server=index % 2 == 0)
        if index % 3 == 1:
            return await migrate(caller.server)
        return await caller.post(SWITCH, {"fromProductId": "pro", "toProductId": "enterprise",
                                          "when": "PERIOD_END"}, as_server=index % 2 == 0)

    tasks = [asyncio.create_task(one(i)) for i in range(18)]
    await asyncio.sleep(0)
    start.set()
    async with asyncio.timeout(240):
        payloads = await asyncio.gather(*tasks)
    _, codes = outcome(payloads)
    assert set(codes) <= {"INVALID_INPUT"}, codes
    assert len(await pending(served[1], caller.user_id)) <= 1
    audit(served[1])
