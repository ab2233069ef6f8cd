"""Inputs an outside probe sent to find a 500: each is a clean client error (or null), never
"Unexpected error." with a traceback in the log. Run on SQLite and on PostgreSQL (where NUL
characters in text are refused by the database itself)."""

from __future__ import annotations

import base64
import time
from typing import Any

import jwt
import orjson
import pytest
from sqlalchemy import func, select

from billgate.db.models import Customer

pytestmark = pytest.mark.usefixtures("example_catalog")

# The customer-token secret of the test settings (tests/conftest.py).
TOKEN_SECRET = "test-customer-token-secret-of-32-bytes-or-more"
NODE = "query ($id: ID!) { node(id: $id) { id } }"


def global_id(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def cursor(kind: str, key: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([kind, key])).decode().rstrip("=")


def assert_clean(body: dict[str, Any]) -> None:
    for error in body.get("errors") or []:
        assert error["message"] != "Unexpected error.", body
        assert error.get("extensions", {}).get("code") == "INVALID_INPUT", body


@pytest.mark.parametrize("raw", [
    "Invoice:²", "Invoice:٣", "Transaction:99999999999999999999", "Invoice:99999999999999999999",
    "ItemChange:" + "9" * 5000, "CustomerSubscription:9223372036854775808",
    "WebhookEndpoint:99999999999999999999", "WebhookDelivery:²",
    'Customer:["USER","a\\u0000b"]', 'Item:["USER","a\\u0000b","credits"]',
])
async def test_node_ids_that_name_no_row_answer_null(api: Any, raw: str) -> None:
    body = await api(NODE, {"id": global_id(raw)})
    assert body == {"data": {"node": None}}, body


@pytest.mark.parametrize("raw", ["Transaction:²", "Transaction:99999999999999999999"])
async def test_mutations_refuse_such_ids(api: Any, raw: str) -> None:
    body = await api("""mutation ($id: ID!) { refundTransaction(input: {transactionId: $id}) {
        userErrors { code message } } }""", {"id": global_id(raw)})
    assert_clean(body)
    [error] = body["data"]["refundTransaction"]["userErrors"]
    assert error["code"] == "INVALID_INPUT"


@pytest.mark.parametrize(("query", "after"), [
    ('query ($a: String) { products(customerType: USER, after: $a) { edges { cursor } } }',
     cursor("products", "pro\u0000")),
    ('query ($a: String) { customer(customer: {type: USER, customerId: "u1"}) {'
     ' products(after: $a) { edges { cursor } } } }', cursor("owned-products", "free\u0000")),
    ('query ($a: String) { customers(type: USER, after: $a) { edges { cursor } } }',
     cursor("customers", ["USER", "\u0000"])),
])
async def test_cursors_holding_a_nul_are_invalid_input(api: Any, query: str, after: str) -> None:
    body = await api(query, {"a": after})
    assert body["data"] is None
    assert_clean(body)


@pytest.mark.parametrize("sub", ["user\u0000x", "user\ud800x"])
async def test_a_token_whose_sub_cannot_be_stored_is_refused(api: Any, db: Any, sub: str) -> None:
    token = jwt.encode({"sub": sub, "exp": int(time.time()) + 600}, TOKEN_SECRET, algorithm="HS256")
    response = await api.as_(f"Bearer {token}").post("{ me { customerId } }")
    assert response.status_code == 401, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED" and "sub" in error["message"]
    async with db.read_session() as session:
        assert await session.scalar(select(func.count()).select_from(Customer)) == 0, \
            "no customer was created for it"


async def test_a_token_with_such_a_team_id_is_refused(api: Any) -> None:
    token = jwt.encode({"sub": "u1", "teams": {"t\u0000": "admin"}, "exp": int(time.time()) + 600},
                       TOKEN_SECRET, algorithm="HS256")
    response = await api.as_(f"Bearer {token}").post("{ me { customerId } }")
    assert response.status_code == 401


DECREASE = ('mutation { tryDecreaseItemQuantity(input: {customer: {type: USER, customerId: "u1"},'
            ' itemId: "credits", amount: %s}) { success userErrors { code } } }')


@pytest.mark.parametrize("literal", ["2.5", "1e3", '"abc"', '"2.5"', '"²"', "true", "null"])
async def test_a_bigint_literal_that_is_not_an_integer_is_invalid_input(
        api: Any, literal: str) -> None:
    body = await api(DECREASE % literal)
    assert body.get("data") is None and body["errors"], body
    if literal != "null":  # null for a non-null argument is graphql-core's own message
        assert_clean(body)
        assert "BigInt takes an integer" in body["errors"][0]["message"]


@pytest.mark.parametrize("value", [2.5, "2.5", "abc", True])
async def test_a_bigint_variable_that_is_not_an_integer_is_refused(api: Any, value: Any) -> None:
    body = await api("""mutation ($n: BigInt!) { tryDecreaseItemQuantity(input: {
        customer: {type: USER, customerId: "u1"}, itemId: "credits", amount: $n}) { success } }""",
        {"n": value})
    assert body.get("data") is None and body["errors"], body
    assert body["errors"][0]["message"] != "Unexpected error.", body


async def test_integer_literals_and_decimal_strings_still_work(api: Any) -> None:
    for literal in ("25", '"25"'):
        body = await api(DECREASE % literal)
        assert body["data"]["tryDecreaseItemQuantity"] == {"success": True, "userErrors": []}
