"""Cursor connections backed by keyset pagination (never OFFSET).

A cursor is an opaque, tagged encoding of the last row's sort key. A cursor that does not
decode, or that belongs to another list, is ``INVALID_INPUT`` (a user error, not a 500).
A cursor whose row has since been deleted still works: the page starts after its key.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
import strawberry

from billgate.errors import InvalidInput
from billgate.graphql.ids import MAX_ROW_ID
from billgate.text import bad_text

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

T = TypeVar("T")
R = TypeVar("R")


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE_SIZE
    if first < 1:
        raise InvalidInput("first must be at least 1", field=["first"])
    return min(first, MAX_PAGE_SIZE)


def encode_cursor(kind: str, key: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([kind, key])).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None) -> Any:
    """The key stored in ``cursor`` for a list of ``kind``; None for no cursor."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        tag, key = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError, binascii.Error):
        raise InvalidInput(f"{cursor!r} is not a valid cursor", field=["after"]) from None
    if tag != kind:
        raise InvalidInput(f"{cursor!r} is a cursor for another list", field=["after"])
    if any(bad_text(text) for text in _texts(key)):
        # PostgreSQL cannot compare with a NUL; no key of ours ever holds one.
        raise InvalidInput(f"{cursor[:100]!r} is not a valid cursor for this list", field=["after"])
    return key


def _texts(key: Any) -> list[str]:
    if isinstance(key, str):
        return [key]
    if isinstance(key, list):
        return [text for part in key for text in _texts(part)]
    return []


def decode_id_cursor(kind: str, cursor: str | None) -> int | None:
    """The row id in a cursor of a list keyed by id; a key that is not an id the database
    could hold (a string, a bool, null, 2**63) is ``INVALID_INPUT``, never a 500."""
    key = decode_cursor(kind, cursor)
    if cursor is not None and (type(key) is not int or not 0 <= key <= MAX_ROW_ID):
        raise InvalidInput(f"{cursor!r} is not a valid cursor for this list", field=["after"])
    return key  # type: ignore[no-any-return]


def decode_text_cursor(kind: str, cursor: str | None) -> str | None:
    """The text key in a cursor of a list keyed by a string (products, owned products)."""
    key = decode_cursor(kind, cursor)
    if cursor is not None and type(key) is not str:
        raise InvalidInput(f"{cursor!r} is not a valid cursor for this list", field=["after"])
    return key  # type: ignore[no-any-return]


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int | None = None


@dataclass(frozen=True)
class Page(Generic[R]):
    """What a keyset query returns: up to ``size`` rows, fetched as ``size + 1`` to learn
    whether another page follows."""

    rows: Sequence[R]
    size: int
    had_cursor: bool


def build_connection(page: Page[R], *, kind: str, key: Callable[[R], Any],
                     node: Callable[[R], T], total_count: int | None = None) -> Connection[T]:
    rows = page.rows[: page.size]
    edges = [Edge(cursor=encode_cursor(kind, key(row)), node=node(row)) for row in rows]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(page.rows) > page.size,
            has_previous_page=page.had_cursor,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=total_count,
    )
