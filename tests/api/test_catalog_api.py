"""The catalog through GraphQL: reads, keyset pagination, admin upserts and payment settings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from billgate.billing.catalog import apply_catalog
from billgate.billing.catalog_spec import parse_catalog
from billgate.db.engine import Database
from billgate.graphql.ids import global_id
from billgate.graphql.pagination import encode_cursor

# tests/conftest.py signs customer tokens with a 26-byte secret; PyJWT warns below 32 bytes.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

PRODUCT_FIELDS = """
  id productId displayName customerType serverOnly stackable includedByDefault
  productLine { productLineId displayName customerType }
  prices { priceId serverOnly amounts { currency amount minorUnits }
           interval { unit count } freeTrial { unit count } }
  includedItems { item { itemId displayName customerType } quantity repeat { unit count } expires }
  freeTrial { unit count }
  isAddOnTo { productId }
"""

PRODUCT = f"query ($id: String!) {{ product(productId: $id) {{ {PRODUCT_FIELDS} }} }}"
NODE = (
    "query ($id: ID!) { node(id: $id) { id __typename ... on Product { productId displayName } } }"
)
PRODUCT_LINES = """
{ productLines { productLineId displayName customerType products { productId } } }
"""
ITEM_DEFINITIONS = "{ itemDefinitions { itemId displayName customerType } }"
PRODUCTS_PAGE = """
query ($first: Int, $after: String, $type: CustomerType) {
  products(first: $first, after: $after, customerType: $type) {
    edges { cursor node { productId } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    totalCount
  }
}
"""
UPSERT_ITEM = """
mutation ($input: UpsertItemDefinitionInput!) {
  upsertItemDefinition(input: $input) {
    itemDefinition { itemId displayName customerType }
    userErrors { code message field }
  }
}
"""
UPSERT_LINE = """
mutation ($input: UpsertProductLineInput!) {
  upsertProductLine(input: $input) {
    productLine { productLineId displayName customerType }
    userErrors { code message field }
  }
}
"""
UPSERT_PRODUCT = f"""
mutation ($input: UpsertProductInput!) {{
  upsertProduct(input: $input) {{
    product {{ {PRODUCT_FIELDS} }}
    userErrors {{ code message field }}
  }}
}}
"""
PAYMENT_SETTINGS = (
    "{ paymentSettings { testMode blockNewPurchases gracePeriodDays dunningRetryDays } }"
)
UPDATE_PAYMENT_SETTINGS = """
mutation ($input: UpdatePaymentSettingsInput!) {
  updatePaymentSettings(input: $input) {
    settings { testMode blockNewPurchases gracePeriodDays dunningRetryDays }
    userErrors { code message field }
  }
}
"""

EXAMPLE_PRODUCTS = ["credit-pack", "enterprise", "extra-seats", "free", "pro", "team"]


async def apply_products(db: Database, products: list[dict[str, Any]]) -> None:
    async with db.session() as session, session.begin():
        await apply_catalog(session, parse_catalog({"products": products}), now=datetime.now(UTC),
                            prune=True)


def numbered(count: int, *, prefix: str = "plan", **fields: Any) -> list[dict[str, Any]]:
    return [
        {
            "productId": f"{prefix}-{n:03d}",
            "displayName": f"Plan {n}",
            "customerType": "USER",
            **fields,
        }
        for n in range(count)
    ]


async def walk(api: Any, *, first: int, **variables: Any) -> list[dict[str, Any]]:
    """Every page of ``products``, following endCursor until hasNextPage is false."""
    pages: list[dict[str, Any]] = []
    after = None
    while True:
        data = await api.data(PRODUCTS_PAGE, {"first": first, "after": after, **variables})
        page = data["products"]
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]
        assert len(pages) < 100, "pagination does not end"


def ids(page: dict[str, Any]) -> list[str]:
    return [edge["node"]["productId"] for edge in page["edges"]]


def error_code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    return body["errors"][0]["extensions"]["code"]


class TestProductQuery:
    async def test_a_product_with_everything(self, api, example_catalog) -> None:
        data = await api.data(PRODUCT, {"id": "pro"})
        pro = data["product"]
        assert pro["id"] == global_id("Product", "pro")
        assert pro["displayName"] == "Pro"
        assert pro["productLine"] == {
            "productLineId": "user-plans",
            "displayName": "Plans",
            "customerType": "USER",
        }
        monthly = pro["prices"][0]
        assert monthly["priceId"] == "pro-monthly"
        assert monthly["interval"] == {"unit": "MONTH", "count": 1}
        amounts = {m["currency"]: (m["amount"], m["minorUnits"]) for m in monthly["amounts"]}
        assert amounts["USD"] == ("19.00", 1900)
        assert amounts["JPY"] == ("2900", 2900)
        assert amounts["INR"] == ("1599.00", 159900)
        assert pro["includedItems"] == [
            {
                "item": {"itemId": "credits", "displayName": "AI credits", "customerType": "USER"},
                "quantity": 1000,
                "repeat": {"unit": "MONTH", "count": 1},
                "expires": "WHEN_REPEATED",
            }
        ]

    async def test_trials_add_ons_and_flags(self, api, example_catalog) -> None:
        enterprise = (await api.data(PRODUCT, {"id": "enterprise"}))["product"]
        assert enterprise["freeTrial"] == {"unit": "DAY", "count": 14}
        seats = (await api.data(PRODUCT, {"id": "extra-seats"}))["product"]
        assert seats["isAddOnTo"] == [{"productId": "team"}]
        assert seats["stackable"] is True and seats["productLine"] is None
        free = (await api.data(PRODUCT, {"id": "free"}))["product"]
        assert free["includedByDefault"] is True and free["prices"] == []

    async def test_an_unknown_product_is_null(self, api, example_catalog) -> None:
        assert (await api.data(PRODUCT, {"id": "nope"}))["product"] is None


class TestNode:
    async def test_a_product_by_global_id(self, api, example_catalog) -> None:
        data = await api.data(NODE, {"id": global_id("Product", "team")})
        assert data["node"] == {
            "id": global_id("Product", "team"),
            "__typename": "Product",
            "productId": "team",
            "displayName": "Team",
        }

    async def test_the_id_of_a_listed_product_fetches_it(self, api, example_catalog) -> None:
        listed = await api.data("{ products(first: 1) { edges { node { id productId } } } }")
        node = listed["products"]["edges"][0]["node"]
        assert (await api.data(NODE, {"id": node["id"]}))["node"]["productId"] == node["productId"]

    async def test_an_archived_product_is_null(self, api, db, example_catalog) -> None:
        await apply_products(db, [])
        assert (await api.data(NODE, {"id": global_id("Product", "team")}))["node"] is None

    async def test_an_unknown_type_is_null(self, api, example_catalog) -> None:
        assert (await api.data(NODE, {"id": global_id("Spaceship", "team")}))["node"] is None

    async def test_a_malformed_id_is_invalid_input(self, api) -> None:
        body = await api(NODE, {"id": "!!not-an-id!!"})
        assert error_code(body) == "INVALID_INPUT"
        assert "is not a valid id" in body["errors"][0]["message"]


class TestProductLinesAndItems:
    async def test_product_lines_list_their_products(self, api, example_catalog) -> None:
        data = await api.data(PRODUCT_LINES)
        assert data["productLines"] == [
            {
                "productLineId": "team-plans",
                "displayName": "Team plans",
                "customerType": "TEAM",
                "products": [{"productId": "team"}],
            },
            {
                "productLineId": "user-plans",
                "displayName": "Plans",
                "customerType": "USER",
                "products": [
                    {"productId": "enterprise"},
                    {"productId": "free"},
                    {"productId": "pro"},
                ],
            },
        ]

    async def test_item_definitions(self, api, example_catalog) -> None:
        data = await api.data(ITEM_DEFINITIONS)
        assert data["itemDefinitions"] == [
            {"itemId": "credits", "displayName": "AI credits", "customerType": "USER"},
            {"itemId": "seats", "displayName": "Seats", "customerType": "TEAM"},
        ]

    async def test_an_empty_catalog(self, api) -> None:
        data = await api.data(
            "{ productLines { productLineId } itemDefinitions { itemId } "
            "products { edges { cursor } pageInfo { hasNextPage endCursor } } }"
        )
        assert data == {
            "productLines": [],
            "itemDefinitions": [],
            "products": {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}},
        }


class TestProductsPagination:
    async def test_pages_cover_every_product_once_in_order(self, api, db) -> None:
        await apply_products(db, numbered(45))
        pages = await walk(api, first=7)

        assert [len(page["edges"]) for page in pages] == [7, 7, 7, 7, 7, 7, 3]
        seen = [product_id for page in pages for product_id in ids(page)]
        assert seen == [f"plan-{n:03d}" for n in range(45)]
        assert [p["pageInfo"]["hasPreviousPage"] for p in pages] == [False] + [True] * 6
        assert [p["pageInfo"]["hasNextPage"] for p in pages] == [True] * 6 + [False]
        for page in pages:
            assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
            assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]

    async def test_pages_agree_with_one_big_page_for_awkward_ids(self, api, db) -> None:
        awkward = ["a", "A", "a-1", "a.1", "a_1", "a1", "aa", "Z9", "z", "0", "9-9", "b.b", "B_B"]
        await apply_products(
            db, [{"productId": p, "displayName": p, "customerType": "USER"} for p in awkward]
        )
        whole = ids((await api.data(PRODUCTS_PAGE, {"first": 100}))["products"])
        assert sorted(whole) == sorted(awkward)
        for size in (1, 2, 5):
            paged = [p for page in await walk(api, first=size) for p in ids(page)]
            assert paged == whole, f"first: {size}"

    async def test_a_full_last_page_says_no_next_page(self, api, db) -> None:
        await apply_products(db, numbered(14))
        pages = await walk(api, first=7)
        assert [len(page["edges"]) for page in pages] == [7, 7]
        assert pages[-1]["pageInfo"]["hasNextPage"] is False

    async def test_the_end_cursor_of_the_last_page_gives_an_empty_page(self, api, db) -> None:
        await apply_products(db, numbered(3))
        last = (await api.data(PRODUCTS_PAGE, {"first": 10}))["products"]["pageInfo"]["endCursor"]
        page = (await api.data(PRODUCTS_PAGE, {"first": 10, "after": last}))["products"]
        assert page["edges"] == []
        assert page["pageInfo"] == {
            "hasNextPage": False,
            "hasPreviousPage": True,
            "startCursor": None,
            "endCursor": None,
        }

    async def test_filters_apply_on_every_page(self, api, db) -> None:
        await apply_products(
            db, numbered(10, prefix="user") + numbered(11, prefix="team", customerType="TEAM")
        )
        pages = await walk(api, first=4, type="TEAM")
        assert [p for page in pages for p in ids(page)] == [f"team-{n:03d}" for n in range(11)]

    async def test_server_only_products_leave_no_gap_for_clients(self, api, db) -> None:
        products = numbered(20)
        for product in products[1::3]:
            product["serverOnly"] = True
        await apply_products(db, products)
        visible = [p["productId"] for p in products if not p.get("serverOnly")]

        pages = await walk(api.as_user("u1"), first=3)

        assert [p for page in pages for p in ids(page)] == visible

    async def test_a_cursor_survives_its_product_being_archived(self, api, db) -> None:
        products = numbered(6)
        await apply_products(db, products)
        first = (await api.data(PRODUCTS_PAGE, {"first": 2}))["products"]
        await apply_products(db, [p for p in products if p["productId"] != "plan-001"])

        page = await api.data(PRODUCTS_PAGE, {"first": 2, "after": first["pageInfo"]["endCursor"]})
        assert ids(page["products"]) == ["plan-002", "plan-003"]

    async def test_first_defaults_to_20(self, api, db) -> None:
        await apply_products(db, numbered(25))
        page = (await api.data(PRODUCTS_PAGE))["products"]
        assert len(page["edges"]) == 20 and page["pageInfo"]["hasNextPage"] is True

    async def test_first_is_capped_at_100(self, api, db) -> None:
        await apply_products(db, numbered(105))
        page = (await api.data(PRODUCTS_PAGE, {"first": 1000}))["products"]
        assert len(page["edges"]) == 100
        assert page["pageInfo"]["hasNextPage"] is True

    @pytest.mark.parametrize("first", [0, -1])
    async def test_first_below_one_is_invalid_input(self, api, example_catalog, first: int) -> None:
        body = await api(PRODUCTS_PAGE, {"first": first})
        assert error_code(body) == "INVALID_INPUT"
        assert body["errors"][0]["message"] == "first must be at least 1"
        assert body["data"] is None

    @pytest.mark.parametrize(
        "cursor",
        [
            "not a cursor",
            "bm90IGpzb24",
            "W10",
            "bnVsbA",
            "",
            encode_cursor("products", 42),
            encode_cursor("products", None) + "x",
        ],
    )
    async def test_a_forged_cursor_is_invalid_input(
        self, api, example_catalog, cursor: str
    ) -> None:
        response = await api.post(PRODUCTS_PAGE, {"after": cursor})
        assert response.status_code == 200
        body = response.json()
        assert error_code(body) == "INVALID_INPUT", body
        assert body["errors"][0]["message"] != "Unexpected error."

    async def test_a_cursor_of_another_list_is_invalid_input(self, api, example_catalog) -> None:
        body = await api(PRODUCTS_PAGE, {"after": encode_cursor("item_changes", "pro")})
        assert error_code(body) == "INVALID_INPUT"
        assert "is a cursor for another list" in body["errors"][0]["message"]


class TestUpsertMutations:
    async def test_upsert_item_definition(self, api) -> None:
        data = await api.data(
            UPSERT_ITEM,
            {"input": {"itemId": "credits", "displayName": "Credits", "customerType": "USER"}},
        )
        assert data["upsertItemDefinition"] == {
            "itemDefinition": {
                "itemId": "credits",
                "displayName": "Credits",
                "customerType": "USER",
            },
            "userErrors": [],
        }
        data = await api.data(
            UPSERT_ITEM,
            {"input": {"itemId": "credits", "displayName": "AI credits", "customerType": "USER"}},
        )
        assert data["upsertItemDefinition"]["itemDefinition"]["displayName"] == "AI credits"
        assert (await api.data(ITEM_DEFINITIONS))["itemDefinitions"] == [
            {"itemId": "credits", "displayName": "AI credits", "customerType": "USER"}
        ]

    async def test_upsert_item_definition_with_a_bad_id(self, api) -> None:
        data = await api.data(
            UPSERT_ITEM,
            {"input": {"itemId": "ai credits", "displayName": "C", "customerType": "USER"}},
        )
        payload = data["upsertItemDefinition"]
        assert payload["itemDefinition"] is None
        assert payload["userErrors"][0]["code"] == "INVALID_INPUT"
        assert payload["userErrors"][0]["field"] == ["itemId"]
        assert (await api.data(ITEM_DEFINITIONS))["itemDefinitions"] == []

    async def test_upsert_product_line_and_type_change(self, api) -> None:
        line = {"productLineId": "plans", "displayName": "Plans", "customerType": "USER"}
        data = await api.data(UPSERT_LINE, {"input": line})
        assert data["upsertProductLine"] == {"productLine": line, "userErrors": []}

        data = await api.data(UPSERT_LINE, {"input": {**line, "customerType": "TEAM"}})
        assert data["upsertProductLine"]["productLine"] is None
        assert data["upsertProductLine"]["userErrors"] == [
            {
                "code": "INVALID_INPUT",
                "field": ["customerType"],
                "message": "product line 'plans': customerType: cannot change from USER to TEAM "
                "(customers may already own it); use a new id",
            }
        ]
        lines = (await api.data(PRODUCT_LINES))["productLines"]
        assert [(pl["productLineId"], pl["customerType"]) for pl in lines] == [("plans", "USER")]

    async def test_upsert_product_creates_a_full_product(self, api, example_catalog) -> None:
        product = {
            "displayName": "Max",
            "customerType": "USER",
            "productLineId": "user-plans",
            "prices": [
                {
                    "priceId": "max-monthly",
                    "amounts": [
                        {"currency": "USD", "amount": "49.00"},
                        {"currency": "JPY", "amount": "7000"},
                    ],
                    "interval": {"unit": "MONTH"},
                    "freeTrial": {"unit": "DAY", "count": 7},
                },
                {
                    "priceId": "max-staff",
                    "amounts": [{"currency": "USD", "amount": "0"}],
                    "serverOnly": True,
                },
            ],
            "includedItems": [
                {
                    "itemId": "credits",
                    "quantity": 50000,
                    "repeat": {"unit": "MONTH", "count": 1},
                    "expires": "WHEN_REPEATED",
                }
            ],
        }
        data = await api.data(UPSERT_PRODUCT, {"input": {"productId": "max", "product": product}})
        payload = data["upsertProduct"]
        assert payload["userErrors"] == []
        assert payload["product"]["productLine"]["productLineId"] == "user-plans"
        assert [p["priceId"] for p in payload["product"]["prices"]] == ["max-monthly", "max-staff"]

        stored = (await api.data(PRODUCT, {"id": "max"}))["product"]
        assert stored == payload["product"]
        assert stored["prices"][0]["amounts"] == [
            {"currency": "USD", "amount": "49.00", "minorUnits": 4900},
            {"currency": "JPY", "amount": "7000", "minorUnits": 7000},
        ]
        assert stored["prices"][0]["freeTrial"] == {"unit": "DAY", "count": 7}
        assert stored["includedItems"][0]["quantity"] == 50000

    async def test_upsert_product_replaces_the_whole_product(self, api, example_catalog) -> None:
        data = await api.data(
            UPSERT_PRODUCT,
            {
                "input": {
                    "productId": "pro",
                    "product": {"displayName": "Pro 2", "customerType": "USER"},
                }
            },
        )
        assert data["upsertProduct"]["userErrors"] == []
        pro = (await api.data(PRODUCT, {"id": "pro"}))["product"]
        assert (pro["displayName"], pro["prices"], pro["includedItems"], pro["productLine"]) == (
            "Pro 2",
            [],
            [],
            None,
        )

    @pytest.mark.parametrize(
        "product, field, message",
        [
            (
                {"prices": [{"priceId": "p", "amounts": [{"currency": "JPY", "amount": "9.50"}]}]},
                ["prices", "0", "amounts", "JPY"],
                "product 'new': prices[0].amounts.JPY: JPY amounts take no decimals; got '9.50'",
            ),
            (
                {"includedItems": [{"itemId": "seats", "quantity": 1}]},
                ["includedItems", "0", "itemId"],
                "product 'new': includedItems[0].itemId: item 'seats' is for TEAM customers, "
                "the product for USER",
            ),
            (
                {"productLineId": "team-plans"},
                ["productLineId"],
                "product 'new': productLineId: product line 'team-plans' is for TEAM customers, "
                "the product for USER",
            ),
            (
                {"isAddOnTo": ["missing"]},
                ["isAddOnTo", "0"],
                "product 'new': isAddOnTo[0]: base product 'missing' does not exist",
            ),
            (
                {"includedByDefault": True, "productLineId": "user-plans"},
                ["includedByDefault"],
                "product 'new': includedByDefault: product line 'user-plans' already has the "
                "include-by-default product 'free'; a line has at most one",
            ),
            (
                {
                    "includedItems": [
                        {"itemId": "credits", "quantity": 1, "expires": "WHEN_REPEATED"}
                    ]
                },
                ["includedItems", "0", "expires"],
                "product 'new': includedItems[0].expires: WHEN_REPEATED needs a repeat interval",
            ),
            (
                {
                    "prices": [
                        {
                            "priceId": "p",
                            "amounts": [{"currency": "USD", "amount": "1"}],
                            "interval": {"unit": "MONTH", "count": 0},
                        }
                    ]
                },
                ["prices", "0", "interval", "count"],
                "product 'new': prices[0].interval.count: must be a whole number from 1 to 1000",
            ),
        ],
    )
    async def test_an_invalid_product_is_a_user_error_and_nothing_is_written(
        self,
        api,
        example_catalog,
        product: dict[str, Any],
        field: list[str],
        message: str,
    ) -> None:
        data = await api.data(
            UPSERT_PRODUCT,
            {
                "input": {
                    "productId": "new",
                    "product": {"displayName": "New", "customerType": "USER", **product},
                }
            },
        )
        assert data["upsertProduct"] == {
            "product": None,
            "userErrors": [{"code": "INVALID_INPUT", "message": message, "field": field}],
        }
        assert (await api.data(PRODUCT, {"id": "new"}))["product"] is None

    async def test_a_product_type_change_is_a_user_error(self, api, example_catalog) -> None:
        data = await api.data(
            UPSERT_PRODUCT,
            {
                "input": {
                    "productId": "credit-pack",
                    "product": {"displayName": "Pack", "customerType": "TEAM"},
                }
            },
        )
        assert data["upsertProduct"]["userErrors"][0]["message"].startswith(
            "product 'credit-pack': customerType: cannot change from USER to TEAM"
        )
        pack = (await api.data(PRODUCT, {"id": "credit-pack"}))["product"]
        assert (pack["displayName"], pack["customerType"]) == ("500 credits", "USER")


class TestPaymentSettings:
    async def test_defaults(self, api) -> None:
        assert (await api.data(PAYMENT_SETTINGS))["paymentSettings"] == {
            "testMode": True,
            "blockNewPurchases": False,
            "gracePeriodDays": 7,
            "dunningRetryDays": [3, 5, 7],
        }

    async def test_update_changes_only_the_given_fields(self, api) -> None:
        data = await api.data(
            UPDATE_PAYMENT_SETTINGS, {"input": {"blockNewPurchases": True, "gracePeriodDays": 14}}
        )
        expected = {
            "testMode": True,
            "blockNewPurchases": True,
            "gracePeriodDays": 14,
            "dunningRetryDays": [3, 5, 7],
        }
        assert data["updatePaymentSettings"] == {"settings": expected, "userErrors": []}
        assert (await api.data(PAYMENT_SETTINGS))["paymentSettings"] == expected

        data = await api.data(
            UPDATE_PAYMENT_SETTINGS, {"input": {"testMode": False, "dunningRetryDays": [1, 2]}}
        )
        assert data["updatePaymentSettings"]["settings"] == {
            **expected,
            "testMode": False,
            "dunningRetryDays": [1, 2],
        }

    @pytest.mark.parametrize(
        "change, field",
        [
            ({"gracePeriodDays": -1}, ["gracePeriodDays"]),
            ({"gracePeriodDays": 366}, ["gracePeriodDays"]),
            ({"dunningRetryDays": [5, 3]}, ["dunningRetryDays"]),
            ({"dunningRetryDays": [0]}, ["dunningRetryDays"]),
            ({"dunningRetryDays": list(range(1, 12))}, ["dunningRetryDays"]),
        ],
    )
    async def test_invalid_settings_are_user_errors_and_change_nothing(
        self,
        api,
        change: dict[str, Any],
        field: list[str],
    ) -> None:
        data = await api.data(
            UPDATE_PAYMENT_SETTINGS, {"input": {"blockNewPurchases": True, **change}}
        )
        payload = data["updatePaymentSettings"]
        assert payload["settings"] is None
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("INVALID_INPUT", field)
        ]
        assert (await api.data(PAYMENT_SETTINGS))["paymentSettings"]["blockNewPurchases"] is False
