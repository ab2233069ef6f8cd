"""Catalog answers kept in memory and checked against the catalog version on every request
(``graphql/catalog_cache.py``): each test changes the catalog one way and checks that the
next answer shows it, whoever made the change."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from billgate.billing import catalog
from billgate.billing.catalog_spec import parse_catalog, parse_item, parse_product
from billgate.db.engine import Database
from billgate.graphql.catalog_cache import catalog_only
from billgate.ops.metrics import CATALOG_CACHE
from billgate.settings import Settings

pytestmark = [pytest.mark.usefixtures("example_catalog"),
              pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")]

PAGE = """{ products(first: 20) { edges { node { productId displayName
  prices { priceId amounts { currency amount } }
  includedItems { item { itemId displayName } quantity } } } } }"""
ONE = 'query ($id: String!) { product(productId: $id) { productId displayName } }'
LINES = "{ productLines { productLineId products { productId } } }"


def hits() -> float:
    return CATALOG_CACHE.labels("hit")._value.get()


def names(data: dict[str, Any]) -> dict[str, str]:
    return {e["node"]["productId"]: e["node"]["displayName"] for e in data["products"]["edges"]}


async def test_a_repeated_catalog_query_is_answered_from_the_cache(api: Any) -> None:
    first = await api.post(PAGE)
    before = hits()
    second = await api.post(PAGE)
    assert hits() == before + 1
    assert second.status_code == 200
    assert second.content == first.content
    assert second.headers["content-type"] == "application/json"


async def test_an_upsert_shows_in_the_next_answer(api: Any) -> None:
    assert names(await api.data(PAGE))["pro"] == "Pro"
    await api.data(ONE, {"id": "pro"})
    changed = await api.data("""mutation { upsertProduct(input: {productId: "pro", product: {
        displayName: "Pro 2027", customerType: USER, productLineId: "user-plans",
        prices: [{priceId: "monthly", amounts: [{currency: USD, amount: "25.00"}],
                  interval: {unit: MONTH, count: 1}}]}}) { userErrors { message } } }""")
    assert changed["upsertProduct"]["userErrors"] == []
    assert names(await api.data(PAGE))["pro"] == "Pro 2027"
    assert (await api.data(ONE, {"id": "pro"}))["product"]["displayName"] == "Pro 2027"


async def test_an_item_rename_shows_in_product_answers(api: Any, db: Database) -> None:
    """Included items are part of a product's answer, so an item write bumps the version."""
    await api.data(PAGE)
    await catalog.save(db, catalog.upsert_item, parse_item(
        {"itemId": "credits", "displayName": "Tokens", "customerType": "USER"}))
    page = await api.data(PAGE)
    shown = {i["item"]["displayName"] for e in page["products"]["edges"]
             for i in e["node"]["includedItems"] if i["item"]["itemId"] == "credits"}
    assert shown == {"Tokens"}


async def test_a_write_by_another_replica_is_seen(api: Any, database_url: str) -> None:
    """Another process on the same database (its own engines and direct connections)."""
    await api.data(PAGE)
    replica = Database(database_url)
    try:
        await catalog.save(replica, catalog.upsert_product, parse_product(
            {"productId": "pro", "displayName": "Pro (replica)", "customerType": "USER",
             "productLineId": "user-plans"}))
    finally:
        await replica.dispose()
    assert names(await api.data(PAGE))["pro"] == "Pro (replica)"


async def test_customer_tokens_never_get_the_server_answer(api: Any) -> None:
    server = names(await api.data(PAGE))
    client = names(await api.as_user("u1").data(PAGE))
    assert "internal-grant" in server
    assert "internal-grant" not in client
    # And the other way round, with the client's answer kept first.
    assert "internal-grant" not in names(await api.as_user("u2").data(PAGE))
    assert "internal-grant" in names(await api.data(PAGE))


async def test_variables_are_part_of_the_key(api: Any) -> None:
    assert (await api.data(ONE, {"id": "pro"}))["product"]["productId"] == "pro"
    assert (await api.data(ONE, {"id": "free"}))["product"]["productId"] == "free"
    assert (await api.data(ONE, {"id": "pro"}))["product"]["productId"] == "pro"


async def test_answers_with_errors_and_other_queries_are_not_kept(api: Any) -> None:
    before = hits()
    bad = 'query { product(productId: "pro") { productId nope } }'
    for _ in range(2):
        assert (await api(bad))["errors"]
    balance = ('query { customer(customer: {type: USER, customerId: "c1"}) '
               '{ item(itemId: "credits") { quantity } } }')
    for expected in (100, 100):
        assert (await api.data(balance))["customer"]["item"]["quantity"] == expected
    mixed = '{ productLines { productLineId } customers(first: 1) { edges { cursor } } }'
    for _ in range(2):
        await api.data(mixed)
    assert hits() == before


async def test_a_catalog_apply_that_archives_a_product_drops_it(api: Any, db: Database) -> None:
    def line_products(data: dict[str, Any]) -> list[str]:
        return next(line["products"] for line in data["productLines"]
                    if line["productLineId"] == "user-plans")

    assert "enterprise" in [p["productId"] for p in line_products(await api.data(LINES))]
    async with db.session() as session, session.begin():
        exported = await catalog.export_catalog(session)
        products = [p for p in exported["products"] if p["productId"] != "enterprise"]
        await catalog.apply_catalog(session, parse_catalog({**exported, "products": products}),
                                    now=datetime.now(UTC), prune=True)
    assert "enterprise" not in [p["productId"] for p in line_products(await api.data(LINES))]
    assert "enterprise" not in names(await api.data(PAGE))


async def test_the_cache_can_be_switched_off(api: Any, runtime: Any) -> None:
    """``BILLGATE_CATALOG_CACHE=false``: for a catalog edited in SQL by hand."""
    runtime.settings = dataclasses.replace(runtime.settings, catalog_cache=False)
    before = hits()
    for _ in range(2):
        assert "pro" in names(await api.data(PAGE))
    assert hits() == before


def test_the_setting_is_read_from_the_environment() -> None:
    assert Settings.from_env({"BILLGATE_CATALOG_CACHE": "false"}).catalog_cache is False
    assert Settings.from_env({}).catalog_cache is True


@pytest.mark.parametrize(("query", "operation", "kept"), [
    ("{ products(first: 1) { edges { cursor } } }", None, True),
    ("query A { productLines { productLineId } __typename }", None, True),
    ("query A { productLines { productLineId } } query B { me { customerId } }", "A", True),
    ("query A { productLines { productLineId } } query B { me { customerId } }", "B", False),
    ("query A { productLines { productLineId } } query B { me { customerId } }", None, False),
    ("{ __typename }", None, False),
    ("{ ... on Query { products(first: 1) { edges { cursor } } } }", None, False),
    ('{ products(first: 1) @include(if: true) { edges { cursor } } }', None, False),
    ("mutation { upsertProduct { x } }", None, False),
    ("{ products(", None, False),
])
def test_which_documents_are_catalog_only(query: str, operation: str | None, kept: bool) -> None:
    assert catalog_only(query, operation) is kept
