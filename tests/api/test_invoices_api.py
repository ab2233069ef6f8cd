"""``Customer.invoices`` and ``Customer.transactions`` through the GraphQL API: keyset pages
newest first, hosted links, and who may read them (also through ``node(id)``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from billgate.billing.purchases import service
from billgate.graphql.ids import global_id
from billgate.graphql.pagination import encode_cursor

pytestmark = pytest.mark.usefixtures("example_catalog")

USER = {"type": "USER", "customerId": "u1"}
TEAM = {"type": "TEAM", "customerId": "t1"}
RETURN_URL = "https://app.example.com/billing/done"
MONTH = 31 * 24 * 3600
USER_ERRORS = "userErrors { code message field }"

INVOICES = """
query ($customer: CustomerRef!, $first: Int, $after: String) {
  customer(customer: $customer) {
    invoices(first: $first, after: $after) {
      edges { cursor node { id status amountTotal currency createdAt paidAt hostedInvoiceUrl
                            lines { kind description quantity amount periodStart periodEnd } } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""
TRANSACTIONS = """
query ($customer: CustomerRef!, $first: Int, $after: String) {
  customer(customer: $customer) {
    transactions(first: $first, after: $after) {
      edges { node { id kind amount currency quantity productId createdAt testMode refundedAmount } }
      pageInfo { hasNextPage hasPreviousPage }
    }
  }
}
"""
NODE = """
query ($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Invoice { status amountTotal }
    ... on Transaction { kind amount }
  }
}
"""
CREATE_CHECKOUT = f"""
mutation ($input: CreateCheckoutUrlInput!) {{ createCheckoutUrl(input: $input) {{ url {USER_ERRORS} }} }}
"""
GRANT = f"""
mutation ($input: GrantProductInput!) {{ grantProduct(input: $input) {{ {USER_ERRORS} }} }}
"""
SWITCH = f"""
mutation ($input: SwitchSubscriptionInput!) {{ switchSubscription(input: $input) {{ {USER_ERRORS} }} }}
"""
ADVANCE = f"""
mutation ($input: AdvanceTestClockInput!) {{ advanceTestClock(input: $input) {{ now {USER_ERRORS} }} }}
"""


async def buy(api: Any, runtime: Any, product_id: str, *, customer: dict[str, str] = USER,
              **fields: Any) -> None:
    data = await api.data(CREATE_CHECKOUT, {"input": {
        "customer": customer, "productId": product_id, "returnUrl": RETURN_URL, **fields}})
    payload = data["createCheckoutUrl"]
    assert payload["userErrors"] == [], payload
    await service.complete_checkout(runtime.db, payload["url"].rsplit("/", 1)[-1],
                                    rails=runtime.test_rails, clock=runtime.clock,
                                    test_mode=True, bus=runtime.bus)


async def ok(api: Any, document: str, name: str, **input: Any) -> None:
    payload = (await api.data(document, {"input": input}))[name]
    assert payload["userErrors"] == [], payload


async def pro_with_renewals(api: Any, runtime: Any, renewals: int,
                            customer: dict[str, str] = USER) -> None:
    """Pro bought, then renewed ``renewals`` times: ``renewals + 1`` PAID invoices."""
    await buy(api, runtime, "pro", priceId="pro-monthly", customer=customer)
    for _ in range(renewals):
        await ok(api, ADVANCE, "advanceTestClock", seconds=MONTH)


async def page(api: Any, document: str, customer: dict[str, str] = USER, **args: Any) -> Any:
    data = await api.data(document, {"customer": customer, **args})
    return next(iter(data["customer"].values()))


def nodes(connection: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in connection["edges"]]


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors") or []]


class TestInvoices:
    async def test_newest_first_in_keyset_pages(self, api: Any, runtime: Any) -> None:
        await pro_with_renewals(api, runtime, 3)
        everything = nodes(await page(api, INVOICES, first=100))
        assert len(everything) == 4
        assert [i["status"] for i in everything] == ["PAID"] * 4
        created = [i["createdAt"] for i in everything]
        assert created == sorted(created, reverse=True), "newest first"

        first = await page(api, INVOICES, first=3)
        assert nodes(first) == everything[:3]
        assert first["pageInfo"]["hasNextPage"] is True
        assert first["pageInfo"]["hasPreviousPage"] is False
        assert first["pageInfo"]["endCursor"] == first["edges"][-1]["cursor"]
        rest = await page(api, INVOICES, first=3, after=first["pageInfo"]["endCursor"])
        assert nodes(rest) == everything[3:]
        assert (rest["pageInfo"]["hasNextPage"], rest["pageInfo"]["hasPreviousPage"]) == (False, True)

    async def test_a_page_after_the_last_row_is_empty(self, api: Any, runtime: Any) -> None:
        await pro_with_renewals(api, runtime, 0)
        first = await page(api, INVOICES, first=1)
        after = await page(api, INVOICES, first=1, after=first["pageInfo"]["endCursor"])
        assert after["edges"] == [] and after["pageInfo"]["endCursor"] is None

    async def test_an_unknown_customer_has_no_invoices(self, api: Any) -> None:
        empty = await page(api, INVOICES, customer={"type": "USER", "customerId": "nobody"})
        assert empty["edges"] == [] and empty["pageInfo"]["hasNextPage"] is False

    async def test_hosted_urls_are_absolute_unguessable_and_follow_the_public_url(
            self, api: Any, runtime: Any) -> None:
        await pro_with_renewals(api, runtime, 1)
        urls = [i["hostedInvoiceUrl"] for i in nodes(await page(api, INVOICES))]
        prefix = f"{runtime.settings.base_url}/invoices/"
        assert prefix.startswith("http://") and all(url.startswith(prefix) for url in urls)
        codes = [url.removeprefix(prefix) for url in urls]
        assert len(set(codes)) == 2 and all(len(code) >= 32 for code in codes), codes

        runtime.settings = dataclasses.replace(runtime.settings,
                                               public_url="https://billing.example.com/")
        urls = [i["hostedInvoiceUrl"] for i in nodes(await page(api, INVOICES))]
        assert urls == [f"https://billing.example.com/invoices/{code}" for code in codes]

    @pytest.mark.parametrize(("first", "after"), [
        (0, None), (-1, None), (5, "not a cursor"),
        (5, encode_cursor("subscriptions", 10)),  # another list's cursor
        (5, encode_cursor("invoices", "10")), (5, encode_cursor("invoices", True)),
    ])
    async def test_bad_paging_is_invalid_input(self, api: Any, first: int,
                                               after: str | None) -> None:
        body = await api(INVOICES, {"customer": USER, "first": first, "after": after})
        assert error_codes(body) == ["INVALID_INPUT"], body

    async def test_first_is_capped(self, api: Any, runtime: Any) -> None:
        await pro_with_renewals(api, runtime, 0)
        assert len((await page(api, INVOICES, first=1000))["edges"]) == 1

    async def test_whoever_reads_the_customer_reads_its_invoices(
            self, api: Any, runtime: Any) -> None:
        await pro_with_renewals(api, runtime, 0)
        await buy(api, runtime, "team", customer=TEAM)
        [own] = nodes(await page(api.as_user("u1"), INVOICES))
        [team] = nodes(await page(api.as_user("m1", teams={"t1": "member"}), INVOICES, TEAM))
        assert (own["amountTotal"], team["amountTotal"]) == (1900, 4900)

        other = await api.as_user("u2")(INVOICES, {"customer": USER})
        assert error_codes(other) == ["FORBIDDEN"]

        async def node(caller: Any, node_id: str) -> Any:
            return (await caller.data(NODE, {"id": node_id}))["node"]

        assert (await node(api, own["id"]))["__typename"] == "Invoice"
        assert await node(api.as_user("u1"), own["id"]) == {
            "__typename": "Invoice", "id": own["id"], "status": "PAID", "amountTotal": 1900}
        assert await node(api.as_user("u2"), own["id"]) is None
        assert await node(api.as_(None), own["id"]) is None
        assert await node(api.as_user("m1", teams={"t1": "member"}), team["id"]) is not None
        assert await node(api.as_user("m1", teams={"t1": "member"}), own["id"]) is None
        for missing in (global_id("Invoice", "999999"), global_id("Invoice", "x")):
            assert await node(api, missing) is None


class TestTransactions:
    async def test_server_callers_see_every_kind_newest_first(self, api: Any, runtime: Any) -> None:
        await ok(api, GRANT, "grantProduct", customer=USER, productId="credit-pack")
        await buy(api, runtime, "pro", priceId="pro-monthly")
        await ok(api, ADVANCE, "advanceTestClock", seconds=MONTH)
        await ok(api, SWITCH, "switchSubscription", customer=USER, fromProductId="pro",
                 toProductId="enterprise")
        rows = nodes(await page(api, TRANSACTIONS))
        assert [(t["kind"], t["productId"]) for t in rows] == [
            ("proration", "enterprise"), ("renewal", "pro"), ("purchase", "pro"),
            ("grant", "credit-pack")]
        proration, renewal, purchase, grant = rows
        assert proration["amount"] > 0, "an upgrade is charged"
        assert (renewal["amount"], purchase["amount"], grant["amount"]) == (1900, 1900, 0)
        assert {(t["currency"], t["quantity"], t["testMode"], t["refundedAmount"])
                for t in rows} == {("USD", 1, True, 0)}

        first = await page(api, TRANSACTIONS, first=3)
        assert nodes(first) == rows[:3] and first["pageInfo"]["hasNextPage"] is True
        node = (await api.data(NODE, {"id": grant["id"]}))["node"]
        assert node == {"__typename": "Transaction", "id": grant["id"], "kind": "grant", "amount": 0}

    async def test_clients_are_forbidden(self, api: Any, runtime: Any) -> None:
        await buy(api, runtime, "pro", priceId="pro-monthly")
        await buy(api, runtime, "team", customer=TEAM)
        [purchase] = nodes(await page(api, TRANSACTIONS))
        for caller, customer in ((api.as_user("u1"), USER),
                                 (api.as_user("a1", teams={"t1": "admin"}), TEAM)):
            body = await caller(TRANSACTIONS, {"customer": customer})
            assert error_codes(body) == ["FORBIDDEN"], body
            assert body["errors"][0]["path"] == ["customer", "transactions"]
        assert (await api.as_user("u1").data(NODE, {"id": purchase["id"]}))["node"] is None
