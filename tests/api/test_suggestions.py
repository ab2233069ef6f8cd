"""A mistyped name gets a "Did you mean" hint, for fields as for enum values."""

from __future__ import annotations

from typing import Any


async def test_a_field_typo_suggests_the_field(api: Any) -> None:
    body = await api("{ prodcts(customerType: USER) { edges { node { productId } } } }")
    [error] = body["errors"]
    assert error["message"].startswith(
        "Cannot query field 'prodcts' on type 'Query'. Did you mean 'products'")


async def test_a_nested_field_typo_suggests_too(api: Any) -> None:
    body = await api("{ products(customerType: USER) { edges { node { productID } } } }")
    assert "Did you mean 'productId'" in body["errors"][0]["message"]


async def test_an_enum_typo_suggests_the_value(api: Any) -> None:
    body = await api("{ products(customerType: USR) { edges { node { productId } } } }")
    assert "Did you mean the enum value 'USER'?" in body["errors"][0]["message"]
