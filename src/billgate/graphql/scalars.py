"""Custom scalars."""

from __future__ import annotations

from typing import Any, NewType

import strawberry


def _parse_big_int(value: Any) -> int:
    # Accept JSON integers of any size and decimal strings; never floats.
    if isinstance(value, bool):
        raise ValueError("BigInt takes an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError("BigInt takes an integer (a JSON number without fraction, or a decimal string)")


BigInt = NewType("BigInt", int)

BIG_INT = strawberry.scalar(
    name="BigInt",
    serialize=int,
    parse_value=_parse_big_int,
    description="An integer of any size: amounts are range-checked by the server "
                "(INVALID_INPUT), not by the GraphQL Int type's 32 bits.",
)

SCALAR_MAP = {BigInt: BIG_INT}
