"""Opaque Relay global ids: base64 of ``Type:node-id``. The public id of a billgate object on
every edge (GraphQL `id` fields and inputs, REST `id` fields)."""

from __future__ import annotations

import base64
import binascii
import json

from billgate.errors import InvalidInput


def global_id(type_name: str, node_id: str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{node_id}".encode()).decode().rstrip("=")


def parse_global_id(value: str, *, expected: str | None = None) -> tuple[str, str]:
    """``(type_name, node_id)`` of a global id; ``INVALID_INPUT`` when it is not one of ours
    or (with ``expected``) names another type."""
    try:
        padded = value + "=" * (-len(value) % 4)
        type_name, node_id = base64.urlsafe_b64decode(padded.encode()).decode().split(":", 1)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(f"{value!r} is not a valid id", field=["id"]) from None
    if expected is not None and type_name != expected:
        raise InvalidInput(f"{value!r} is not a {expected} id", field=["id"])
    return type_name, node_id


# The largest row id the database holds (a BIGINT primary key).
MAX_ROW_ID = 2**63 - 1


def row_id(node_id: str) -> int | None:
    """The row id a node id names, or None when it names no row that can exist: only ASCII
    digits (``str.isdigit`` also takes "²" and other scripts' digits, which ``int`` refuses)
    and at most ``MAX_ROW_ID`` (a larger number would overflow the database's integer)."""
    if not node_id.isascii() or not node_id.isdigit() or len(node_id) > 19:
        return None
    number = int(node_id)
    return number if number <= MAX_ROW_ID else None


def compound_id(*parts: str) -> str:
    """A node id made of several strings (any characters allowed in each)."""
    return json.dumps(list(parts), separators=(",", ":"))


def split_compound_id(node_id: str, count: int) -> list[str]:
    try:
        parts = json.loads(node_id)
    except ValueError:
        parts = None
    if not isinstance(parts, list) or len(parts) != count or not all(isinstance(p, str) for p in parts):
        raise InvalidInput("not a valid id", field=["id"])
    return parts
