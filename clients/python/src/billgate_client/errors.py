"""The one exception type of the client: branch on ``code``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class BillgateError(Exception):
    """A failed call. ``code`` is the server's ``ErrorCode`` (``INSUFFICIENT_QUANTITY``,
    ``FORBIDDEN``, ``RETURN_URL_NOT_ALLOWED``, ...) or one of the client's own:
    ``NETWORK_ERROR`` (billgate could not be reached), ``HTTP_ERROR`` (an answer that is not
    GraphQL) and ``GRAPHQL_ERROR`` (a GraphQL error without a code)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: Sequence[str] | None = None,
        user_errors: Sequence[Mapping[str, Any]] = (),
        status: int | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        #: The input field the error is about, when the server named one.
        self.field = list(field) if field else None
        #: Every user error of the mutation (the first gives ``code`` and ``message``).
        self.user_errors = [dict(error) for error in user_errors]
        #: The HTTP status, when it was not 200.
        self.status = status

    @classmethod
    def from_user_errors(cls, user_errors: Sequence[Mapping[str, Any]]) -> BillgateError:
        first = user_errors[0]
        return cls(
            str(first["code"]), str(first["message"]), field=first.get("field"), user_errors=user_errors
        )

    @classmethod
    def from_graphql_errors(
        cls, errors: Sequence[Mapping[str, Any]], status: int | None = None
    ) -> BillgateError:
        first = errors[0] if errors else {}
        extensions = first.get("extensions") or {}
        code = extensions.get("code") if isinstance(extensions, Mapping) else None
        return cls(
            code if isinstance(code, str) else "GRAPHQL_ERROR",
            str(first.get("message", "GraphQL error")),
            status=status if status != 200 else None,
        )
