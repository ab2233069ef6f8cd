"""Custom scalars."""

from __future__ import annotations

from typing import Any, NewType

import strawberry
from graphql import GraphQLError, IntValueNode, StringValueNode, ValueNode, print_ast

MESSAGE = "BigInt takes an integer (a JSON number without fraction, or a decimal string)"


def _decimal(text: str) -> bool:
    digits = text.strip().removeprefix("-")
    return digits.isascii() and digits.isdigit()


def _parse_big_int(value: Any) -> int:
    # Accept JSON integers of any size and decimal strings; never floats.
    if isinstance(value, bool):
        raise ValueError("BigInt takes an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _decimal(value):
        return int(value)
    raise ValueError(MESSAGE)


def _parse_big_int_literal(node: ValueNode, _variables: Any = None) -> int:
    """The same rule for a value written in the document (``amount: 25`` or ``"25"``): a
    float or other literal is a validation error with the client's own message, not a
    ValueError the error mask would turn into "Unexpected error."."""
    if isinstance(node, IntValueNode) or (isinstance(node, StringValueNode) and _decimal(node.value)):
        return int(node.value)
    raise GraphQLError(f"{MESSAGE}; got {print_ast(node)[:100]}", node,
                       extensions={"code": "INVALID_INPUT"})


BigInt = NewType("BigInt", int)

BIG_INT = strawberry.scalar(
    name="BigInt",
    serialize=int,
    parse_value=_parse_big_int,
    parse_literal=_parse_big_int_literal,
    description="An integer of any size: amounts are range-checked by the server "
                "(INVALID_INPUT), not by the GraphQL Int type's 32 bits.",
)

SCALAR_MAP = {BigInt: BIG_INT}
