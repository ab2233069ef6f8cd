"""Every input type's plan (``graphql/input_builders.py``) builds exactly what Strawberry's
own conversion builds, for every input type of the schema, with every field given and with
only the required ones; and a mutation's input still reaches the billing code whole."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
)
from strawberry.types.arguments import convert_argument
from strawberry.types.base import StrawberryObjectDefinition

from billgate.graphql.schema import build_schema

SCHEMA = build_schema()
CONVERTER = SCHEMA.schema_converter
INPUTS = {name: concrete.definition for name, concrete in CONVERTER.type_map.items()
          if isinstance(concrete.definition, StrawberryObjectDefinition)
          and concrete.definition.is_input}


def sample(graphql_type: Any, *, everything: bool, depth: int = 0) -> Any:
    """A value of ``graphql_type`` as graphql-core hands it to Strawberry."""
    if isinstance(graphql_type, GraphQLNonNull):
        return sample(graphql_type.of_type, everything=everything, depth=depth)
    if isinstance(graphql_type, GraphQLList):
        return [sample(graphql_type.of_type, everything=everything, depth=depth)]
    if isinstance(graphql_type, GraphQLEnumType):
        return next(iter(graphql_type.values.values())).value
    if isinstance(graphql_type, GraphQLInputObjectType):
        value = {}
        for name, field in graphql_type.fields.items():
            required = isinstance(field.type, GraphQLNonNull)
            if required or (everything and depth < 3):
                value[name] = sample(field.type, everything=everything, depth=depth + 1)
        return value
    return f"leaf-{graphql_type.name}"  # a scalar: both ways pass it as it is


@contextlib.contextmanager
def strawberrys_own_walk() -> Iterator[None]:
    plans = {name: definition.from_input for name, definition in INPUTS.items()}
    for definition in INPUTS.values():
        definition.from_input = None
    try:
        yield
    finally:
        for name, definition in INPUTS.items():
            definition.from_input = plans[name]


def convert(name: str, value: Any) -> Any:
    return convert_argument(value, INPUTS[name].origin, CONVERTER.scalar_registry,
                            SCHEMA.config)


def test_every_input_type_has_a_plan() -> None:
    assert len(INPUTS) > 40
    assert all(definition.from_input is not None for definition in INPUTS.values())


@pytest.mark.parametrize("everything", [True, False], ids=["all fields", "required only"])
@pytest.mark.parametrize("name", sorted(INPUTS))
def test_a_plan_builds_what_strawberry_builds(name: str, everything: bool) -> None:
    value = sample(SCHEMA._schema.type_map[name], everything=everything)
    planned = convert(name, value)
    with strawberrys_own_walk():
        walked = convert(name, value)
    assert type(planned) is type(walked)
    assert planned == walked


@pytest.mark.usefixtures("example_catalog")
async def test_a_consumption_with_every_option_reaches_the_ledger(api: Any) -> None:
    customer = {"type": "USER", "customerId": "input-plan-user"}
    result = await api.data(
        """mutation($c: CustomerRef!) { tryDecreaseItemQuantity(input: {customer: $c,
           itemId: "credits", amount: 7, description: "seven", idempotencyKey: "k-7"}) {
           success item { quantity changes(first: 1) { edges { node { delta description } } } }
           } }""", {"c": customer})
    item = result["tryDecreaseItemQuantity"]["item"]
    assert result["tryDecreaseItemQuantity"]["success"] is True
    assert item["quantity"] == 93
    assert item["changes"]["edges"][0]["node"] == {"delta": -7, "description": "seven"}
