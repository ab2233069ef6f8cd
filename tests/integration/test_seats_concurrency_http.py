"""Seats clicked many times at once on two real ``billgate serve`` processes sharing one
database (SQLite and PostgreSQL): the same "5 seats" from 20 clicks changes the seats once
and charges once; a storm of different quantities leaves the subscription at the quantity
of one of them with its items, charges and credit consistent (``billgate audit`` clean).

Half of each burst is sent with the team admin's token, half with the server key,
alternating between the two servers.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import (
    SERVER_KEY,
    Server,
    apply_example_catalog,
    audit,
    client_token,
    prepared_database,
    running,
    server_env,
    unique,
)
from sqlalchemy import func, select

from billgate.db.engine import Database
from billgate.db.models import ChargeClaim, Customer, ItemBalance, Purchase, Transaction

pytestmark = pytest.mark.timeout(300)
COPIES = 20
RETURN_URL = "http://localhost:3000/done"
UPDATE = """mutation ($input: UpdateSubscriptionQuantityInput!) {
  updateSubscriptionQuantity(input: $input) { subscription { quantity } userErrors { code message } } }"""
CHECKOUT = """mutation ($input: CreateCheckoutUrlInput!) {
  createCheckoutUrl(input: $input) { url userErrors { code message } } }"""
SUBS = """query ($c: CustomerRef!) { customer(customer: $c) {
  subscriptions(first: 5) { edges { node { id quantity } } } } }"""


@pytest.fixture(params=["sqlite", "postgresql"])
async def served(request: pytest.FixtureRequest,
                 tmp_path: Path) -> AsyncIterator[tuple[list[Server], str]]:
    async with prepared_database(request.param, tmp_path) as url:
        await apply_example_catalog(url)
        env = server_env(url, ALLOWED_RETURN_URLS="localhost")
        with running({"a": env, "b": env}, tmp_path / "logs") as servers:
            yield [servers["a"], servers["b"]], url


class Team:
    def __init__(self, servers: list[Server]) -> None:
        self.team_id = unique("team")
        self.customer = {"type": "TEAM", "customerId": self.team_id}
        self.token = client_token(unique("admin"), teams={self.team_id: "admin"})
        limits = httpx.Limits(max_connections=COPIES * 2, max_keepalive_connections=COPIES * 2)
        self.http = [httpx.AsyncClient(base_url=s.url, limits=limits, timeout=120) for s in servers]

    async def post(self, query: str, variables: dict[str, Any], *, index: int = 0) -> dict[str, Any]:
        key = SERVER_KEY if index % 2 == 0 else self.token
        response = await self.http[index // 2 % 2].post(
            "/graphql", json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return next(iter(body["data"].values()))

    async def buy(self, quantity: int) -> str:
        made = await self.post(CHECKOUT, {"input": {"customer": self.customer, "productId": "team",
                                                    "quantity": quantity, "returnUrl": RETURN_URL}})
        assert made["userErrors"] == [], made
        done = await self.http[0].post(f"/checkout/{made['url'].rsplit('/', 1)[1]}/complete")
        assert done.status_code == 303, done.text
        subs = await self.post(SUBS, {"c": self.customer})
        return str(subs["subscriptions"]["edges"][0]["node"]["id"])

    async def burst(self, sub_id: str, quantities: list[int]) -> list[dict[str, Any]]:
        start = asyncio.Event()

        async def one(index: int, quantity: int) -> dict[str, Any]:
            await start.wait()
            return await self.post(UPDATE, {"input": {"customer": self.customer,
                                                      "subscriptionId": sub_id,
                                                      "quantity": quantity}}, index=index)

        tasks = [asyncio.create_task(one(i, q)) for i, q in enumerate(quantities)]
        await asyncio.sleep(0)
        start.set()
        async with asyncio.timeout(240):
            return await asyncio.gather(*tasks)

    async def close(self) -> None:
        for client in self.http:
            await client.aclose()


@pytest.fixture
async def team(served: tuple[list[Server], str]) -> AsyncIterator[Team]:
    one = Team(served[0])
    yield one
    await one.close()


async def state(url: str, team_id: str) -> dict[str, Any]:
    db = Database(url)
    try:
        async with db.read_session() as session:
            pk = await session.scalar(select(Customer.id).where(Customer.customer_id == team_id))
            quantity = await session.scalar(select(Purchase.quantity).where(
                Purchase.customer_pk == pk, Purchase.kind == "SUBSCRIPTION"))
            return {
                "quantity": quantity,
                "transactions": Counter(await session.scalars(
                    select(Transaction.kind).where(Transaction.customer_pk == pk))),
                "claims": Counter(await session.scalars(
                    select(ChargeClaim.status).where(ChargeClaim.customer_pk == pk))),
                "seats": int(await session.scalar(select(func.sum(ItemBalance.quantity)).where(
                    ItemBalance.customer_pk == pk)) or 0),
            }
    finally:
        await db.dispose()


def no_unexpected(payloads: list[dict[str, Any]]) -> Counter[str]:
    for payload in payloads:
        for error in payload["userErrors"]:
            assert "Unexpected" not in error["message"], payload
    return Counter(p["userErrors"][0]["code"] for p in payloads if p["userErrors"])


async def test_the_same_seats_clicked_20_times_change_and_charge_once(
        served: tuple[list[Server], str], team: Team) -> None:
    _, url = served
    sub_id = await team.buy(2)
    payloads = await team.burst(sub_id, [5] * COPIES)
    codes = no_unexpected(payloads)
    assert len([p for p in payloads if not p["userErrors"]]) == 1, codes
    assert codes == Counter({"INVALID_INPUT": COPIES - 1}), codes
    now = await state(url, team.team_id)
    assert now["quantity"] == 5 and now["seats"] == 25
    assert now["transactions"] == Counter({"purchase": 1, "proration": 1})
    assert now["claims"] == Counter({"RECORDED": 1})
    audit(url)


async def test_a_storm_of_different_quantities_ends_consistent(
        served: tuple[list[Server], str], team: Team) -> None:
    _, url = served
    sub_id = await team.buy(3)
    quantities = [1 + (i * 7) % 6 for i in range(COPIES)]  # 1..6, mixed ups and downs
    payloads = await team.burst(sub_id, quantities)
    no_unexpected(payloads)
    applied = [q for q, p in zip(quantities, payloads, strict=True) if not p["userErrors"]]
    assert applied, "at least one change went through"
    now = await state(url, team.team_id)
    assert now["quantity"] in applied
    assert now["transactions"]["proration"] == len(applied)
    assert now["seats"] == 5 * now["quantity"], "nothing of the seats was used"
    audit(url)
