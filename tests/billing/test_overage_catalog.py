"""``overage`` in the catalog file (issue 27 item 4): parsed into minor units per currency,
checked against the product's prices and the catalog's items, and exported back as the
file wrote it; a product without it keeps its stored form."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from billgate.billing import catalog
from billgate.billing.catalog_spec import parse_catalog, parse_product
from billgate.db.engine import Database
from billgate.errors import CatalogError

ITEMS = [{"itemId": "credits", "displayName": "Credits", "customerType": "USER"},
         {"itemId": "seats", "displayName": "Seats", "customerType": "TEAM"}]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
OVERAGE = {"itemId": "credits", "limit": 500, "unitAmounts": {"USD": "0.01", "JPY": "2"}}


def metered(**overrides: Any) -> dict[str, Any]:
    return {"productId": "metered", "displayName": "Metered", "customerType": "USER",
            "prices": [{"priceId": "monthly", "amounts": {"USD": "9.99", "JPY": "1500"},
                        "interval": {"unit": "MONTH", "count": 1}}],
            "overage": [copy.deepcopy(OVERAGE)], **overrides}


def file_with(*products: dict[str, Any]) -> dict[str, Any]:
    return {"items": copy.deepcopy(ITEMS), "products": list(products)}


def test_overage_is_parsed_into_minor_units() -> None:
    [product] = parse_catalog(file_with(metered())).products
    assert product.overage == [{"itemId": "credits", "limit": 500,
                                "unitAmounts": {"USD": 1, "JPY": 2}}]
    assert product.as_document()["overage"] == product.overage


def test_a_product_without_overage_keeps_its_stored_form() -> None:
    spec = parse_product(metered(overage=None))
    assert spec.overage == [] and "overage" not in spec.as_document()


@pytest.mark.parametrize(("change", "path"), [
    ({"limit": 0}, "overage[0].limit"),
    ({"limit": -5}, "overage[0].limit"),
    ({"limit": True}, "overage[0].limit"),
    ({"unitAmounts": {"USD": "0.01"}}, "overage[0].unitAmounts"),
    ({"unitAmounts": {"USD": "0.01", "JPY": "2", "EUR": "0.01"}}, "overage[0].unitAmounts.EUR"),
    ({"unitAmounts": {"USD": "0.00", "JPY": "2"}}, "overage[0].unitAmounts.USD"),
    ({"unitAmounts": {"USD": "0.001", "JPY": "2"}}, "overage[0].unitAmounts.USD"),
    ({"itemId": ""}, "overage[0].itemId"),
    ({"extra": 1}, "overage[0]"),
])
def test_bad_terms_are_refused_naming_the_field(change: dict[str, Any], path: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_product(metered(overage=[{**OVERAGE, **change}]))
    assert f"product 'metered': {path}" in str(caught.value)


def test_an_item_listed_twice_is_refused() -> None:
    with pytest.raises(CatalogError, match=r"overage\[1\].itemId: 'credits' is listed twice"):
        parse_product(metered(overage=[OVERAGE, OVERAGE]))


def test_overage_needs_a_recurring_price() -> None:
    once = [{"priceId": "once", "amounts": {"USD": "9.99", "JPY": "1500"}}]
    with pytest.raises(CatalogError, match="needs a recurring price"):
        parse_product(metered(prices=once))


@pytest.mark.parametrize(("item_id", "problem"), [("nope", "does not exist"),
                                                  ("seats", "is for TEAM customers")])
def test_the_item_must_exist_for_the_products_customers(item_id: str, problem: str) -> None:
    with pytest.raises(CatalogError, match=problem):
        parse_catalog(file_with(metered(overage=[{**OVERAGE, "itemId": item_id}])))


async def test_the_file_round_trips_through_apply_and_export(db: Database) -> None:
    async with db.session() as session, session.begin():
        await catalog.apply_catalog(session, parse_catalog(file_with(metered())), now=T0)
    async with db.read_session() as session:
        exported = await catalog.export_catalog(session)
    [product] = [p for p in exported["products"] if p["productId"] == "metered"]
    assert product["overage"] == [OVERAGE]
    again = parse_catalog(exported)
    async with db.session() as session, session.begin():
        report = await catalog.apply_catalog(session, again, now=T0)
    assert not report.changed, report.changes
