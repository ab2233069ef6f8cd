"""Reservations through a real server: 25 concurrent ``reserveItemQuantity(10)`` against a
balance of 80 hold exactly 8; then holds and ``tryDecreaseItemQuantity`` racing each other
never promise more than the balance, and concurrent commits and releases of the same holds
end each hold once. ``billgate audit`` (reserved = sum of HELD reservations) is clean.

Runs ``billgate serve`` (uvicorn, one worker) on SQLite, and on PostgreSQL when
``BILLGATE_TEST_DATABASE_URL`` is set, each with a database of its own.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
from servers import SERVER_KEY, Server, audit, unique
from test_items_concurrency_http import graphql

pytestmark = pytest.mark.timeout(300)

ITEM = "quantity reserved available version"
ERRORS = "userErrors { code }"
RESERVE = f"""mutation ($input: ReserveItemQuantityInput!) {{
  reserveItemQuantity(input: $input) {{ success reservation {{ id }} item {{ {ITEM} }} {ERRORS} }} }}"""
TRY_DECREASE = f"""mutation ($input: ChangeItemQuantityInput!) {{
  tryDecreaseItemQuantity(input: $input) {{ success item {{ {ITEM} }} {ERRORS} }} }}"""
INCREASE = f"""mutation ($input: ChangeItemQuantityInput!) {{
  increaseItemQuantity(input: $input) {{ item {{ {ITEM} }} {ERRORS} }} }}"""
COMMIT = f"""mutation ($input: CommitReservationInput!) {{
  commitReservation(input: $input) {{ item {{ {ITEM} }} {ERRORS} }} }}"""
RELEASE = f"""mutation ($input: ReleaseReservationInput!) {{
  releaseReservation(input: $input) {{ item {{ {ITEM} }} {ERRORS} }} }}"""
READ = f"""query ($customer: CustomerRef!) {{ customer(customer: $customer) {{
  item(itemId: "credits") {{ {ITEM} }} }} }}"""


async def at_once(calls: list[Any]) -> list[Any]:
    start = asyncio.Event()

    async def one(call: Any) -> Any:
        await start.wait()
        return await call

    tasks = [asyncio.create_task(one(call)) for call in calls]
    await asyncio.sleep(0)
    start.set()
    async with asyncio.timeout(180):
        return await asyncio.gather(*tasks)


async def test_25_concurrent_holds_of_10_on_80_hold_exactly_8(server: tuple[Server, str]) -> None:
    srv, url = server
    customer = {"type": "USER", "customerId": unique("holder")}
    limits = httpx.Limits(max_connections=60, max_keepalive_connections=60)
    async with httpx.AsyncClient(base_url=srv.url, limits=limits, timeout=120,
                                 headers={"Authorization": f"Bearer {SERVER_KEY}"}) as client:
        def call(query: str, **fields: Any) -> Any:
            return graphql(client, query, {"input": fields})

        await call(INCREASE, customer=customer, itemId="credits", amount=80)
        held = [p["reserveItemQuantity"] for p in await at_once(
            [call(RESERVE, customer=customer, itemId="credits", amount=10) for _ in range(25)])]
        assert Counter(p["success"] for p in held) == {True: 8, False: 17}
        assert {e["code"] for p in held if not p["success"] for e in p["userErrors"]} == {
            "INSUFFICIENT_QUANTITY"}
        # every success saw its own hold: reserved 10, 20, ... 80 once each
        assert sorted(p["item"]["reserved"] for p in held if p["success"]) == list(
            range(10, 90, 10))
        item = (await graphql(client, READ, {"customer": customer}))["customer"]["item"]
        assert item == {"quantity": 80, "reserved": 80, "available": 0, "version": 9}
        audit(url)

        # Each hold committed (3 used) and released at once, twice over: one of each wins
        # per hold, the others answer the same or RESERVATION_NOT_FOUND; then consumers and
        # new holds race for what is left.
        ids = [p["reservation"]["id"] for p in held if p["success"]]
        ends = await at_once([call(COMMIT, reservationId=i, amount=3) for i in ids * 2]
                             + [call(RELEASE, reservationId=i) for i in ids * 2])
        assert all(not p[k]["userErrors"] or p[k]["userErrors"][0]["code"]
                   == "RESERVATION_NOT_FOUND" for p in ends for k in p)
        item = (await graphql(client, READ, {"customer": customer}))["customer"]["item"]
        assert item["reserved"] == 0 and 80 - 3 * 8 <= item["quantity"] <= 80
        assert (80 - item["quantity"]) % 3 == 0
        left = item["quantity"]
        raced = await at_once(
            [call(RESERVE, customer=customer, itemId="credits", amount=7) for _ in range(15)]
            + [call(TRY_DECREASE, customer=customer, itemId="credits", amount=7)
               for _ in range(15)])
        won = sum(next(iter(p.values()))["success"] for p in raced)
        assert won == left // 7
        item = (await graphql(client, READ, {"customer": customer}))["customer"]["item"]
        assert 0 <= item["available"] < 7
    audit(url)
