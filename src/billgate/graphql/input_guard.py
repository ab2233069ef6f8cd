"""Refuse GraphQL requests whose text no resolver should see.

- A query document longer than ``BILLGATE_MAX_QUERY_BYTES`` is refused before it is
  parsed: comments and whitespace count toward no token limit, and parse and validation
  caches would otherwise pin every padded document in memory.
- NUL characters (PostgreSQL text cannot hold them) and lone surrogates (not encodable as
  UTF-8, so neither storable nor printable) in variables or string literals are
  ``INVALID_INPUT``, named by where they were found, never an "Unexpected error." later.

Both HTTP and WebSocket operations pass through here (it is a schema extension).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, StringValueNode, ValidationRule
from strawberry.extensions import SchemaExtension

from billgate.text import bad_text

# Variables nest as deep as their JSON did; past this, stop looking and refuse.
_MAX_NESTING = 64


def input_error(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "INVALID_INPUT"})


def check_document_size(query: str | None, max_bytes: int) -> None:
    """Raise before parsing when the document is over ``max_bytes`` of UTF-8."""
    if query is None or len(query) * 4 <= max_bytes:
        return  # cheap bound: no character takes more than 4 bytes
    size = len(query.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise input_error(f"the query document is {size} bytes; the limit is {max_bytes} "
                          "(BILLGATE_MAX_QUERY_BYTES)")


def check_variables(variables: Any) -> None:
    """Raise on the first string in ``variables`` that cannot be stored as text."""
    for path, value in _strings(variables, ()):
        problem = bad_text(value)
        if problem:
            where = "$" + ".".join(path) if path else "variables"
            raise input_error(f"variable {where} contains {problem}")


def _strings(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    if len(path) > _MAX_NESTING:
        raise input_error(f"variables nest deeper than {_MAX_NESTING} levels")
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(str(key), (*path, "<key>"))
            yield from _strings(item, (*path, str(key)[:40]))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, str(index)))


class StringLiteralsRule(ValidationRule):
    """String literals in the document: ``"\\u0000"`` parses to a NUL."""

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        problem = bad_text(node.value)
        if problem:
            self.report_error(GraphQLError(f"a string literal contains {problem}", node,
                                           extensions={"code": "INVALID_INPUT"}))


class InputGuard(SchemaExtension):
    """Runs the two request checks above before Strawberry parses anything."""

    def __init__(self, *, max_query_bytes: int) -> None:
        self.max_query_bytes = max_query_bytes

    def on_operation(self) -> Iterator[None]:
        check_document_size(self.execution_context.query, self.max_query_bytes)
        check_variables(self.execution_context.variables)
        yield
