"""Overage through a real server (issue 27 item 4): 40 concurrent ``tryDecreaseItemQuantity(5)``
against 100 credits on a plan whose overage allows 50 below zero: exactly 30 succeed, the
balance ends at -50 and never passes it; then cancelling the plan bills the 50 (a final
invoice line of 50 units, the balance back to 0). ``billgate audit``
(its ``overage`` check) is clean.

Runs ``billgate serve`` on SQLite, and on PostgreSQL when ``BILLGATE_TEST_DATABASE_URL`` is
set, each with a database of its own.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest
from servers import SERVER_KEY, Server, audit, unique
from test_holds_concurrency_http import at_once
from test_items_concurrency_http import graphql

pytestmark = pytest.mark.timeout(300)

METERED = {
    "displayName": "Metered", "customerType": "USER",
    "prices": [{"priceId": "metered-monthly", "interval": {"unit": "MONTH", "count": 1},
                "amounts": [{"currency": "USD", "amount": "10.00"}]}],
    "includedItems": [{"itemId": "credits", "quantity": 100,
                       "repeat": {"unit": "MONTH", "count": 1}, "expires": "WHEN_REPEATED"}],
    "overage": [{"itemId": "credits", "limit": 50,
                 "unitAmounts": [{"currency": "USD", "amount": "0.02"}]}],
}
ERRORS = "userErrors { code message }"
UPSERT = f"""mutation ($input: UpsertProductInput!) {{ upsertProduct(input: $input) {{ {ERRORS} }} }}"""
GRANT = f"""mutation ($input: GrantProductInput!) {{ grantProduct(input: $input) {{ {ERRORS} }} }}"""
CANCEL = f"""mutation ($input: CancelSubscriptionInput!) {{
  cancelSubscription(input: $input) {{ {ERRORS} }} }}"""
SPEND = f"""mutation ($input: ChangeItemQuantityInput!) {{
  tryDecreaseItemQuantity(input: $input) {{ success item {{ quantity }} {ERRORS} }} }}"""
READ = """query ($customer: CustomerRef!) { customer(customer: $customer) {
  item(itemId: "credits") { quantity }
  invoices(first: 10) { edges { node { status lines { kind quantity amount } } } } } }"""


async def test_concurrent_spends_stop_at_the_limit_and_the_end_bills_them(
        server: tuple[Server, str]) -> None:
    srv, url = server
    customer = {"type": "USER", "customerId": unique("metered")}
    limits = httpx.Limits(max_connections=60, max_keepalive_connections=60)
    async with httpx.AsyncClient(base_url=srv.url, limits=limits, timeout=120,
                                 headers={"Authorization": f"Bearer {SERVER_KEY}"}) as client:
        async def call(query: str, **fields: Any) -> Any:
            return next(iter((await graphql(client, query, {"input": fields})).values()))

        assert (await call(UPSERT, productId="metered", product=METERED))["userErrors"] == []
        assert (await call(GRANT, customer=customer, productId="metered"))["userErrors"] == []
        spent = [next(iter(p.values())) for p in await at_once(
            [graphql(client, SPEND, {"input": {"customer": customer, "itemId": "credits",
                                               "amount": 5}}) for _ in range(40)])]
        assert Counter(p["success"] for p in spent) == {True: 30, False: 10}
        assert {e["code"] for p in spent for e in p["userErrors"]} == {"INSUFFICIENT_QUANTITY"}
        assert min(p["item"]["quantity"] for p in spent if p["success"]) == -50
        audit(url)

        cancel = await call(CANCEL, customer=customer, productId="metered", immediately=True)
        assert cancel["userErrors"] == []
        data = (await graphql(client, READ, {"customer": customer}))["customer"]
        billed = [(line["quantity"], line["amount"]) for edge in data["invoices"]["edges"]
                  for line in edge["node"]["lines"] if line["kind"] == "overage"]
        assert billed == [(50, 100)]
        assert data["item"]["quantity"] == 0, "billed back to 0"
    audit(url)
