"""The headline guarantee, through a real server: 200 concurrent HTTP
``tryDecreaseItemQuantity(1)`` against a balance of 50 consume exactly 50, never more.

Runs ``billgate serve`` (uvicorn, one worker) on SQLite, and on PostgreSQL when
``BILLGATE_TEST_DATABASE_URL`` is set, each with a database of its own.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
from servers import SERVER_KEY, Server, unique
from sqlalchemy import func, select

from billgate.db.engine import Database
from billgate.db.models import Customer, ItemChange

REQUESTS = 200
BALANCE = 50

ITEM_FIELDS = "quantity version"
TRY_DECREASE = f"""
mutation ($input: ChangeItemQuantityInput!) {{
  tryDecreaseItemQuantity(input: $input) {{
    success item {{ {ITEM_FIELDS} }} userErrors {{ code message field }}
  }}
}}
"""
INCREASE = f"""
mutation ($input: ChangeItemQuantityInput!) {{
  increaseItemQuantity(input: $input) {{ item {{ {ITEM_FIELDS} }} userErrors {{ code }} }}
}}
"""
LEDGER = """
query ($customer: CustomerRef!, $after: String) {
  customer(customer: $customer) {
    item(itemId: "credits") {
      quantity version
      changes(first: 100, after: $after) {
        edges { node { version delta quantityAfter reason } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}
"""


async def graphql(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]


async def ledger(client: httpx.AsyncClient,
                 customer: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    after = None
    while True:
        item = (await graphql(client, LEDGER, {"customer": customer, "after": after}))["customer"]["item"]
        rows += [edge["node"] for edge in item["changes"]["edges"]]
        if not item["changes"]["pageInfo"]["hasNextPage"]:
            return item, rows
        after = item["changes"]["pageInfo"]["endCursor"]


async def sql_consume_rows(url: str, customer_id: str) -> int:
    db = Database(url)
    try:
        async with db.read_session() as session:
            return await session.scalar(
                select(func.count()).select_from(ItemChange)
                .join(Customer, Customer.id == ItemChange.customer_pk)
                .where(Customer.customer_id == customer_id, ItemChange.reason == "consume")) or 0
    finally:
        await db.dispose()


async def test_200_concurrent_try_decreases_against_50(server: tuple[Server, str]) -> None:
    srv, url = server
    customer = {"type": "USER", "customerId": unique("buyer")}
    limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=REQUESTS)
    async with httpx.AsyncClient(base_url=srv.url, limits=limits, timeout=120,
                                 headers={"Authorization": f"Bearer {SERVER_KEY}"}) as client:
        granted = await graphql(client, INCREASE, {"input": {
            "customer": customer, "itemId": "credits", "amount": BALANCE}})
        assert granted["increaseItemQuantity"]["item"] == {"quantity": BALANCE, "version": 1}

        start = asyncio.Event()

        async def one() -> dict[str, Any]:
            await start.wait()
            data = await graphql(client, TRY_DECREASE, {"input": {
                "customer": customer, "itemId": "credits", "amount": 1}})
            return data["tryDecreaseItemQuantity"]

        tasks = [asyncio.create_task(one()) for _ in range(REQUESTS)]
        await asyncio.sleep(0)
        start.set()
        async with asyncio.timeout(180):
            payloads = await asyncio.gather(*tasks)

        successes = [p for p in payloads if p["success"]]
        refusals = [p for p in payloads if not p["success"]]
        assert len(successes) == BALANCE
        assert len(refusals) == REQUESTS - BALANCE
        assert all(p["userErrors"] == [] for p in successes)
        assert Counter(tuple(e["code"] for e in p["userErrors"]) for p in refusals) == {
            ("INSUFFICIENT_QUANTITY",): REQUESTS - BALANCE}
        # every success saw its own balance after the change: 49, 48, ... 0 once each
        assert sorted(p["item"]["quantity"] for p in successes) == list(range(BALANCE))
        assert sorted(p["item"]["version"] for p in successes) == list(range(2, BALANCE + 2))
        assert all(p["item"]["quantity"] >= 0 for p in refusals)

        item, rows = await ledger(client, customer)

    assert (item["quantity"], item["version"]) == (0, BALANCE + 1)
    consumed = [r for r in rows if r["reason"] == "consume"]
    assert len(consumed) == BALANCE and len(rows) == BALANCE + 1
    assert all(r["delta"] == -1 for r in consumed)
    assert [r["version"] for r in rows] == list(range(BALANCE + 1, 0, -1))
    assert [r["quantityAfter"] for r in rows] == list(range(BALANCE + 1))
    assert await sql_consume_rows(url, customer["customerId"]) == BALANCE
