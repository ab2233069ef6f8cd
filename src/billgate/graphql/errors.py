"""One place that turns domain errors into GraphQL shapes.

Mutations return them as ``userErrors``; queries raise a GraphQL error whose
``extensions.code`` holds the same ``ErrorCode``. Anything else is unexpected: its
message is masked outside debug (``should_mask``) and logged with its traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from typing import Any, NoReturn

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from billgate.db.availability import is_unavailable
from billgate.errors import BillgateError, clip_echo


@strawberry.enum
class ErrorCode(Enum):
    INSUFFICIENT_QUANTITY = "INSUFFICIENT_QUANTITY"
    PRODUCT_NOT_FOUND = "PRODUCT_NOT_FOUND"
    PRODUCT_ALREADY_OWNED = "PRODUCT_ALREADY_OWNED"
    PRODUCT_NOT_STACKABLE = "PRODUCT_NOT_STACKABLE"
    CUSTOMER_TYPE_MISMATCH = "CUSTOMER_TYPE_MISMATCH"
    ADD_ON_BASE_NOT_OWNED = "ADD_ON_BASE_NOT_OWNED"
    NEW_PURCHASES_BLOCKED = "NEW_PURCHASES_BLOCKED"
    PRICE_NOT_FOUND = "PRICE_NOT_FOUND"
    NOT_IN_SAME_PRODUCT_LINE = "NOT_IN_SAME_PRODUCT_LINE"
    DEFAULT_PAYMENT_METHOD_REQUIRED = "DEFAULT_PAYMENT_METHOD_REQUIRED"
    SUBSCRIPTION_NOT_FOUND = "SUBSCRIPTION_NOT_FOUND"
    ITEM_NOT_FOUND = "ITEM_NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    INVALID_INPUT = "INVALID_INPUT"
    RETURN_URL_NOT_ALLOWED = "RETURN_URL_NOT_ALLOWED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    TEST_MODE_ONLY = "TEST_MODE_ONLY"
    LIVE_MODE_ONLY = "LIVE_MODE_ONLY"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    NOT_A_SUBSCRIPTION = "NOT_A_SUBSCRIPTION"
    PRODUCT_NOT_SWITCHABLE = "PRODUCT_NOT_SWITCHABLE"
    WEBHOOK_ENDPOINT_NOT_FOUND = "WEBHOOK_ENDPOINT_NOT_FOUND"
    WEBHOOK_DELIVERY_NOT_FOUND = "WEBHOOK_DELIVERY_NOT_FOUND"
    INVOICE_NOT_FOUND = "INVOICE_NOT_FOUND"
    INVOICE_NOT_OPEN = "INVOICE_NOT_OPEN"
    RESERVATION_NOT_FOUND = "RESERVATION_NOT_FOUND"
    PROMO_CODE_INVALID = "PROMO_CODE_INVALID"
    # The database did not answer in time, or refused the work (down, read-only, out of
    # connections): nothing was changed by the failed part; retry later.
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"


@strawberry.type
class UserError:
    code: ErrorCode
    message: str
    field: list[str] | None = None


def user_error(exc: BillgateError) -> UserError:
    return UserError(code=ErrorCode(exc.code), message=exc.message, field=exc.field)


class BillgateGraphQLError(GraphQLError):
    """A query error the client caused: never masked, carries ``extensions.code``."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, extensions={"code": code})


def raise_query_error(exc: BillgateError) -> NoReturn:
    raise BillgateGraphQLError(exc.message, exc.code) from exc


def should_mask(error: GraphQLError) -> bool:
    """Mask only errors that are not ours: validation, limits and domain errors keep their text."""
    original: Any = error.original_error
    if original is None:
        return False  # parse/validation errors
    if is_unavailable(original):
        return False  # DomainErrorCodes gave it a message of ours
    return not isinstance(original, BillgateGraphQLError | BillgateError | GraphQLError)


DATABASE_UNAVAILABLE_MESSAGE = ("the database is unavailable (not answering in time, or refusing "
                                "writes); try again later")


class DomainErrorCodes(SchemaExtension):
    """Any domain error that reaches the result (not only those a resolver re-raised with
    ``raise_query_error``) carries its ``extensions.code``; every error message echoes at
    most ~100 characters of any one value the client sent (graphql-core quotes invalid
    variable values in full)."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        for error in getattr(result, "errors", None) or []:
            original = error.original_error
            if isinstance(original, BillgateError):
                error.extensions = {**(error.extensions or {}), "code": original.code}
            elif original is not None and is_unavailable(original):
                error.message = DATABASE_UNAVAILABLE_MESSAGE
                error.extensions = {**(error.extensions or {}), "code": "DATABASE_UNAVAILABLE"}
            error.message = clip_echo(error.message)
