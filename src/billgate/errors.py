"""Domain errors. Each carries the public ``ErrorCode`` value apps branch on.

On the ground floor (no billgate imports), so every layer that refuses input (billing,
notifications, the edges) raises the same tree without importing the billing engine.

The API layer maps every ``BillgateError`` to a ``UserError`` (mutations) or a GraphQL
error with ``extensions.code`` (queries) in one place: ``graphql/errors.py``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Messages name what the client sent; a 900 KB id must not come back (or reach the logs)
# in full. Each word keeps its first ECHO_CHARS characters; the message as a whole at most
# MAX_MESSAGE_CHARS.
ECHO_CHARS = 100
MAX_MESSAGE_CHARS = 400
_LONG_WORD = re.compile(r"\S{" + str(ECHO_CHARS + 1) + ",}")


def clip_echo(message: str) -> str:
    """``message`` with any run of more than ``ECHO_CHARS`` non-space characters cut short,
    and cut to ``MAX_MESSAGE_CHARS`` overall."""
    if len(message) <= ECHO_CHARS:
        return message
    clipped = _LONG_WORD.sub(lambda m: f"{m.group()[:ECHO_CHARS]} …[{len(m.group())} chars]", message)
    if len(clipped) > MAX_MESSAGE_CHARS:
        clipped = f"{clipped[:MAX_MESSAGE_CHARS]}…[{len(message)} chars]"
    return clipped


class BillgateError(Exception):
    code = "INVALID_INPUT"

    def __init__(self, message: str, *, field: Sequence[str] | None = None) -> None:
        message = clip_echo(message)
        super().__init__(message)
        self.message = message
        self.field = list(field) if field else None


class InvalidInput(BillgateError):
    code = "INVALID_INPUT"


class CatalogError(InvalidInput):
    """A catalog entry that breaks a rule; the message names the entry and the field."""


class CatalogErrors(CatalogError):
    """Every rule a catalog file breaks, so an operator fixes them in one pass."""

    def __init__(self, errors: Sequence[CatalogError]) -> None:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first.message + more, field=first.field)
        self.errors = list(errors)


def raise_all(errors: Sequence[CatalogError]) -> None:
    """Raise the one error, or all of them together; nothing when there are none."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise CatalogErrors(errors)


class Forbidden(BillgateError):
    code = "FORBIDDEN"


class TestModeOnly(BillgateError):
    __test__ = False
    code = "TEST_MODE_ONLY"


class LiveModeOnly(BillgateError):
    """Needs the payment processor (Stripe), which test mode never calls."""

    code = "LIVE_MODE_ONLY"


class ProductNotFound(BillgateError):
    code = "PRODUCT_NOT_FOUND"


class PriceNotFound(BillgateError):
    code = "PRICE_NOT_FOUND"


class ItemNotFound(BillgateError):
    code = "ITEM_NOT_FOUND"


class SubscriptionNotFound(BillgateError):
    code = "SUBSCRIPTION_NOT_FOUND"


class CustomerTypeMismatch(BillgateError):
    code = "CUSTOMER_TYPE_MISMATCH"


class ReservationNotFound(BillgateError):
    """No HELD reservation with that id (unknown, another customer's under a customer
    token, or already committed, released or expired)."""

    code = "RESERVATION_NOT_FOUND"


class InsufficientQuantity(BillgateError):
    code = "INSUFFICIENT_QUANTITY"

    def __init__(self, item_id: str, requested: int, available: int) -> None:
        super().__init__(
            f"cannot consume {requested} of {item_id!r}: only {max(available, 0)} available",
            field=["amount"],
        )
        self.item_id = item_id
        self.requested = requested
        self.available = available


class IdempotencyKeyReused(BillgateError):
    code = "IDEMPOTENCY_KEY_REUSED"


class ProductAlreadyOwned(BillgateError):
    code = "PRODUCT_ALREADY_OWNED"


class ProductNotStackable(BillgateError):
    code = "PRODUCT_NOT_STACKABLE"


class AddOnBaseNotOwned(BillgateError):
    code = "ADD_ON_BASE_NOT_OWNED"


class NewPurchasesBlocked(BillgateError):
    code = "NEW_PURCHASES_BLOCKED"


class ReturnUrlNotAllowed(BillgateError):
    code = "RETURN_URL_NOT_ALLOWED"


class PaymentFailed(BillgateError):
    code = "PAYMENT_FAILED"


class PromoCodeInvalid(BillgateError):
    """A promo code that cannot be used here; the message says why (unknown, disabled,
    expired, used up, not for this product, not a first purchase)."""

    code = "PROMO_CODE_INVALID"


class CheckoutUnavailable(InvalidInput):
    """The checkout link does not exist, was already used, or has expired."""


class NotASubscription(BillgateError):
    code = "NOT_A_SUBSCRIPTION"


class NotInSameProductLine(BillgateError):
    code = "NOT_IN_SAME_PRODUCT_LINE"


class ProductNotSwitchable(BillgateError):
    code = "PRODUCT_NOT_SWITCHABLE"


class DefaultPaymentMethodRequired(BillgateError):
    code = "DEFAULT_PAYMENT_METHOD_REQUIRED"


class InvoiceNotFound(BillgateError):
    code = "INVOICE_NOT_FOUND"


class InvoiceNotOpen(BillgateError):
    """Only an OPEN invoice can be paid (a PAID, VOID or UNCOLLECTIBLE one cannot)."""

    code = "INVOICE_NOT_OPEN"
