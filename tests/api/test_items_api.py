"""Item balances through GraphQL: reads (item, items, changes, node), the three server
mutations, idempotency keys, expiring grants, who may read and who may change what.

Every refused change is checked to have written nothing: the balance, its version, its
ledger as GraphQL shows them, and the row counts of the ledger tables.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from billgate.billing.catalog import apply_catalog
from billgate.billing.catalog_spec import parse_catalog
from billgate.db.engine import Database
from billgate.db.models import ItemBalance, ItemChange, ItemGrant

USER = {"type": "USER", "customerId": "u1"}
OTHER_USER = {"type": "USER", "customerId": "u2"}
TEAM = {"type": "TEAM", "customerId": "t1"}
OTHER_TEAM = {"type": "TEAM", "customerId": "t2"}
CUSTOM = {"type": "CUSTOM", "customerId": "c1"}
INT32_MAX = 2**31 - 1

# A catalog of items only: no include-by-default product grants anything on first read.
CATALOG = {"items": [
    {"itemId": "credits", "displayName": "AI credits", "customerType": "USER"},
    {"itemId": "gems", "displayName": "Gems", "customerType": "USER"},
    {"itemId": "seats", "displayName": "Seats", "customerType": "TEAM"},
    {"itemId": "tokens", "displayName": "Tokens", "customerType": "CUSTOM"},
]}

ITEM_FIELDS = "id itemId displayName quantity nonNegativeQuantity version"
CHANGE_FIELDS = "id delta quantityAfter reason description expiresAt createdAt version"
USER_ERRORS = "userErrors { code message field }"

ITEM = f"""
query ($customer: CustomerRef!, $itemId: String!, $first: Int, $after: String) {{
  customer(customer: $customer) {{
    item(itemId: $itemId) {{
      {ITEM_FIELDS}
      changes(first: $first, after: $after) {{
        edges {{ cursor node {{ {CHANGE_FIELDS} }} }}
        pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
      }}
    }}
  }}
}}
"""

ITEMS = f"""
query ($customer: CustomerRef!) {{
  customer(customer: $customer) {{ items {{ {ITEM_FIELDS} }} }}
}}
"""

ME_ITEM = f"""
query {{ me {{ item(itemId: "credits") {{ {ITEM_FIELDS} }} }} }}
"""

NODE = f"""
query ($id: ID!) {{ node(id: $id) {{ __typename id ... on Item {{ {ITEM_FIELDS} }} }} }}
"""

TRY_DECREASE = f"""
mutation ($input: ChangeItemQuantityInput!) {{
  tryDecreaseItemQuantity(input: $input) {{ success item {{ {ITEM_FIELDS} }} {USER_ERRORS} }}
}}
"""

INCREASE = f"""
mutation ($input: ChangeItemQuantityInput!) {{
  increaseItemQuantity(input: $input) {{ item {{ {ITEM_FIELDS} }} {USER_ERRORS} }}
}}
"""

DECREASE = f"""
mutation ($input: ChangeItemQuantityInput!) {{
  decreaseItemQuantity(input: $input) {{ item {{ {ITEM_FIELDS} }} {USER_ERRORS} }}
}}
"""

MUTATIONS = {
    "tryDecreaseItemQuantity": TRY_DECREASE,
    "increaseItemQuantity": INCREASE,
    "decreaseItemQuantity": DECREASE,
}

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


@pytest.fixture(autouse=True)
async def catalog(db: Database) -> None:
    async with db.session() as session, session.begin():
        await apply_catalog(session, parse_catalog(CATALOG), now=datetime.now(UTC))


# Calls ---------------------------------------------------------------------------------------


async def change(api: Any, mutation: str, amount: Any, *, customer: dict[str, str] = USER,
                 item_id: str = "credits", **fields: Any) -> dict[str, Any]:
    """The payload of one of the three mutations (``mutation`` is its field name)."""
    variables = {"input": {"customer": customer, "itemId": item_id, "amount": amount, **fields}}
    data = await api.data(MUTATIONS[mutation], variables)
    return data[mutation]


async def increase(api: Any, amount: Any, **fields: Any) -> dict[str, Any]:
    return await change(api, "increaseItemQuantity", amount, **fields)


async def decrease(api: Any, amount: Any, **fields: Any) -> dict[str, Any]:
    return await change(api, "decreaseItemQuantity", amount, **fields)


async def try_decrease(api: Any, amount: Any, **fields: Any) -> dict[str, Any]:
    return await change(api, "tryDecreaseItemQuantity", amount, **fields)


async def read_item(api: Any, customer: dict[str, str] = USER, item_id: str = "credits", *,
                    first: int | None = 100, after: str | None = None) -> dict[str, Any]:
    variables = {"customer": customer, "itemId": item_id, "first": first, "after": after}
    return (await api.data(ITEM, variables))["customer"]["item"]


async def history(api: Any, customer: dict[str, str] = USER,
                  item_id: str = "credits") -> list[dict[str, Any]]:
    """Every ledger row, newest first (all pages)."""
    rows: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await read_item(api, customer, item_id, after=after))["changes"]
        rows += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return rows
        after = page["pageInfo"]["endCursor"]


def codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["userErrors"]]


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors") or []]


async def table_counts(db: Database) -> tuple[int, int, int]:
    async with db.read_session() as session:
        return (await session.scalar(select(func.count()).select_from(ItemBalance)) or 0,
                await session.scalar(select(func.count()).select_from(ItemChange)) or 0,
                await session.scalar(select(func.count()).select_from(ItemGrant)) or 0)


FOOTPRINT = """
query {
  u1: customer(customer: {type: USER, customerId: "u1"}) { ...balances }
  u2: customer(customer: {type: USER, customerId: "u2"}) { ...balances }
  t1: customer(customer: {type: TEAM, customerId: "t1"}) { ...balances }
}
fragment balances on Customer {
  items { itemId quantity version changes(first: 100) { edges { node { version } } } }
}
"""


async def footprint(api: Any, db: Database) -> Any:
    """What a refused change must leave exactly as it was: every balance, its version and
    its ledger as GraphQL shows them, and the row counts of the ledger tables."""
    data = await api.data(FOOTPRINT)
    balances = {(who, item["itemId"]): (item["quantity"], item["version"],
                                        [e["node"]["version"] for e in item["changes"]["edges"]])
                for who, customer in data.items() for item in customer["items"]}
    return balances, await table_counts(db)


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"{value} has no time zone"
    return parsed


# Reads ---------------------------------------------------------------------------------------


class TestReads:
    async def test_a_balance_never_granted_reads_zero_and_creates_nothing(self, api, db) -> None:
        item = await read_item(api)

        assert (item["itemId"], item["displayName"], item["quantity"], item["nonNegativeQuantity"],
                item["version"]) == ("credits", "AI credits", 0, 0, 0)
        assert item["changes"]["edges"] == []
        assert item["changes"]["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": False,
                                               "startCursor": None, "endCursor": None}
        assert await table_counts(db) == (0, 0, 0)

    async def test_items_lists_every_item_of_the_customer_type(self, api) -> None:
        await increase(api, 7, item_id="gems")
        await increase(api, 3, customer=TEAM, item_id="seats")

        items = (await api.data(ITEMS, {"customer": USER}))["customer"]["items"]
        assert [(i["itemId"], i["quantity"], i["version"]) for i in items] == [
            ("credits", 0, 0), ("gems", 7, 1)]
        team = (await api.data(ITEMS, {"customer": TEAM}))["customer"]["items"]
        assert [(i["itemId"], i["quantity"]) for i in team] == [("seats", 3)]

    async def test_the_mutation_payload_and_the_reads_agree(self, api) -> None:
        payload = await increase(api, 12)
        item = await read_item(api)
        [listed] = [i for i in (await api.data(ITEMS, {"customer": USER}))["customer"]["items"]
                    if i["itemId"] == "credits"]

        fields = ["id", "itemId", "displayName", "quantity", "nonNegativeQuantity", "version"]
        assert {f: payload["item"][f] for f in fields} == {f: item[f] for f in fields} == {
            f: listed[f] for f in fields}
        assert (item["quantity"], item["version"]) == (12, 1)

    async def test_changes_are_newest_first_with_every_field(self, api, runtime) -> None:
        expires_at = (runtime.clock.now() + timedelta(days=30)).replace(microsecond=0)
        before = runtime.clock.now()
        await increase(api, 10, description="welcome")
        assert (await try_decrease(api, 3, description="one report"))["success"] is True
        await decrease(api, 2)
        await increase(api, 5, expiresAt=expires_at.isoformat())
        after = runtime.clock.now()

        item = await read_item(api)
        rows = [edge["node"] for edge in item["changes"]["edges"]]
        assert [(r["version"], r["delta"], r["quantityAfter"], r["reason"]) for r in rows] == [
            (4, 5, 10, "manual"), (3, -2, 5, "manual"), (2, -3, 7, "consume"), (1, 10, 10, "manual")]
        assert [r["description"] for r in rows] == [None, None, "one report", "welcome"]
        assert parse_time(rows[0]["expiresAt"]) == expires_at
        assert [r["expiresAt"] for r in rows[1:]] == [None, None, None]
        created = [parse_time(r["createdAt"]) for r in rows]
        assert all(before <= t <= after for t in created)
        assert created == sorted(created, reverse=True)
        assert len({r["id"] for r in rows}) == 4
        assert (item["quantity"], item["nonNegativeQuantity"], item["version"]) == (10, 10, 4)

    async def test_changes_page_by_keyset(self, api) -> None:
        for amount in range(1, 6):
            await increase(api, amount)

        first = (await read_item(api, first=2))["changes"]
        assert [e["node"]["version"] for e in first["edges"]] == [5, 4]
        assert (first["pageInfo"]["hasNextPage"], first["pageInfo"]["hasPreviousPage"]) == (True, False)
        assert first["pageInfo"]["startCursor"] == first["edges"][0]["cursor"]
        assert first["pageInfo"]["endCursor"] == first["edges"][-1]["cursor"]

        # a change made between two pages does not shift the next page (keyset, not offset)
        await increase(api, 100)
        second = (await read_item(api, first=2, after=first["pageInfo"]["endCursor"]))["changes"]
        assert [e["node"]["version"] for e in second["edges"]] == [3, 2]
        assert (second["pageInfo"]["hasNextPage"], second["pageInfo"]["hasPreviousPage"]) == (True, True)

        last = (await read_item(api, first=2, after=second["pageInfo"]["endCursor"]))["changes"]
        assert [e["node"]["version"] for e in last["edges"]] == [1]
        assert last["pageInfo"]["hasNextPage"] is False

        beyond = (await read_item(api, first=2, after=last["pageInfo"]["endCursor"]))["changes"]
        assert beyond["edges"] == [] and beyond["pageInfo"]["hasNextPage"] is False

        default = (await read_item(api, first=None))["changes"]
        assert [e["node"]["version"] for e in default["edges"]] == [6, 5, 4, 3, 2, 1]

    async def test_first_is_capped_at_100(self, api, runtime) -> None:
        from billgate.billing import balances
        from billgate.types import CustomerRef, CustomerType

        ref = CustomerRef(CustomerType.USER, "u1")
        for _ in range(101):  # through the service: 101 HTTP round trips would be slow here
            await balances.increase(runtime.db, ref, "credits", amount=1, clock=runtime.clock)

        page = (await read_item(api, first=1000))["changes"]
        assert len(page["edges"]) == 100 and page["pageInfo"]["hasNextPage"] is True
        assert page["edges"][0]["node"]["version"] == 101
        rest = (await read_item(api, first=100, after=page["pageInfo"]["endCursor"]))["changes"]
        assert [e["node"]["version"] for e in rest["edges"]] == [1]

    @pytest.mark.parametrize(("first", "after"), [(0, None), (-1, None), (5, "not-a-cursor"),
                                                  (5, "WyJwcm9kdWN0cyIsMV0")])
    async def test_bad_paging_is_invalid_input(self, api, first, after) -> None:
        await increase(api, 1)
        body = await api(ITEM, {"customer": USER, "itemId": "credits", "first": first,
                                "after": after})
        assert error_codes(body) == ["INVALID_INPUT"]

    async def test_debt_reads_as_negative_and_non_negative_zero(self, api) -> None:
        await increase(api, 3)
        payload = await decrease(api, 8)

        assert payload["userErrors"] == []
        assert (payload["item"]["quantity"], payload["item"]["nonNegativeQuantity"]) == (-5, 0)
        item = await read_item(api)
        assert (item["quantity"], item["nonNegativeQuantity"], item["version"]) == (-5, 0, 2)

        paid = await increase(api, 7)
        assert (paid["item"]["quantity"], paid["item"]["nonNegativeQuantity"]) == (2, 2)

    @pytest.mark.parametrize(("customer", "item_id", "code"), [
        (USER, "nope", "ITEM_NOT_FOUND"),
        (TEAM, "credits", "CUSTOMER_TYPE_MISMATCH"),
        (USER, "seats", "CUSTOMER_TYPE_MISMATCH"),
    ])
    async def test_reading_an_unknown_or_mismatched_item_is_an_error(self, api, db, customer,
                                                                     item_id, code) -> None:
        body = await api(ITEM, {"customer": customer, "itemId": item_id, "first": 10})
        assert error_codes(body) == [code]
        assert await table_counts(db) == (0, 0, 0)


class TestNode:
    async def test_an_item_by_its_id(self, api) -> None:
        payload = await increase(api, 4)
        item_id = payload["item"]["id"]

        node = (await api.data(NODE, {"id": item_id}))["node"]
        assert node["__typename"] == "Item"
        assert (node["id"], node["itemId"], node["quantity"], node["version"]) == (
            item_id, "credits", 4, 1)

    async def test_the_node_is_read_live(self, api) -> None:
        item_id = (await increase(api, 4))["item"]["id"]
        await decrease(api, 1)
        node = (await api.data(NODE, {"id": item_id}))["node"]
        assert (node["quantity"], node["version"]) == (3, 2)

    async def test_a_client_gets_its_own_item_and_null_for_another(self, api) -> None:
        own = (await increase(api, 4))["item"]["id"]
        other = (await increase(api, 9, customer=OTHER_USER))["item"]["id"]

        client = api.as_user("u1")
        node = (await client.data(NODE, {"id": own}))["node"]
        assert (node["itemId"], node["quantity"]) == ("credits", 4)
        assert (await client.data(NODE, {"id": other}))["node"] is None

    async def test_items_of_different_customers_have_different_ids(self, api) -> None:
        ids = {(await increase(api, 1, customer=c))["item"]["id"] for c in (USER, OTHER_USER)}
        ids.add((await increase(api, 1, item_id="gems"))["item"]["id"])
        assert len(ids) == 3


    async def test_a_ledger_row_by_its_id(self, api) -> None:
        await increase(api, 4)
        [row] = await history(api)

        query = f"query ($id: ID!) {{ node(id: $id) {{ ... on ItemChange {{ {CHANGE_FIELDS} }} }} }}"
        body = await api(query, {"id": row["id"]})
        assert body["data"]["node"] == row


# Mutations -----------------------------------------------------------------------------------


class TestTryDecrease:
    async def test_consumes_while_the_balance_suffices(self, api) -> None:
        await increase(api, 5)
        payload = await try_decrease(api, 5)

        assert payload["success"] is True and payload["userErrors"] == []
        assert (payload["item"]["quantity"], payload["item"]["version"]) == (0, 2)

    async def test_refuses_when_short_and_changes_nothing(self, api, db) -> None:
        await increase(api, 5)
        before = await footprint(api, db)

        payload = await try_decrease(api, 6)

        assert payload["success"] is False
        [error] = payload["userErrors"]
        assert error["code"] == "INSUFFICIENT_QUANTITY" and error["message"]
        assert (payload["item"]["quantity"], payload["item"]["version"]) == (5, 1)
        assert await footprint(api, db) == before

    async def test_refuses_on_a_balance_never_granted_without_creating_it(self, api, db) -> None:
        payload = await try_decrease(api, 1, customer=OTHER_USER)

        assert payload["success"] is False and codes(payload) == ["INSUFFICIENT_QUANTITY"]
        assert (payload["item"]["quantity"], payload["item"]["version"]) == (0, 0)
        assert await table_counts(db) == (0, 0, 0)

    async def test_refuses_in_debt(self, api) -> None:
        await decrease(api, 2)
        payload = await try_decrease(api, 1)
        assert payload["success"] is False and codes(payload) == ["INSUFFICIENT_QUANTITY"]
        assert payload["item"]["quantity"] == -2


class TestIncreaseAndDecrease:
    async def test_increase_then_decrease_past_zero(self, api) -> None:
        assert (await increase(api, 3))["item"]["quantity"] == 3
        payload = await decrease(api, 5, description="overage")
        assert payload["userErrors"] == []
        assert (payload["item"]["quantity"], payload["item"]["version"]) == (-2, 2)
        assert (await history(api))[0]["description"] == "overage"

    async def test_team_and_custom_customers(self, api) -> None:
        assert (await increase(api, 5, customer=TEAM, item_id="seats"))["item"]["quantity"] == 5
        assert (await increase(api, 6, customer=CUSTOM, item_id="tokens"))["item"]["quantity"] == 6
        assert (await read_item(api, CUSTOM, "tokens"))["quantity"] == 6

    async def test_a_balance_at_the_edge_of_graphql_int(self, api) -> None:
        payload = await increase(api, INT32_MAX)
        assert payload["userErrors"] == [] and payload["item"]["quantity"] == INT32_MAX
        assert (await decrease(api, INT32_MAX))["item"]["quantity"] == 0
        assert (await decrease(api, INT32_MAX))["item"]["quantity"] == -INT32_MAX

    @pytest.mark.parametrize(("mutation", "amounts"), [
        ("increaseItemQuantity", [INT32_MAX, 1]),
        ("increaseItemQuantity", [INT32_MAX + 1]),
        ("decreaseItemQuantity", [INT32_MAX, 2]),
        ("decreaseItemQuantity", [2**53]),
    ])
    async def test_a_change_past_graphql_int_is_refused_and_not_written(self, api, db, mutation,
                                                                        amounts) -> None:
        *fitting, last = amounts
        for amount in fitting:
            assert (await change(api, mutation, amount))["userErrors"] == []
        before = await footprint(api, db)

        body = await api(MUTATIONS[mutation], {"input": {"customer": USER, "itemId": "credits",
                                                         "amount": last}})

        assert not body.get("errors"), body["errors"]
        assert codes(body["data"][mutation]) == ["INVALID_INPUT"]
        assert await footprint(api, db) == before


# Bad input -----------------------------------------------------------------------------------

BAD_INPUTS = [
    ("unknown-item", {"itemId": "nope"}, "ITEM_NOT_FOUND", ["itemId"]),
    ("team-for-a-user-item", {"customer": TEAM}, "CUSTOMER_TYPE_MISMATCH", ["customer"]),
    ("user-for-a-team-item", {"customer": USER, "itemId": "seats"}, "CUSTOMER_TYPE_MISMATCH", ["customer"]),
    ("empty-customer-id", {"customer": {"type": "USER", "customerId": " "}}, "INVALID_INPUT",
     ["customer", "customerId"]),
    ("long-customer-id", {"customer": {"type": "USER", "customerId": "u" * 201}}, "INVALID_INPUT",
     ["customer", "customerId"]),
    ("zero", {"amount": 0}, "INVALID_INPUT", ["amount"]),
    ("negative", {"amount": -5}, "INVALID_INPUT", ["amount"]),
    ("above-the-largest-amount", {"amount": 2**53 + 1}, "INVALID_INPUT", ["amount"]),
    ("int64-max", {"amount": 2**63 - 1}, "INVALID_INPUT", ["amount"]),
    ("beyond-int64", {"amount": 2**63}, "INVALID_INPUT", ["amount"]),
    ("beyond-uint64", {"amount": 2**64 + 1}, "INVALID_INPUT", ["amount"]),
    ("huge-decimal-string", {"amount": str(10**30)}, "INVALID_INPUT", ["amount"]),
    ("huge-negative", {"amount": -(2**64)}, "INVALID_INPUT", ["amount"]),
    ("empty-description", {"description": ""}, "INVALID_INPUT", ["description"]),
    ("long-description", {"description": "x" * 1001}, "INVALID_INPUT", ["description"]),
    ("empty-key", {"idempotencyKey": ""}, "INVALID_INPUT", ["idempotencyKey"]),
    ("long-key", {"idempotencyKey": "k" * 201}, "INVALID_INPUT", ["idempotencyKey"]),
]


class TestBadInput:
    @pytest.fixture
    async def seeded(self, api) -> None:
        for customer, item_id in [(USER, "credits"), (USER, "gems"), (OTHER_USER, "credits"),
                                  (TEAM, "seats")]:
            await increase(api, 10, customer=customer, item_id=item_id)

    @pytest.mark.usefixtures("seeded")
    @pytest.mark.parametrize("mutation", list(MUTATIONS))
    async def test_is_a_user_error_and_writes_nothing(self, api, db, mutation) -> None:
        before = await footprint(api, db)
        for case, fields, code, field in BAD_INPUTS:
            request = {"customer": USER, "itemId": "credits", "amount": 1, **fields}

            payload = (await api.data(MUTATIONS[mutation], {"input": request}))[mutation]

            assert codes(payload) == [code], (case, payload)
            assert payload["userErrors"][0]["message"], case
            assert payload["userErrors"][0]["field"] == field, (case, payload)
            assert payload["item"] is None, case
            if mutation == "tryDecreaseItemQuantity":
                assert payload["success"] is False, case
            assert await footprint(api, db) == before, case

    @pytest.mark.usefixtures("seeded")
    @pytest.mark.parametrize("mutation", list(MUTATIONS))
    async def test_an_amount_beyond_64_bits_in_the_document_itself(self, api, db,
                                                                   mutation) -> None:
        before = await footprint(api, db)
        query = f"""mutation {{ {mutation}(input: {{customer: {{type: USER, customerId: "u1"}},
            itemId: "credits", amount: 18446744073709551617}}) {{ {USER_ERRORS} }} }}"""

        payload = (await api.data(query))[mutation]

        assert codes(payload) == ["INVALID_INPUT"]
        assert payload["userErrors"][0]["field"] == ["amount"]
        assert await footprint(api, db) == before

    @pytest.mark.usefixtures("seeded")
    @pytest.mark.parametrize("amount", [1.5, "1.5", "ten", True])
    async def test_an_amount_that_is_not_an_integer_is_refused(self, api, db, amount) -> None:
        before = await footprint(api, db)
        body = await api(INCREASE, {"input": {"customer": USER, "itemId": "credits",
                                              "amount": amount}})
        assert body.get("errors"), body  # refused by the BigInt scalar: a GraphQL error
        assert await footprint(api, db) == before

    @pytest.mark.usefixtures("seeded")
    @pytest.mark.parametrize("mutation", list(MUTATIONS))
    async def test_an_unknown_customer_type_mismatch_creates_no_customer_balance(
            self, api, db, mutation) -> None:
        before = await table_counts(db)
        payload = await change(api, mutation, 1, customer={"type": "TEAM", "customerId": "new"})
        assert codes(payload) == ["CUSTOMER_TYPE_MISMATCH"]
        assert await table_counts(db) == before

    @pytest.mark.usefixtures("seeded")
    @pytest.mark.parametrize("mutation", ["tryDecreaseItemQuantity", "decreaseItemQuantity"])
    async def test_expires_at_only_on_increase(self, api, db, runtime, mutation) -> None:
        before = await footprint(api, db)
        later = (runtime.clock.now() + timedelta(days=1)).isoformat()
        payload = await change(api, mutation, 1, expiresAt=later)
        assert codes(payload) == ["INVALID_INPUT"]
        assert payload["userErrors"][0]["field"] == ["expiresAt"]
        assert await footprint(api, db) == before

    @pytest.mark.usefixtures("seeded")
    @pytest.mark.parametrize("when", [
        pytest.param(lambda now: (now - timedelta(seconds=5)).isoformat(), id="past"),
        pytest.param(lambda now: (now - timedelta(days=400)).isoformat(), id="long-past"),
        pytest.param(lambda now: (now + timedelta(days=1)).replace(tzinfo=None).isoformat(),
                     id="no-time-zone"),
    ])
    async def test_expires_at_not_in_the_future_is_invalid_input(self, api, db, runtime,
                                                                 when) -> None:
        before = await footprint(api, db)
        payload = await increase(api, 5, expiresAt=when(runtime.clock.now()))
        assert codes(payload) == ["INVALID_INPUT"]
        assert payload["userErrors"][0]["field"] == ["expiresAt"]
        assert payload["item"] is None
        assert await footprint(api, db) == before

    @pytest.mark.usefixtures("seeded")
    async def test_expires_at_in_the_past_of_the_test_clock(self, api, db, runtime) -> None:
        """Past means past on the billing clock, which an advanced test clock moves ahead."""
        real_soon = datetime.now(UTC) + timedelta(hours=1)
        runtime.clock.advance(2 * 3600)
        before = await footprint(api, db)
        payload = await increase(api, 5, expiresAt=real_soon.isoformat())
        assert codes(payload) == ["INVALID_INPUT"]
        assert await footprint(api, db) == before


# Who may change and read ---------------------------------------------------------------------


class TestPermissions:
    @pytest.mark.parametrize("mutation", list(MUTATIONS))
    @pytest.mark.parametrize("caller", ["own-user", "team-admin", "anonymous"])
    async def test_clients_cannot_change_balances(self, api, db, mutation, caller) -> None:
        await increase(api, 10)
        await increase(api, 10, customer=TEAM, item_id="seats")
        before = await footprint(api, db)
        client, customer, item_id = {
            "own-user": (api.as_user("u1"), USER, "credits"),
            "team-admin": (api.as_user("u1", teams={"t1": "admin"}), TEAM, "seats"),
            "anonymous": (api.as_(None), USER, "credits"),
        }[caller]

        payload = await change(client, mutation, 1, customer=customer, item_id=item_id,
                               idempotencyKey="client-key")

        assert codes(payload) == ["FORBIDDEN"], payload
        assert payload["item"] is None
        assert await footprint(api, db) == before
        # the refused key was not spent: the server may still use it
        assert (await increase(api, 1, idempotencyKey="client-key"))["userErrors"] == []

    @pytest.mark.parametrize("mutation", list(MUTATIONS))
    async def test_a_client_with_bad_input_is_still_forbidden(self, api, db, mutation) -> None:
        before = await table_counts(db)
        payload = await change(api.as_user("u1"), mutation, 0, item_id="nope")
        assert codes(payload) == ["FORBIDDEN"]
        assert await table_counts(db) == before

    async def test_a_client_reads_its_own_and_its_teams_items(self, api) -> None:
        await increase(api, 11)
        await increase(api, 4, customer=TEAM, item_id="seats")
        await increase(api, 6, customer=OTHER_TEAM, item_id="seats")
        member = api.as_user("u1", teams={"t1": "member", "t2": "admin"})

        assert (await read_item(member))["quantity"] == 11
        assert [c["delta"] for c in await history(member)] == [11]
        assert (await read_item(member, TEAM, "seats"))["quantity"] == 4
        assert (await read_item(member, OTHER_TEAM, "seats"))["quantity"] == 6
        items = (await member.data(ITEMS, {"customer": USER}))["customer"]["items"]
        assert [(i["itemId"], i["quantity"]) for i in items] == [("credits", 11), ("gems", 0)]
        me = (await member.data(ME_ITEM))["me"]["item"]
        assert (me["itemId"], me["quantity"]) == ("credits", 11)

    @pytest.mark.parametrize(("customer", "item_id"), [
        (OTHER_USER, "credits"), (OTHER_TEAM, "seats"), (CUSTOM, "tokens")])
    async def test_a_client_cannot_read_others(self, api, customer, item_id) -> None:
        await increase(api, 3, customer=customer, item_id=item_id)
        client = api.as_user("u1", teams={"t1": "admin"})

        body = await client(ITEM, {"customer": customer, "itemId": item_id, "first": 10})
        assert error_codes(body) == ["FORBIDDEN"]
        assert body["data"] is None
        body = await client(ITEMS, {"customer": customer})
        assert error_codes(body) == ["FORBIDDEN"]

    async def test_a_bad_token_is_refused_before_anything_runs(self, api) -> None:
        response = await api.as_("Bearer not.a.token").post(
            ITEM, {"customer": USER, "itemId": "credits"})
        assert response.status_code == 401
        assert error_codes(response.json()) == ["UNAUTHENTICATED"]


# Idempotency keys ----------------------------------------------------------------------------


class TestIdempotency:
    @pytest.mark.parametrize("mutation", list(MUTATIONS))
    async def test_a_replay_returns_the_first_result_and_changes_nothing(self, api, db,
                                                                        mutation) -> None:
        await increase(api, 10)
        first = await change(api, mutation, 4, idempotencyKey="req-1", description="once")
        assert first["userErrors"] == []
        moved = 14 if mutation == "increaseItemQuantity" else 6
        assert (first["item"]["quantity"], first["item"]["version"]) == (moved, 2)
        after_first = await footprint(api, db)

        again = await change(api, mutation, 4, idempotencyKey="req-1", description="once")
        assert again == first
        assert await footprint(api, db) == after_first

        # still the first result once the balance has moved on
        await increase(api, 100)
        later = await change(api, mutation, 4, idempotencyKey="req-1", description="once")
        assert later["item"]["quantity"] == moved and later["item"]["version"] == 2
        assert (await read_item(api))["version"] == 3
        assert len(await history(api)) == 3

    async def test_a_try_decrease_replay_succeeds_even_when_the_balance_is_now_short(
            self, api) -> None:
        await increase(api, 5)
        first = await try_decrease(api, 5, idempotencyKey="buy-1")
        assert first["success"] is True

        again = await try_decrease(api, 5, idempotencyKey="buy-1")
        assert again == first
        assert (await read_item(api))["quantity"] == 0

    async def test_a_refused_try_decrease_does_not_spend_its_key(self, api) -> None:
        await increase(api, 2)
        refused = await try_decrease(api, 5, idempotencyKey="buy-2")
        assert refused["success"] is False and codes(refused) == ["INSUFFICIENT_QUANTITY"]

        await increase(api, 3)
        retried = await try_decrease(api, 5, idempotencyKey="buy-2")
        assert retried["success"] is True and retried["item"]["quantity"] == 0
        assert [c["reason"] for c in await history(api)] == ["consume", "manual", "manual"]

    @pytest.mark.parametrize(("mutation", "fields"), [
        ("increaseItemQuantity", {"amount": 5}),
        ("increaseItemQuantity", {"item_id": "gems"}),
        ("decreaseItemQuantity", {}),
        ("tryDecreaseItemQuantity", {}),
        ("increaseItemQuantity", {"expiresAt": "2999-01-01T00:00:00+00:00"}),
    ], ids=["other-amount", "other-item", "other-mutation-decrease", "other-mutation-try",
            "now-expiring"])
    async def test_the_same_key_for_another_request_is_refused(self, api, db, mutation,
                                                               fields) -> None:
        await increase(api, 10, item_id="gems")
        await increase(api, 4, idempotencyKey="k-1")
        before = await footprint(api, db)
        fields = {"amount": 4, **fields}

        payload = await change(api, mutation, fields.pop("amount"), idempotencyKey="k-1", **fields)

        assert codes(payload) == ["IDEMPOTENCY_KEY_REUSED"], payload
        assert payload["userErrors"][0]["field"] == ["idempotencyKey"]
        assert payload["item"] is None
        assert await footprint(api, db) == before

    async def test_keys_belong_to_one_customer(self, api) -> None:
        await increase(api, 4, idempotencyKey="shared")
        other = await increase(api, 9, customer=OTHER_USER, idempotencyKey="shared")
        assert other["userErrors"] == [] and other["item"]["quantity"] == 9

    async def test_the_description_is_not_part_of_the_request(self, api) -> None:
        first = await increase(api, 4, idempotencyKey="k-2", description="first")
        again = await increase(api, 4, idempotencyKey="k-2", description="retry")
        assert again == first
        assert [c["description"] for c in await history(api)] == ["first"]

    async def test_a_retry_after_the_grants_expiry_returns_the_first_result(self, api,
                                                                         runtime) -> None:
        expires_at = (runtime.clock.now() + timedelta(minutes=1)).isoformat()
        first = await increase(api, 5, idempotencyKey="timed", expiresAt=expires_at)
        assert first["userErrors"] == []
        runtime.clock.advance(120)

        again = await increase(api, 5, idempotencyKey="timed", expiresAt=expires_at)
        assert again == first

    @pytest.mark.parametrize("mutation", list(MUTATIONS))
    async def test_concurrent_retries_apply_once(self, api, mutation) -> None:
        await increase(api, 50)

        payloads = await asyncio.gather(*(
            change(api, mutation, 3, idempotencyKey="burst") for _ in range(12)))

        assert all(p["userErrors"] == [] for p in payloads), payloads
        assert {(p["item"]["quantity"], p["item"]["version"]) for p in payloads} == {
            (53 if mutation == "increaseItemQuantity" else 47, 2)}
        assert len(await history(api)) == 2


# Expiring grants -----------------------------------------------------------------------------


class TestExpiringGrants:
    @pytest.fixture
    def frozen(self, monkeypatch: pytest.MonkeyPatch) -> datetime:
        """Real time stands still, so only ``runtime.clock.advance`` moves the test clock."""
        at = datetime.now(UTC).replace(microsecond=0)
        monkeypatch.setattr("billgate.clock.utcnow", lambda: at)
        return at

    async def test_a_grant_stops_counting_exactly_at_its_expiry(self, api, runtime,
                                                                frozen) -> None:
        expires_at = runtime.clock.now() + timedelta(hours=1)
        grant = await increase(api, 10, expiresAt=expires_at.isoformat())
        assert grant["userErrors"] == [] and grant["item"]["quantity"] == 10
        await increase(api, 5)  # never expires
        used = await try_decrease(api, 3)  # the soonest-expiring grant is used first
        assert used["success"] is True and used["item"]["quantity"] == 12

        runtime.clock.advance(3600 - 0.000001)  # one microsecond before: it still counts
        assert runtime.clock.now() == expires_at - timedelta(microseconds=1)
        item = await read_item(api)
        assert (item["quantity"], item["version"]) == (12, 3)

        runtime.clock.advance(0.000001)  # at its expiry: only its unused 7 leave
        assert runtime.clock.now() == expires_at
        item = await read_item(api)
        assert (item["quantity"], item["version"]) == (5, 4)
        expired = item["changes"]["edges"][0]["node"]
        assert (expired["delta"], expired["quantityAfter"], expired["reason"]) == (-7, 5, "expire")
        assert parse_time(expired["createdAt"]) == expires_at
        granted = item["changes"]["edges"][-1]["node"]
        assert parse_time(granted["expiresAt"]) == expires_at

        runtime.clock.advance(86400)
        item = await read_item(api)
        assert (item["quantity"], item["version"]) == (5, 4)

    async def test_a_try_decrease_at_the_expiry_sees_only_what_is_left(self, api, runtime,
                                                                       frozen) -> None:
        await increase(api, 10, expiresAt=(runtime.clock.now() + timedelta(minutes=5)).isoformat())
        runtime.clock.advance(300)

        refused = await try_decrease(api, 1)
        assert refused["success"] is False and codes(refused) == ["INSUFFICIENT_QUANTITY"]
        assert refused["item"]["quantity"] == 0

        await increase(api, 2)
        item = await read_item(api)
        assert (item["quantity"], [c["reason"] for c in await history(api)]) == (
            2, ["manual", "expire", "manual"])

    async def test_items_and_node_settle_the_expiry_too(self, api, runtime, frozen) -> None:
        payload = await increase(api, 8, expiresAt=(runtime.clock.now() + timedelta(days=1)).isoformat())
        runtime.clock.advance(86400)

        items = (await api.data(ITEMS, {"customer": USER}))["customer"]["items"]
        assert [(i["itemId"], i["quantity"]) for i in items] == [("credits", 0), ("gems", 0)]
        node = (await api.data(NODE, {"id": payload["item"]["id"]}))["node"]
        assert (node["quantity"], node["version"]) == (0, 2)

    async def test_the_grant_can_be_used_up_before_it_expires(self, api, runtime, frozen) -> None:
        await increase(api, 4, expiresAt=(runtime.clock.now() + timedelta(minutes=1)).isoformat())
        assert (await try_decrease(api, 4))["success"] is True
        runtime.clock.advance(60)

        item = await read_item(api)
        assert (item["quantity"], item["version"]) == (0, 2), "nothing left to expire"
