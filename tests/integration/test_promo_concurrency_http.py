"""A promo code's last redemption under a burst across servers: 10 customers complete their
checkouts carrying a ``maxRedemptions: 1`` code at the same moment, through two real
``billgate serve`` processes on one database (PostgreSQL; SQLite too). Exactly one payment
is discounted and recorded; the nine others are refused with the reason on the page
(``promo code ... is used up``), charged nothing, and can still buy without the code.
``billgate audit`` is clean afterwards (redemptions <= max, discount lines = applied
redemptions)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from servers import SERVER_KEY, audit, prepared_database, running, server_env
from sqlalchemy import select

from billgate.db.engine import Database
from billgate.db.models import PromoCode, Transaction

AUTH = {"Authorization": f"Bearer {SERVER_KEY}"}
CUSTOMERS = 10
RETURN_URL = "https://app.example.com/done"
GOOD_CARD = "4242424242424242"
PACK = """mutation { upsertProduct(input: {productId: "pack", product: {displayName: "Pack",
  customerType: USER, prices: [{priceId: "once", amounts: [{currency: USD, amount: "10.00"}]}]}})
  { userErrors { code message } } }"""
CODE = """mutation { createPromoCode(input: {code: "last", percentOff: "50", duration: ONCE,
  maxRedemptions: 1}) { promoCode { code } userErrors { code message } } }"""
CHECKOUT = """mutation ($c: CustomerRef!) { createCheckoutUrl(input: {customer: $c,
  productId: "pack", returnUrl: "https://app.example.com/done", promoCode: "Last"})
  { url userErrors { code message } } }"""


async def _post(client: httpx.AsyncClient, url: str, query: str,
                variables: dict[str, object] | None = None) -> dict[str, object]:
    response = await client.post(url, json={"query": query, "variables": variables or {}},
                                 headers=AUTH)
    body = response.json()
    assert not body.get("errors"), body
    return dict(body["data"])


@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
async def test_ten_checkouts_on_two_servers_redeem_the_last_code_once(
        kind: str, tmp_path: Path) -> None:
    async with prepared_database(kind, tmp_path) as url:
        env = server_env(url, ALLOWED_RETURN_URLS="https://app.example.com/")
        with running({"a": env, "b": env}, tmp_path / "logs") as servers:
            a, b = servers["a"], servers["b"]
            async with httpx.AsyncClient(timeout=60) as client:
                assert (await _post(client, a.graphql_url, PACK))["upsertProduct"] == {
                    "userErrors": []}
                made = await _post(client, a.graphql_url, CODE)
                assert made["createPromoCode"] == {"promoCode": {"code": "LAST"}, "userErrors": []}
                paths = []
                for n in range(CUSTOMERS):
                    data = await _post(client, a.graphql_url, CHECKOUT,
                                       {"c": {"type": "USER", "customerId": f"buyer-{n}"}})
                    payload = data["createCheckoutUrl"]
                    assert payload["userErrors"] == [], payload  # type: ignore[index]
                    paths.append(str(payload["url"]).split("/", 3)[3])  # type: ignore[index]

                async def complete(n: int) -> httpx.Response:
                    server = (a, b)[n % 2]
                    return await client.post(f"{server.url}/{paths[n]}/complete",
                                             data={"test_card": GOOD_CARD})

                responses = await asyncio.gather(*(complete(n) for n in range(CUSTOMERS)))
                statuses = [r.status_code for r in responses]
                assert statuses.count(303) == 1, statuses
                refused = [r for r in responses if r.status_code != 303]
                assert [r.status_code for r in refused] == [409] * (CUSTOMERS - 1)
                for response in refused:  # told why, on the page
                    assert "promo code LAST is used up" in response.text

                # A refused buyer takes the code off and pays the full price.
                loser = next(n for n, r in enumerate(responses) if r.status_code == 409)
                removed = await client.post(f"{b.url}/{paths[loser]}/promo",
                                            data={"promo_code": ""})
                assert removed.status_code == 303
                paid = await client.post(f"{b.url}/{paths[loser]}/complete",
                                         data={"test_card": GOOD_CARD})
                assert paid.status_code == 303
        db = Database(url)
        try:
            async with db.read_session() as session:
                amounts = sorted((await session.scalars(select(Transaction.amount).where(
                    Transaction.kind == "purchase"))).all())
                code = await session.scalar(select(PromoCode))
        finally:
            await db.dispose()
        assert amounts == [500, 1000], "one discounted payment, and the full-price one"
        assert code is not None and code.times_redeemed == 1
        audit(url)
