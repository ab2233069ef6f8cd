"""A customer exists from its first reference, whatever the call, with its
include-by-default products (issue: a new user's first consumption ignored the Free plan);
and a grant that cannot fit fails alone, never the reads of the customer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.usefixtures("example_catalog")

USER = {"type": "USER", "customerId": "first-timer"}
TRY_DECREASE = """mutation ($c: CustomerRef!, $n: BigInt!) { tryDecreaseItemQuantity(input: {
  customer: $c, itemId: "credits", amount: $n}) { success item { quantity } userErrors { code } } }"""
INCREASE = """mutation ($c: CustomerRef!, $n: BigInt!) { increaseItemQuantity(input: {
  customer: $c, itemId: "credits", amount: $n}) { item { quantity } userErrors { code message } } }"""
CUSTOMER = """query ($c: CustomerRef!) { customer(customer: $c) {
  item(itemId: "credits") { quantity changes(first: 10) { edges { node { version delta reason } } } }
  products(first: 10) { edges { node { productId } } } } }"""
CUSTOMERS = """{ customers(first: 100) { edges { node { customerId
  products(first: 10) { edges { node { productId } } } } } } }"""
CHECKOUT = """mutation ($c: CustomerRef!) { createCheckoutUrl(input: {customer: $c, productId: "pro",
  priceId: "pro-monthly", returnUrl: "https://app.example.com/done"}) { url userErrors { code } } }"""
UPSERT = """mutation ($input: UpsertProductInput!) { upsertProduct(input: $input) {
  product { productId } userErrors { code message } } }"""


def products(customer: dict[str, Any]) -> list[str]:
    return [e["node"]["productId"] for e in customer["products"]["edges"]]


async def test_a_new_users_first_consumption_spends_the_free_plan(api: Any) -> None:
    spent = (await api.data(TRY_DECREASE, {"c": USER, "n": 5}))["tryDecreaseItemQuantity"]
    assert spent == {"success": True, "item": {"quantity": 95}, "userErrors": []}
    customer = (await api.data(CUSTOMER, {"c": USER}))["customer"]
    assert products(customer) == ["free"]
    # The Free plan's grant comes first in the ledger, then the consumption.
    changes = [e["node"] for e in customer["item"]["changes"]["edges"]]
    assert changes == [{"version": 2, "delta": -5, "reason": "consume"},
                       {"version": 1, "delta": 100, "reason": "purchase"}]


async def test_a_refused_first_consumption_still_creates_the_customer(api: Any) -> None:
    refused = (await api.data(TRY_DECREASE, {"c": USER, "n": 500}))["tryDecreaseItemQuantity"]
    assert refused["success"] is False and refused["userErrors"][0]["code"] == "INSUFFICIENT_QUANTITY"
    assert refused["item"]["quantity"] == 100
    customer = (await api.data(CUSTOMER, {"c": USER}))["customer"]
    assert products(customer) == ["free"] and customer["item"]["quantity"] == 100


async def test_a_grant_that_cannot_fit_fails_alone(api: Any) -> None:
    # Free's 100 credits come first, so the maximum no longer fits: refused, clearly.
    too_much = (await api.data(INCREASE, {"c": USER, "n": 2**31 - 1}))["increaseItemQuantity"]
    assert too_much["item"] is None and too_much["userErrors"][0]["code"] == "INVALID_INPUT"
    filled = (await api.data(INCREASE, {"c": USER, "n": 2**31 - 1 - 100}))["increaseItemQuantity"]
    assert filled["item"]["quantity"] == 2**31 - 1
    # A new include-by-default product granting credits cannot fit either: the customer is
    # still read (without it), listed, and can still open a checkout.
    added = await api.data(UPSERT, {"input": {"productId": "welcome", "product": {
        "displayName": "Welcome bonus", "customerType": "USER", "includedByDefault": True,
        "includedItems": [{"itemId": "credits", "quantity": 10, "expires": "NEVER"}]}}})
    assert added["upsertProduct"]["userErrors"] == []
    customer = (await api.data(CUSTOMER, {"c": USER}))["customer"]
    assert products(customer) == ["free"] and customer["item"]["quantity"] == 2**31 - 1
    listed = (await api.data(CUSTOMERS))["customers"]["edges"]
    assert [products(e["node"]) for e in listed] == [["free"]]
    checkout = (await api.data(CHECKOUT, {"c": USER}))["createCheckoutUrl"]
    assert checkout["userErrors"] == [] and checkout["url"]
    # Another customer gets the new product.
    other = (await api.data(CUSTOMER, {"c": {"type": "USER", "customerId": "other"}}))["customer"]
    assert sorted(products(other)) == ["free", "welcome"] and other["item"]["quantity"] == 110


async def test_a_catalog_change_reaches_existing_customers_on_their_next_read(
        api: Any, runtime: Any) -> None:
    """The one cache of the hot path: a customer's ``included_version``. Any product write
    (``upsertProduct``, or a ``catalog apply`` that changed something) gives the catalog a new
    version, stored in the database, so every replica sees it on its next read."""
    from billgate.billing.catalog import apply_catalog
    from billgate.billing.catalog_spec import parse_catalog
    from billgate.cli import load_catalog_file

    first = (await api.data(CUSTOMER, {"c": USER}))["customer"]
    assert products(first) == ["free"]
    added = await api.data(UPSERT, {"input": {"productId": "welcome", "product": {
        "displayName": "Welcome bonus", "customerType": "USER", "includedByDefault": True,
        "includedItems": [{"itemId": "credits", "quantity": 10, "expires": "NEVER"}]}}})
    assert added["upsertProduct"]["userErrors"] == []
    again = (await api.data(CUSTOMER, {"c": USER}))["customer"]
    assert sorted(products(again)) == ["free", "welcome"] and again["item"]["quantity"] == 110
    # The catalog file has no "welcome": applying it with prune archives it (a change, a new
    # version);
    # what the customer owns stays, and nothing is granted twice.
    async with runtime.db.session() as session, session.begin():
        report = await apply_catalog(session, parse_catalog(load_catalog_file(
        Path(__file__).parents[2] / "examples" / "catalog.yaml")),
                                     now=runtime.clock.now(), prune=True)
    assert report.changed
    after = (await api.data(CUSTOMER, {"c": USER}))["customer"]
    assert sorted(products(after)) == ["free", "welcome"] and after["item"]["quantity"] == 110


@pytest.mark.parametrize("direct", [True, False], ids=["direct path", "normal path"])
async def test_a_consumption_spends_an_included_product_added_after_the_balance(
        api: Any, runtime: Any, monkeypatch: Any, direct: bool) -> None:
    """Whatever the call (issue 23, item 4): a tryDecrease on a balance that exists gives
    the customer an include-by-default product added to the catalog since, as a read would,
    before it consumes. Before the fix it answered INSUFFICIENT_QUANTITY here (100 < 105)."""
    first = (await api.data(CUSTOMER, {"c": USER}))["customer"]
    assert first["item"]["quantity"] == 100
    added = await api.data(UPSERT, {"input": {"productId": "welcome", "product": {
        "displayName": "Welcome bonus", "customerType": "USER", "includedByDefault": True,
        "includedItems": [{"itemId": "credits", "quantity": 10, "expires": "NEVER"}]}}})
    assert added["upsertProduct"]["userErrors"] == []
    if not direct:
        monkeypatch.setattr(runtime.db, "direct", None)
    spent = (await api.data(TRY_DECREASE, {"c": USER, "n": 105}))["tryDecreaseItemQuantity"]
    assert spent == {"success": True, "item": {"quantity": 5}, "userErrors": []}
    customer = (await api.data(CUSTOMER, {"c": USER}))["customer"]
    assert sorted(products(customer)) == ["free", "welcome"]
    changes = [e["node"] for e in customer["item"]["changes"]["edges"]]
    assert changes == [{"version": 3, "delta": -105, "reason": "consume"},
                       {"version": 2, "delta": 10, "reason": "purchase"},
                       {"version": 1, "delta": 100, "reason": "purchase"}]


BALANCE_ONLY = """query ($c: CustomerRef!, $i: String!) { customer(customer: $c) {
  item(itemId: $i) { quantity } } }"""


async def test_a_balance_read_alone_is_the_customers_first_reference_too(api: Any) -> None:
    """A query that selects only ``item`` under ``customer`` makes the customer's check in
    the read's own statement (one round trip on the hot path); the rules stay: the first
    such read creates the customer with the Free plan, an unknown item still creates it,
    and a product included by default later is in the next read."""
    read = (await api.data(BALANCE_ONLY, {"c": USER, "i": "credits"}))["customer"]["item"]
    assert read["quantity"] == 100
    stranger = {"type": "USER", "customerId": "asks-for-nothing-real"}
    errors = (await api(BALANCE_ONLY, {"c": stranger, "i": "no-such-item"}))["errors"]
    assert errors[0]["extensions"]["code"] == "ITEM_NOT_FOUND"
    listed = (await api.data(CUSTOMERS))["customers"]["edges"]
    assert {e["node"]["customerId"]: products(e["node"]) for e in listed} == {
        "first-timer": ["free"], "asks-for-nothing-real": ["free"]}
    added = await api.data(UPSERT, {"input": {"productId": "welcome", "product": {
        "displayName": "Welcome bonus", "customerType": "USER", "includedByDefault": True,
        "includedItems": [{"itemId": "credits", "quantity": 10, "expires": "NEVER"}]}}})
    assert added["upsertProduct"]["userErrors"] == []
    again = (await api.data(BALANCE_ONLY, {"c": USER, "i": "credits"}))["customer"]["item"]
    assert again["quantity"] == 110


ACCESS_ONLY = """query ($c: CustomerRef!, $p: String) { customer(customer: $c) {
  hasAccess(productId: $p) } }"""


async def test_an_access_check_alone_is_the_customers_first_reference_too(api: Any) -> None:
    """``hasAccess`` alone under ``customer`` checks the customer in its own statement: a
    new customer owns Free at once, has no subscription, and a product included by default
    later is owned on the next check."""
    assert (await api.data(ACCESS_ONLY, {"c": USER, "p": "free"}))["customer"]["hasAccess"]
    assert not (await api.data(ACCESS_ONLY, {"c": USER, "p": None}))["customer"]["hasAccess"]
    assert not (await api.data(ACCESS_ONLY, {"c": USER, "p": "welcome"}))["customer"]["hasAccess"]
    added = await api.data(UPSERT, {"input": {"productId": "welcome", "product": {
        "displayName": "Welcome bonus", "customerType": "USER", "includedByDefault": True,
        "includedItems": [{"itemId": "credits", "quantity": 10, "expires": "NEVER"}]}}})
    assert added["upsertProduct"]["userErrors"] == []
    assert (await api.data(ACCESS_ONLY, {"c": USER, "p": "welcome"}))["customer"]["hasAccess"]
