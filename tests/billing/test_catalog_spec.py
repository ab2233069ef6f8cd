"""Catalog validation: every rule, and every message names the entry and the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from billgate.billing.catalog_spec import (
    MAX_INTERVAL_COUNT,
    MAX_ITEM_QUANTITY,
    parse_catalog,
    parse_item,
    parse_product,
    parse_product_line,
)
from billgate.errors import CatalogError

ITEMS = [
    {"itemId": "credits", "displayName": "Credits", "customerType": "USER"},
    {"itemId": "seats", "displayName": "Seats", "customerType": "TEAM"},
]
LINES = [
    {"productLineId": "plans", "displayName": "Plans", "customerType": "USER"},
    {"productLineId": "team-plans", "displayName": "Team plans", "customerType": "TEAM"},
]
MONTHLY = {"unit": "MONTH", "count": 1}


def price(**overrides: Any) -> dict[str, Any]:
    return {"priceId": "monthly", "amounts": {"USD": "9.99"}, "interval": MONTHLY, **overrides}


def product(**overrides: Any) -> dict[str, Any]:
    return {"productId": "pro", "displayName": "Pro", "customerType": "USER", **overrides}


def catalog(*products: dict[str, Any]) -> dict[str, Any]:
    return {
        "items": copy.deepcopy(ITEMS),
        "productLines": copy.deepcopy(LINES),
        "products": list(products),
    }


def product_error(**overrides: Any) -> CatalogError:
    with pytest.raises(CatalogError) as caught:
        parse_product(product(**overrides))
    return caught.value


def catalog_error(document: Any) -> CatalogError:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(document)
    return caught.value


class TestValidProduct:
    def test_a_full_product_is_parsed_into_canonical_shapes(self) -> None:
        spec = parse_product(
            product(
                productLineId="plans",
                prices=[
                    price(
                        amounts={"USD": "19.00", "JPY": "2900", "EUR": "18.5"},
                        freeTrial={"unit": "DAY", "count": 14},
                    ),
                    {
                        "priceId": "lifetime",
                        "amounts": [{"currency": "USD", "amount": "299"}],
                        "serverOnly": True,
                    },
                ],
                includedItems=[
                    {
                        "itemId": "credits",
                        "quantity": 100,
                        "repeat": MONTHLY,
                        "expires": "WHEN_REPEATED",
                    }
                ],
                freeTrial={"unit": "WEEK"},
            )
        )
        assert spec.prices == [
            {
                "priceId": "monthly",
                "amounts": {"USD": 1900, "JPY": 2900, "EUR": 1850},
                "interval": MONTHLY,
                "freeTrial": {"unit": "DAY", "count": 14},
                "serverOnly": False,
            },
            {
                "priceId": "lifetime",
                "amounts": {"USD": 29900},
                "interval": None,
                "freeTrial": None,
                "serverOnly": True,
            },
        ]
        assert spec.included_items == [
            {"itemId": "credits", "quantity": 100, "repeat": MONTHLY, "expires": "WHEN_REPEATED"}
        ]
        assert spec.free_trial == {"unit": "WEEK", "count": 1}
        assert spec.product_line_id == "plans"

    def test_included_item_expiry_defaults_to_never(self) -> None:
        spec = parse_product(product(includedItems=[{"itemId": "credits", "quantity": 5}]))
        assert spec.included_items[0]["expires"] == "NEVER"

    def test_repeated_base_ids_are_kept_once(self) -> None:
        spec = parse_product(product(isAddOnTo=["base", "base"]))
        assert spec.is_add_on_to == ["base"]

    def test_the_example_catalog_is_valid(self) -> None:
        from pathlib import Path

        from billgate.cli import load_catalog_file

        spec = parse_catalog(
            load_catalog_file(Path(__file__).parents[2] / "examples" / "catalog.yaml")
        )
        assert len(spec.items) + len(spec.product_lines) + len(spec.products) == 11


class TestIds:
    @pytest.mark.parametrize("bad", ["", "-pro", "pro plan", "pro/1", "x" * 101, "pro\n", 5, None])
    def test_product_id_must_be_a_plain_identifier(self, bad: Any) -> None:
        error = product_error(productId=bad)
        assert error.message.startswith("product productId ")
        assert "must be 1-100 letters, digits" in error.message
        assert error.field == ["productId"]

    def test_a_product_that_is_not_an_object_is_refused(self) -> None:
        with pytest.raises(CatalogError, match="product productId None must be"):
            parse_product(["pro"])

    @pytest.mark.parametrize("good", ["a", "Pro_2.0-beta", "x" * 100])
    def test_plain_identifiers_are_accepted(self, good: str) -> None:
        assert parse_product(product(productId=good)).product_id == good

    def test_item_id_is_checked(self) -> None:
        with pytest.raises(CatalogError, match="item itemId 'credits!' must be") as caught:
            parse_item({"itemId": "credits!", "displayName": "C", "customerType": "USER"})
        assert caught.value.field == ["itemId"]

    def test_product_line_id_is_checked(self) -> None:
        with pytest.raises(CatalogError, match="product line productLineId '' must be"):
            parse_product_line({"productLineId": "", "displayName": "P", "customerType": "USER"})

    def test_price_id_is_checked(self) -> None:
        error = product_error(prices=[price(priceId="per month")])
        assert error.message == (
            "product 'pro': prices[0].priceId: must be 1-100 letters, digits, '_', '.' or '-'"
        )
        assert error.field == ["prices", "0", "priceId"]


class TestNamedFields:
    @pytest.mark.parametrize("bad", [None, "", "   ", 7])
    def test_display_name_is_required(self, bad: Any) -> None:
        error = product_error(displayName=bad)
        assert (
            error.message
            == "product 'pro': displayName: is required and must be a non-empty string"
        )
        assert error.field == ["displayName"]

    def test_display_name_is_at_most_200_characters(self) -> None:
        assert (
            "displayName: must be at most 200 characters"
            in product_error(displayName="x" * 201).message
        )

    @pytest.mark.parametrize("bad", [None, "user", "ORG", ["USER"]])
    def test_customer_type_must_be_known(self, bad: Any) -> None:
        error = product_error(customerType=bad)
        assert error.message == (
            f"product 'pro': customerType: must be one of USER, TEAM, CUSTOM; got {bad!r}"
        )
        assert error.field == ["customerType"]

    def test_item_and_line_customer_types_are_checked(self) -> None:
        with pytest.raises(CatalogError, match="item 'credits': customerType: must be one of"):
            parse_item({"itemId": "credits", "displayName": "C", "customerType": "ANY"})
        with pytest.raises(CatalogError, match="product line 'plans': displayName: is required"):
            parse_product_line({"productLineId": "plans", "customerType": "USER"})

    @pytest.mark.parametrize("name", ["serverOnly", "stackable", "includedByDefault"])
    def test_flags_must_be_booleans(self, name: str) -> None:
        error = product_error(**{name: "yes"})
        assert error.message == f"product 'pro': {name}: must be true or false, got 'yes'"
        assert error.field == [name]

    def test_product_line_id_must_be_a_string(self) -> None:
        assert "product 'pro': productLineId: must be a product line id" in (
            product_error(productLineId=["plans"]).message
        )

    @pytest.mark.parametrize("bad", ["base", [1], {"base": True}])
    def test_is_add_on_to_must_be_a_list_of_ids(self, bad: Any) -> None:
        error = product_error(isAddOnTo=bad)
        assert error.message == "product 'pro': isAddOnTo: must be a list of product ids"

    @pytest.mark.parametrize("name", ["prices", "includedItems"])
    def test_lists_must_be_lists(self, name: str) -> None:
        assert product_error(**{name: {"a": 1}}).message == f"product 'pro': {name}: must be a list"


class TestUnknownFields:
    def test_unknown_product_field(self) -> None:
        error = product_error(price="9.99", colour="red")
        assert error.message == "product 'pro': unknown field(s) 'colour', 'price'"

    def test_unknown_price_field(self) -> None:
        error = product_error(prices=[price(currency="USD")])
        assert error.message == "product 'pro': prices[0]: unknown field(s) 'currency'"
        assert error.field == ["prices", "0"]

    def test_unknown_included_item_field(self) -> None:
        error = product_error(
            includedItems=[{"itemId": "credits", "quantity": 1, "every": "MONTH"}]
        )
        assert error.message == "product 'pro': includedItems[0]: unknown field(s) 'every'"

    def test_unknown_interval_field(self) -> None:
        error = product_error(prices=[price(interval={"unit": "MONTH", "count": 1, "anchor": 1})])
        assert error.message == "product 'pro': prices[0].interval: unknown field(s) 'anchor'"

    def test_unknown_amount_entry_field(self) -> None:
        error = product_error(
            prices=[price(amounts=[{"currency": "USD", "amount": "1", "tax": 0}])]
        )
        assert error.message == "product 'pro': prices[0].amounts[0]: unknown field(s) 'tax'"

    def test_unknown_item_and_line_fields(self) -> None:
        with pytest.raises(CatalogError, match=r"item 'credits': unknown field\(s\) 'unit'"):
            parse_item(
                {"itemId": "credits", "displayName": "C", "customerType": "USER", "unit": "x"}
            )
        with pytest.raises(CatalogError, match=r"product line 'plans': unknown field\(s\) 'order'"):
            parse_product_line(
                {"productLineId": "plans", "displayName": "P", "customerType": "USER", "order": 1}
            )

    @pytest.mark.parametrize(
        "path, overrides",
        [
            ("prices[0]", {"prices": ["monthly"]}),
            ("includedItems[0]", {"includedItems": ["credits"]}),
            ("prices[0].interval", {"prices": [price(interval="MONTH")]}),
        ],
    )
    def test_entries_must_be_objects(self, path: str, overrides: dict[str, Any]) -> None:
        assert product_error(**overrides).message == f"product 'pro': {path}: must be an object"


class TestAmounts:
    def test_jpy_takes_no_decimals(self) -> None:
        error = product_error(prices=[price(amounts={"JPY": "980.50"})])
        assert error.message == (
            "product 'pro': prices[0].amounts.JPY: JPY amounts take no decimals; got '980.50'"
        )
        assert error.field == ["prices", "0", "amounts", "JPY"]

    def test_two_decimal_currencies_take_at_most_two(self) -> None:
        error = product_error(prices=[price(amounts={"USD": "9.999"})])
        assert "prices[0].amounts.USD: USD amounts take at most 2 decimals" in error.message

    def test_unknown_currency(self) -> None:
        error = product_error(prices=[price(amounts={"USD": "1.00", "BTC": "0.01"})])
        assert error.message == (
            "product 'pro': prices[0].amounts.BTC: unsupported currency; "
            "use one of USD, EUR, GBP, JPY, INR, AUD, CAD"
        )

    def test_unknown_currency_of_another_type_is_a_clear_error(self) -> None:
        error = product_error(prices=[price(amounts=[{"currency": ["USD"], "amount": "1"}])])
        assert "product 'pro': prices[0].amounts" in error.message
        assert "unsupported currency" in error.message

    def test_a_currency_listed_twice(self) -> None:
        error = product_error(
            prices=[
                price(
                    amounts=[{"currency": "USD", "amount": "1"}, {"currency": "USD", "amount": "2"}]
                )
            ]
        )
        assert error.message == (
            "product 'pro': prices[0].amounts.USD: is listed twice; one amount per currency"
        )

    def test_float_amounts_are_refused(self) -> None:
        error = product_error(prices=[price(amounts={"USD": 9.99})])
        assert error.message == (
            "product 'pro': prices[0].amounts.USD: write amounts as strings (\"9.99\"), not numbers"
        )

    def test_whole_number_amounts_are_exact(self) -> None:
        spec = parse_product(product(prices=[price(amounts={"USD": 5, "JPY": 750})]))
        assert spec.prices[0]["amounts"] == {"USD": 500, "JPY": 750}

    @pytest.mark.parametrize("bad", ["-1.00", "1e3", "9,99", "", "abc", ".5", "01.00", True, None])
    def test_amounts_must_be_non_negative_decimals(self, bad: Any) -> None:
        error = product_error(prices=[price(amounts={"EUR": bad})])
        assert error.message.startswith("product 'pro': prices[0].amounts.EUR: ")
        assert "is not a non-negative decimal amount" in error.message

    def test_huge_amounts_are_refused(self) -> None:
        error = product_error(prices=[price(amounts={"USD": "100000000000000.00"})])
        assert (
            "prices[0].amounts.USD: 100000000000000.00 USD is larger than billgate accepts"
            in error.message
        )

    @pytest.mark.parametrize("bad", [None, {}, [], "9.99"])
    def test_a_price_needs_at_least_one_amount(self, bad: Any) -> None:
        error = product_error(prices=[price(amounts=bad)])
        assert (
            error.message
            == "product 'pro': prices[0].amounts: must list at least one currency amount"
        )

    def test_the_failing_price_is_named_by_position(self) -> None:
        error = product_error(prices=[price(), price(priceId="yearly", amounts={"JPY": "1.5"})])
        assert error.message.startswith("product 'pro': prices[1].amounts.JPY:")


class TestIntervals:
    @pytest.mark.parametrize("bad", [None, "month", "QUARTER", ["MONTH"]])
    def test_unit_must_be_known(self, bad: Any) -> None:
        error = product_error(prices=[price(interval={"unit": bad, "count": 1})])
        assert error.message == (
            "product 'pro': prices[0].interval.unit: "
            f"must be one of DAY, WEEK, MONTH, YEAR; got {bad!r}"
        )
        assert error.field == ["prices", "0", "interval", "unit"]

    @pytest.mark.parametrize("bad", [0, -1, MAX_INTERVAL_COUNT + 1, 1.5, "1", True])
    def test_count_must_be_a_whole_number_in_range(self, bad: Any) -> None:
        error = product_error(freeTrial={"unit": "DAY", "count": bad}, prices=[price()])
        assert error.message == (
            f"product 'pro': freeTrial.count: must be a whole number from 1 to {MAX_INTERVAL_COUNT}"
        )

    def test_count_defaults_to_one(self) -> None:
        assert parse_product(product(prices=[price(interval={"unit": "YEAR"})])).prices[0][
            "interval"
        ] == {"unit": "YEAR", "count": 1}

    def test_repeat_interval_is_checked(self) -> None:
        error = product_error(
            includedItems=[{"itemId": "credits", "quantity": 1, "repeat": {"unit": "HOUR"}}]
        )
        assert error.message.startswith(
            "product 'pro': includedItems[0].repeat.unit: must be one of"
        )


class TestFreeTrials:
    def test_a_price_trial_needs_a_recurring_price(self) -> None:
        error = product_error(prices=[price(interval=None, freeTrial={"unit": "DAY", "count": 7})])
        assert error.message == (
            "product 'pro': prices[0].freeTrial: "
            "a free trial needs a recurring price (set interval)"
        )

    def test_a_product_trial_needs_a_recurring_price(self) -> None:
        error = product_error(freeTrial={"unit": "DAY", "count": 7}, prices=[price(interval=None)])
        assert (
            error.message
            == "product 'pro': freeTrial: a free trial needs at least one recurring price"
        )
        assert error.field == ["freeTrial"]

    def test_a_product_trial_without_any_price_is_refused(self) -> None:
        assert "freeTrial: a free trial needs" in product_error(freeTrial={"unit": "DAY"}).message


class TestPrices:
    def test_duplicate_price_id(self) -> None:
        error = product_error(prices=[price(), price(amounts={"EUR": "9.00"})])
        assert error.message == "product 'pro': prices[1].priceId: 'monthly' is used twice"
        assert error.field == ["prices", "1", "priceId"]

    def test_server_only_must_be_a_boolean(self) -> None:
        error = product_error(prices=[price(serverOnly="no")])
        assert error.message == "product 'pro': prices[0].serverOnly: must be true or false"


class TestIncludedItems:
    def test_item_id_is_required(self) -> None:
        error = product_error(includedItems=[{"quantity": 1}])
        assert error.message == "product 'pro': includedItems[0].itemId: is required"

    @pytest.mark.parametrize("bad", [None, 0, -5, 1.5, "10", True, MAX_ITEM_QUANTITY + 1])
    def test_quantity_must_be_a_positive_whole_number(self, bad: Any) -> None:
        error = product_error(includedItems=[{"itemId": "credits", "quantity": bad}])
        assert error.message == (
            "product 'pro': includedItems[0].quantity: "
            f"must be a whole number from 1 to {MAX_ITEM_QUANTITY}"
        )

    @pytest.mark.parametrize("bad", ["SOMETIMES", "never", ["NEVER"], 1])
    def test_expiry_must_be_known(self, bad: Any) -> None:
        error = product_error(includedItems=[{"itemId": "credits", "quantity": 1, "expires": bad}])
        assert error.message == (
            "product 'pro': includedItems[0].expires: must be one of NEVER, WHEN_REPEATED, "
            "WHEN_PURCHASE_EXPIRES"
        )

    def test_when_repeated_needs_a_repeat(self) -> None:
        error = product_error(
            includedItems=[{"itemId": "credits", "quantity": 1, "expires": "WHEN_REPEATED"}]
        )
        assert error.message == (
            "product 'pro': includedItems[0].expires: WHEN_REPEATED needs a repeat interval"
        )
        assert error.field == ["includedItems", "0", "expires"]

    def test_an_item_included_twice(self) -> None:
        error = product_error(
            includedItems=[
                {"itemId": "credits", "quantity": 1},
                {"itemId": "credits", "quantity": 2},
            ]
        )
        assert (
            error.message == "product 'pro': includedItems[1].itemId: 'credits' is included twice"
        )


class TestIncludeByDefault:
    def test_has_no_prices(self) -> None:
        error = product_error(includedByDefault=True, prices=[price()])
        assert (
            error.message
            == "product 'pro': includedByDefault: an include-by-default product has no prices"
        )
        assert error.field == ["includedByDefault"]

    def test_is_not_an_add_on(self) -> None:
        error = product_error(includedByDefault=True, isAddOnTo=["base"])
        assert error.message == (
            "product 'pro': includedByDefault: an include-by-default product cannot be an add-on"
        )

    def test_is_not_stackable(self) -> None:
        error = product_error(includedByDefault=True, stackable=True)
        assert error.message == (
            "product 'pro': includedByDefault: an include-by-default product cannot be stackable"
        )

    def test_two_in_one_line_are_refused(self) -> None:
        error = catalog_error(
            catalog(
                product(productId="free", productLineId="plans", includedByDefault=True),
                product(productId="starter", productLineId="plans", includedByDefault=True),
            )
        )
        # Each of the two is reported (every error of a file comes back at once).
        assert [e.message for e in error.errors] == [  # type: ignore[attr-defined]
            "product 'free': includedByDefault: product line 'plans' already has the "
            "include-by-default product 'starter'; a line has at most one",
            "product 'starter': includedByDefault: product line 'plans' already has the "
            "include-by-default product 'free'; a line has at most one",
        ]

    def test_one_per_line_is_fine(self) -> None:
        spec = parse_catalog(
            catalog(
                product(productId="free", productLineId="plans", includedByDefault=True),
                product(
                    productId="team-free",
                    customerType="TEAM",
                    productLineId="team-plans",
                    includedByDefault=True,
                ),
                product(productId="pro", productLineId="plans", prices=[price()]),
            )
        )
        assert [p.product_id for p in spec.products if p.included_by_default] == [
            "free",
            "team-free",
        ]


class TestAddOns:
    def test_an_add_on_to_itself(self) -> None:
        error = product_error(isAddOnTo=["pro"])
        assert error.message == "product 'pro': isAddOnTo: a product cannot be an add-on to itself"

    def test_base_must_exist(self) -> None:
        error = catalog_error(catalog(product(productId="extra", isAddOnTo=["pro"])))
        assert error.message == "product 'extra': isAddOnTo[0]: base product 'pro' does not exist"
        assert error.field == ["isAddOnTo", "0"]

    def test_base_must_be_for_the_same_customer_type(self) -> None:
        error = catalog_error(
            catalog(
                product(productId="team", customerType="TEAM"),
                product(productId="extra", isAddOnTo=["team"]),
            )
        )
        assert error.message == (
            "product 'extra': isAddOnTo[0]: base product 'team' is for TEAM customers, "
            "the add-on for USER"
        )


class TestReferences:
    def test_missing_item(self) -> None:
        error = catalog_error(catalog(product(includedItems=[{"itemId": "tokens", "quantity": 1}])))
        assert (
            error.message == "product 'pro': includedItems[0].itemId: item 'tokens' does not exist"
        )
        assert error.field == ["includedItems", "0", "itemId"]

    def test_item_of_another_customer_type(self) -> None:
        error = catalog_error(catalog(product(includedItems=[{"itemId": "seats", "quantity": 1}])))
        assert error.message == (
            "product 'pro': includedItems[0].itemId: item 'seats' is for TEAM customers, "
            "the product for USER"
        )

    def test_missing_product_line(self) -> None:
        error = catalog_error(catalog(product(productLineId="enterprise-plans")))
        assert error.message == (
            "product 'pro': productLineId: product line 'enterprise-plans' does not exist"
        )
        assert error.field == ["productLineId"]

    def test_product_line_of_another_customer_type(self) -> None:
        error = catalog_error(catalog(product(productLineId="team-plans")))
        assert error.message == (
            "product 'pro': productLineId: product line 'team-plans' is for TEAM customers, "
            "the product for USER"
        )

    def test_references_to_later_entries_resolve(self) -> None:
        spec = parse_catalog(
            catalog(
                product(productId="extra", isAddOnTo=["pro"], stackable=True),
                product(productId="pro", productLineId="plans"),
            )
        )
        assert [p.product_id for p in spec.products] == ["extra", "pro"]


class TestCatalogDocument:
    @pytest.mark.parametrize(
        "kind, section, entry",
        [
            ("item", "items", ITEMS[0]),
            ("product line", "productLines", LINES[0]),
            ("product", "products", product()),
        ],
    )
    def test_duplicate_ids(self, kind: str, section: str, entry: dict[str, Any]) -> None:
        document = catalog()
        document[section] = [*document[section], copy.deepcopy(entry), copy.deepcopy(entry)]
        key = {"item": "credits", "product line": "plans", "product": "pro"}[kind]
        assert catalog_error(document).message == f"{kind} {key!r} is defined twice"

    def test_not_an_object(self) -> None:
        assert "a catalog file holds an object" in catalog_error(["pro"]).message

    def test_unknown_section(self) -> None:
        document = {**catalog(), "plans": [], "coupons": []}
        assert catalog_error(document).message == "catalog: unknown section(s) 'coupons', 'plans'"

    def test_section_must_be_a_list(self) -> None:
        assert (
            catalog_error({"products": {"pro": {}}}).message == "catalog: products must be a list"
        )

    def test_empty_document_is_an_empty_catalog(self) -> None:
        spec = parse_catalog({})
        assert (spec.items, spec.product_lines, spec.products) == ([], [], [])

    def test_an_invalid_item_is_reported_before_products(self) -> None:
        document = catalog(product())
        document["items"][1]["customerType"] = "GROUP"
        assert catalog_error(document).message.startswith("item 'seats': customerType:")


class TestQuantityMax:
    """Seats: a recurring price may cap its quantity; absent, any quantity is sold."""

    def test_absent_it_is_not_stored(self) -> None:
        assert "quantityMax" not in parse_product(product(prices=[price()])).prices[0]

    def test_a_recurring_price_keeps_it(self) -> None:
        parsed = parse_product(product(prices=[price(quantityMax=25)]))
        assert parsed.prices[0]["quantityMax"] == 25
        assert parsed.as_document()["prices"][0]["quantityMax"] == 25

    @pytest.mark.parametrize("bad", [0, -1, 10_001, True, "5", 2.5])
    def test_it_is_a_whole_number_from_1(self, bad: Any) -> None:
        error = product_error(prices=[price(quantityMax=bad)])
        assert error.message == ("product 'pro': prices[0].quantityMax: must be a whole number "
                                 "from 1 to 10000")

    def test_a_one_time_price_takes_none(self) -> None:
        error = product_error(prices=[price(interval=None, quantityMax=3)])
        assert "prices[0].quantityMax: only a recurring price" in error.message
