"""Every list's ``after`` takes only the cursors it handed out: a well-formed cursor whose key
no row could have (2**63, null, a bool, the wrong type) is INVALID_INPUT, never a 500 and
never "no cursor"."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

pytestmark = pytest.mark.usefixtures("example_catalog")

CUSTOMER = {"type": "USER", "customerId": "cursor-user"}
LISTS = {
    "invoices": "customer(customer: $c) { invoices(first: 5, after: $after) { edges { cursor } } }",
    "transactions": "customer(customer: $c) { transactions(first: 5, after: $after) { edges { cursor } } }",
    "subscriptions": "customer(customer: $c) { subscriptions(first: 5, after: $after) { edges { cursor } } }",
    "item-changes": "customer(customer: $c) { item(itemId: \"credits\") { changes(first: 5, after: $after) "
                    "{ edges { cursor } } } }",
    "owned-products": "customer(customer: $c) { products(first: 5, after: $after) { edges { cursor } } }",
    "products": "products(first: 5, after: $after) { edges { cursor } }",
}
TEXT_KEYED = {"owned-products", "products"}


def cursor(kind: str, key: Any) -> str:
    """A cursor as ``pagination.encode_cursor`` makes them, for any JSON key (10**30 too)."""
    return base64.urlsafe_b64encode(json.dumps([kind, key]).encode()).decode().rstrip("=")


def query(kind: str) -> str:
    variables = "$after: String" if kind == "products" else "$c: CustomerRef!, $after: String"
    return f"query ({variables}) {{ {LISTS[kind]} }}"


def bad_keys(kind: str) -> list[Any]:
    common: list[Any] = [None, True, 1.5, [1], {"id": 1}]
    return common + ([7] if kind in TEXT_KEYED else ["7", -1, 2**63, 10**30])


@pytest.mark.parametrize(("kind", "key"), [(kind, key) for kind in LISTS for key in bad_keys(kind)])
async def test_a_cursor_with_an_impossible_key_is_invalid_input(api: Any, kind: str, key: Any) -> None:
    variables = {"after": cursor(kind, key)} | ({} if kind == "products" else {"c": CUSTOMER})
    body = await api(query(kind), variables)
    codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
    assert codes == ["INVALID_INPUT"], body


@pytest.mark.parametrize("kind", list(LISTS))
async def test_the_largest_possible_key_is_still_a_cursor(api: Any, kind: str) -> None:
    key = "~" if kind in TEXT_KEYED else 2**63 - 1
    variables = {"after": cursor(kind, key)} | ({} if kind == "products" else {"c": CUSTOMER})
    body = await api(query(kind), variables)
    assert not body.get("errors"), body
