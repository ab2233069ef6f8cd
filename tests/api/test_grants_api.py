"""grantProduct through GraphQL: server callers give catalog, server-only and inline
products without checkout, under the same ownership rules; clients never may."""

from __future__ import annotations

from typing import Any

import pytest
from purchases_testing import (
    OTHER_USER,
    TEAM,
    USER,
    balance,
    block_new_purchases,
    buy,
    codes,
    create_checkout,
    footprint,
    grant,
    has_access,
    invoices,
    owned,
    subscriptions,
    transactions,
)

pytestmark = [
    pytest.mark.usefixtures("example_catalog"),
    pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
]

OWNED_PAGE = """
query ($customer: CustomerRef!, $first: Int, $after: String) {
  customer(customer: $customer) {
    products(first: $first, after: $after) {
      edges { cursor node { productId displayName quantity } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

CREDITS_PACK = {
    "displayName": "Support goodwill", "customerType": "USER",
    "includedItems": [{"itemId": "credits", "quantity": 250, "expires": "NEVER"}],
}


def inline(**fields: Any) -> dict[str, Any]:
    return {**CREDITS_PACK, **fields}


class TestGrantCatalogProducts:
    async def test_a_one_time_product(self, api) -> None:
        payload = await grant(api, "credit-pack", quantity=3)

        assert payload["userErrors"] == [] and payload["subscription"] is None
        product = payload["ownedProduct"]
        assert (product["productId"], product["type"], product["quantity"]) == (
            "credit-pack", "ONE_TIME", 3)
        assert await balance(api) == 100 + 1500

    async def test_the_payload_sums_a_stackable_product(self, api) -> None:
        await grant(api, "credit-pack", quantity=2)
        payload = await grant(api, "credit-pack")
        assert payload["ownedProduct"]["quantity"] == 3

    async def test_a_subscription(self, api) -> None:
        payload = await grant(api, "pro", priceId="pro-yearly")

        assert payload["userErrors"] == []
        subscription = payload["subscription"]
        assert (subscription["status"], subscription["productId"], subscription["priceId"]) == (
            "ACTIVE", "pro", "pro-yearly")
        assert payload["ownedProduct"]["subscription"]["id"] == subscription["id"]
        assert [p["productId"] for p in payload["ownedProduct"]["switchOptions"]] == [
            "enterprise"]
        assert set(await owned(api)) == {"pro"}, "free steps aside"
        assert await balance(api) == 1000

    async def test_a_granted_plan_replaces_the_live_one(self, api) -> None:
        await grant(api, "enterprise")
        await grant(api, "pro", priceId="pro-monthly")

        statuses = {s["productId"]: s["status"] for s in await subscriptions(api)}
        assert statuses == {"enterprise": "CANCELED", "pro": "ACTIVE"}
        assert await balance(api) == 1000

    async def test_a_team_plan_and_its_add_on(self, api) -> None:
        await grant(api, "team", customer=TEAM)
        payload = await grant(api, "extra-seats", customer=TEAM, quantity=2)
        assert payload["ownedProduct"]["quantity"] == 2
        assert await balance(api, "seats", TEAM) == 15

    async def test_a_free_grant_is_recorded_as_such(self, api, runtime) -> None:
        await grant(api, "pro", priceId="pro-monthly", currency="EUR")

        [transaction] = await transactions(runtime.db)
        assert (transaction.kind, transaction.amount, transaction.currency) == (
            "grant", 0, "EUR")
        assert transaction.product["productId"] == "pro"
        assert await invoices(runtime.db) == []

    async def test_grants_are_not_purchases_blocking_leaves_them_working(self, api) -> None:
        await block_new_purchases(api)
        assert (await grant(api, "credit-pack"))["userErrors"] == []
        assert codes(await create_checkout(api, "credit-pack")) == ["NEW_PURCHASES_BLOCKED"]


class TestGrantRules:
    """The ownership rules of a purchase apply; a refused grant writes nothing."""

    async def refused(self, api: Any, runtime: Any, product_id: str | None,
                      **fields: Any) -> list[dict[str, Any]]:
        await owned(api, fields.get("customer", USER))
        before = await footprint(runtime.db)
        payload = await grant(api, product_id, **fields)
        assert payload["ownedProduct"] is None and payload["subscription"] is None
        assert await footprint(runtime.db) == before
        return payload["userErrors"]

    async def test_unknown_product(self, api, runtime) -> None:
        errors = await self.refused(api, runtime, "platinum")
        assert [(e["code"], e["field"]) for e in errors] == [("PRODUCT_NOT_FOUND", ["productId"])]

    async def test_a_price_id_is_required_when_there_are_several(self, api, runtime) -> None:
        errors = await self.refused(api, runtime, "pro")
        assert [e["code"] for e in errors] == ["PRICE_NOT_FOUND"]

    async def test_unknown_price(self, api, runtime) -> None:
        errors = await self.refused(api, runtime, "credit-pack", priceId="twice")
        assert [e["code"] for e in errors] == ["PRICE_NOT_FOUND"]

    async def test_an_unsupported_currency(self, api, runtime) -> None:
        errors = await self.refused(api, runtime, "credit-pack", currency="CAD")
        assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", ["currency"])]

    async def test_customer_type_mismatch(self, api, runtime) -> None:
        errors = await self.refused(api, runtime, "team")
        assert [e["code"] for e in errors] == ["CUSTOMER_TYPE_MISMATCH"]

    async def test_above_the_prices_quantity_max(self, api, runtime) -> None:
        errors = await self.refused(api, runtime, "enterprise", quantity=2)
        assert [e["code"] for e in errors] == ["INVALID_INPUT"]

    async def test_already_owned(self, api, runtime) -> None:
        await grant(api, "enterprise")
        errors = await self.refused(api, runtime, "enterprise")
        assert [e["code"] for e in errors] == ["PRODUCT_ALREADY_OWNED"]

    async def test_already_bought_through_checkout(self, api, runtime) -> None:
        await buy(api, runtime, "enterprise")
        errors = await self.refused(api, runtime, "enterprise")
        assert [e["code"] for e in errors] == ["PRODUCT_ALREADY_OWNED"]

    async def test_add_on_base_not_owned(self, api, runtime) -> None:
        errors = await self.refused(api, runtime, "extra-seats", customer=TEAM)
        assert [e["code"] for e in errors] == ["ADD_ON_BASE_NOT_OWNED"]

    async def test_a_one_time_plan_in_the_line_is_replaced(self, api, runtime) -> None:
        await grant(api, product=inline(displayName="Lifetime", productLineId="user-plans"))
        payload = await grant(api, "pro", priceId="pro-monthly")
        assert payload["userErrors"] == [] and payload["ownedProduct"]["productId"] == "pro"
        assert [p["productId"] for p in (await owned(api)).values()] == ["pro"], \
            "when they upgrade, the old plan is replaced"

    async def test_an_include_by_default_product(self, api, runtime) -> None:
        errors = await self.refused(api, runtime, "free")
        assert [e["code"] for e in errors] == ["INVALID_INPUT"]


class TestServerOnlyProducts:
    async def test_granted_by_the_server(self, api) -> None:
        payload = await grant(api, "internal-grant", quantity=2)
        assert payload["ownedProduct"]["quantity"] == 2
        assert await balance(api) == 100 + 2000
        assert await has_access(api, "internal-grant") is True

    async def test_invisible_to_clients(self, api) -> None:
        payload = await create_checkout(api.as_user("u1"), "internal-grant")
        assert payload["userErrors"] == [{"code": "PRODUCT_NOT_FOUND", "field": ["productId"],
                                          "message": "product 'internal-grant' does not exist"}]


class TestInlineProducts:
    async def test_granted_and_owned_without_a_product_id(self, api) -> None:
        payload = await grant(api, product=inline())

        assert payload["userErrors"] == []
        assert payload["ownedProduct"]["productId"] is None
        assert payload["ownedProduct"]["displayName"] == "Support goodwill"
        products = await owned(api)
        assert set(products) == {"free", None}
        assert products[None]["type"] == "ONE_TIME"
        assert await balance(api) == 350

    async def test_each_inline_grant_stands_alone(self, api) -> None:
        await grant(api, product=inline())
        await grant(api, product=inline(displayName="Apology"))

        data = await api.data(OWNED_PAGE, {"customer": USER, "first": 100})
        nodes = [e["node"] for e in data["customer"]["products"]["edges"]]
        assert [(n["productId"], n["displayName"]) for n in nodes] == [
            ("free", "Free"), (None, "Support goodwill"), (None, "Apology")]
        assert await balance(api) == 600

    async def test_owned_products_page_through_inline_entries(self, api) -> None:
        await grant(api, "credit-pack")
        for name in ("A", "B", "C"):
            await grant(api, product=inline(displayName=name))

        seen, after = [], None
        while True:
            data = await api.data(OWNED_PAGE, {"customer": USER, "first": 2, "after": after})
            page = data["customer"]["products"]
            seen += [e["node"]["displayName"] for e in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert seen == ["500 credits", "Free", "A", "B", "C"]

    async def test_an_inline_subscription(self, api) -> None:
        payload = await grant(api, product=inline(prices=[{
            "priceId": "custom", "amounts": [{"currency": "GBP", "amount": "12.50"}],
            "interval": {"unit": "WEEK", "count": 2}}]))

        subscription = payload["subscription"]
        assert subscription["productId"] is None and subscription["status"] == "ACTIVE"
        assert subscription["product"]["displayName"] == "Support goodwill"
        assert subscription["price"]["amounts"] == [{"currency": "GBP", "minorUnits": 1250}]

    async def test_an_invalid_inline_product(self, api, runtime) -> None:
        before = await footprint(runtime.db)
        payload = await grant(api, product=inline(includedItems=[
            {"itemId": "gems", "quantity": 1, "expires": "NEVER"}]))
        assert codes(payload) == ["INVALID_INPUT"]
        assert "gems" in payload["userErrors"][0]["message"]
        assert await footprint(runtime.db) == before

    async def test_an_inline_product_of_another_customer_type(self, api) -> None:
        payload = await grant(api, product=inline(), customer=TEAM)
        assert codes(payload) == ["CUSTOMER_TYPE_MISMATCH"]

    async def test_a_server_checkout_for_an_inline_product(self, api, runtime) -> None:
        await buy(api, runtime, None, product=inline(prices=[
            {"priceId": "once", "amounts": [{"currency": "USD", "amount": "2.00"}]}]))

        assert (await owned(api))[None]["displayName"] == "Support goodwill"
        [transaction] = await transactions(runtime.db)
        assert (transaction.amount, transaction.product["productId"]) == (200, None)

    async def test_clients_cannot_use_inline_products(self, api, runtime) -> None:
        before = await footprint(runtime.db)
        payload = await create_checkout(api.as_user("u1"), None, product=inline(prices=[
            {"priceId": "once", "amounts": [{"currency": "USD", "amount": "0.01"}]}]))
        assert payload["url"] is None
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("FORBIDDEN", ["product"])]
        assert await footprint(runtime.db) == before


class TestGrantPermissions:
    @pytest.mark.parametrize(("teams", "customer"), [
        (None, USER),
        (None, OTHER_USER),
        ({"t1": "admin"}, TEAM),
        ({"t1": "member"}, TEAM),
    ], ids=["own-user", "other-user", "team-admin", "team-member"])
    async def test_clients_are_forbidden(self, api, runtime, teams: dict[str, str] | None,
                                         customer: dict[str, str]) -> None:
        product = "team" if customer["type"] == "TEAM" else "credit-pack"
        before = await footprint(runtime.db)
        payload = await grant(api.as_user("u1", teams=teams), product, customer=customer)
        assert payload["ownedProduct"] is None
        assert codes(payload) == ["FORBIDDEN"]
        assert await footprint(runtime.db) == before

    async def test_anonymous_is_forbidden(self, api, runtime) -> None:
        payload = await grant(api.as_(None), "credit-pack")
        assert codes(payload) == ["FORBIDDEN"]
        assert (await footprint(runtime.db))["counts"]["purchases"] == 0

    async def test_a_client_with_an_inline_product_is_forbidden(self, api, runtime) -> None:
        payload = await grant(api.as_user("u1"), product=inline())
        assert codes(payload) == ["FORBIDDEN"]
        assert (await footprint(runtime.db))["counts"]["purchases"] == 0
