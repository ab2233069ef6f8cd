"""What the client returns: frozen dataclasses with snake_case fields, built from the
GraphQL answers (camelCase) in one place each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

CustomerType = Literal["USER", "TEAM", "CUSTOM"]
CUSTOMER_TYPES = ("USER", "TEAM", "CUSTOM")

T = TypeVar("T")


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


@dataclass(frozen=True)
class CustomerRef:
    type: CustomerType
    customer_id: str

    def to_graphql(self) -> dict[str, str]:
        return {"type": self.type, "customerId": self.customer_id}


@dataclass(frozen=True)
class Item:
    """A balance: ``quantity`` may be negative (debt); ``non_negative_quantity`` is for display;
    ``reserved`` is held by reservations and ``available`` (= quantity - reserved) is what is
    left to consume."""

    item_id: str
    display_name: str
    quantity: int
    non_negative_quantity: int
    version: int
    reserved: int = 0
    available: int | None = None

    def __post_init__(self) -> None:
        if self.available is None:  # a balance without holds: all of it is available
            object.__setattr__(self, "available", self.quantity - self.reserved)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Item:
        return cls(
            data["itemId"],
            data["displayName"],
            data["quantity"],
            data["nonNegativeQuantity"],
            data["version"],
            data.get("reserved", 0),
            data.get("available"),
        )


@dataclass(frozen=True)
class Reservation:
    """A hold made by ``reserve``: commit or release it by ``id``."""

    id: str
    item_id: str
    amount: int
    status: str  # HELD, COMMITTED, RELEASED or EXPIRED
    expires_at: datetime | None

    @classmethod
    def of(cls, data: dict[str, Any]) -> Reservation:
        return cls(data["id"], data["itemId"], data["amount"], data["status"], _time(data["expiresAt"]))


@dataclass(frozen=True)
class AutoTopUp:
    """An item's auto top-up: ``quantity`` of the product is bought when a change takes
    ``available`` from above ``threshold`` to at or below it (at most ``max_per_month`` a
    calendar month); a declined charge turns it off with ``disabled_reason``."""

    threshold: int
    product_id: str
    price_id: str | None
    quantity: int
    max_per_month: int
    enabled: bool
    last_triggered_at: datetime | None
    disabled_reason: str | None

    @classmethod
    def of(cls, data: dict[str, Any]) -> AutoTopUp:
        return cls(data["threshold"], data["productId"], data["priceId"], data["quantity"],
                   data["maxPerMonth"], data["enabled"], _time(data["lastTriggeredAt"]),
                   data["disabledReason"])


@dataclass(frozen=True)
class ScheduledChange:
    """The plan a subscription moves to at its period end (``at``)."""

    to_product_id: str
    to_price_id: str | None
    at: datetime

    @classmethod
    def of(cls, data: dict[str, Any]) -> ScheduledChange:
        return cls(data["toProductId"], data["toPriceId"], datetime.fromisoformat(data["at"]))


@dataclass(frozen=True)
class Subscription:
    """``quantity`` is its seats; ``scheduled_change`` the plan change waiting for the period
    end (None when none); ``migrated_at`` when a price migration moved it onto its price."""

    id: str
    status: str
    product_id: str | None
    price_id: str | None
    quantity: int
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    canceled_at: datetime | None
    ended_at: datetime | None
    trial_ends_at: datetime | None
    created_at: datetime
    has_access: bool
    scheduled_change: ScheduledChange | None = None
    migrated_at: datetime | None = None

    @classmethod
    def of(cls, data: dict[str, Any]) -> Subscription:
        scheduled = data.get("scheduledChange")
        return cls(
            data["id"],
            data["status"],
            data["productId"],
            data["priceId"],
            data["quantity"],
            datetime.fromisoformat(data["currentPeriodStart"]),
            datetime.fromisoformat(data["currentPeriodEnd"]),
            data["cancelAtPeriodEnd"],
            _time(data["canceledAt"]),
            _time(data["endedAt"]),
            _time(data["trialEndsAt"]),
            datetime.fromisoformat(data["createdAt"]),
            data["hasAccess"],
            ScheduledChange.of(scheduled) if scheduled else None,
            _time(data.get("migratedAt")),
        )


@dataclass(frozen=True)
class SwitchOption:
    product_id: str
    display_name: str


@dataclass(frozen=True)
class OwnedProduct:
    """One product the customer owns; ``quantity`` sums stackable purchases."""

    product_id: str | None
    display_name: str
    quantity: int
    type: str
    subscription: Subscription | None
    switch_options: list[SwitchOption]

    @classmethod
    def of(cls, data: dict[str, Any]) -> OwnedProduct:
        subscription = data["subscription"]
        return cls(
            data["productId"],
            data["displayName"],
            data["quantity"],
            data["type"],
            Subscription.of(subscription) if subscription else None,
            [SwitchOption(o["productId"], o["displayName"]) for o in data["switchOptions"]],
        )


@dataclass(frozen=True)
class Money:
    currency: str
    amount: str
    minor_units: int


@dataclass(frozen=True)
class Price:
    price_id: str
    amounts: list[Money]
    interval: tuple[str, int] | None  # ("MONTH", 1); None for a one-time price

    @classmethod
    def of(cls, data: dict[str, Any]) -> Price:
        interval = data["interval"]
        return cls(
            data["priceId"],
            [Money(m["currency"], m["amount"], m["minorUnits"]) for m in data["amounts"]],
            (interval["unit"], interval["count"]) if interval else None,
        )


@dataclass(frozen=True)
class Product:
    """A catalog product."""

    id: str
    product_id: str
    display_name: str
    customer_type: CustomerType
    product_line_id: str | None
    prices: list[Price]
    stackable: bool
    included_by_default: bool

    @classmethod
    def of(cls, data: dict[str, Any]) -> Product:
        line = data["productLine"]
        return cls(
            data["id"],
            data["productId"],
            data["displayName"],
            data["customerType"],
            line["productLineId"] if line else None,
            [Price.of(p) for p in data["prices"]],
            data["stackable"],
            data["includedByDefault"],
        )


@dataclass(frozen=True)
class Invoice:
    id: str
    status: str
    amount_total: int  # minor units (JPY: yen)
    currency: str
    created_at: datetime
    paid_at: datetime | None
    hosted_invoice_url: str
    number: str | None = None  # INV-2026-000042; None while DRAFT
    pdf_url: str = ""  # the invoice as a PDF (absolute)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Invoice:
        return cls(
            data["id"],
            data["status"],
            data["amountTotal"],
            data["currency"],
            datetime.fromisoformat(data["createdAt"]),
            _time(data["paidAt"]),
            data["hostedInvoiceUrl"],
            data.get("number"),
            data.get("pdfUrl") or "",
        )


@dataclass(frozen=True)
class InvoiceLine:
    kind: str  # plan | proration_credit | proration_debit | credit
    description: str
    amount: int  # minor units; negative for credits


@dataclass(frozen=True)
class SwitchPreview:
    """What ``switch_subscription`` would do now (nothing is written)."""

    currency: str
    amount_due_now: int  # minor units charged at once (0 for a downgrade)
    credit_to_account: int  # minor units kept as account credit (0 for an upgrade)
    lines: list[InvoiceLine]

    @classmethod
    def of(cls, data: dict[str, Any]) -> SwitchPreview:
        return cls(
            data["currency"],
            data["amountDueNow"],
            data["creditToAccount"],
            [InvoiceLine(line["kind"], line["description"], line["amount"]) for line in data["lines"]],
        )


@dataclass(frozen=True)
class PaymentMethod:
    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class Billing:
    has_customer: bool
    default_payment_method: PaymentMethod | None

    @classmethod
    def of(cls, data: dict[str, Any]) -> Billing:
        card = data["defaultPaymentMethod"]
        return cls(
            data["hasCustomer"],
            PaymentMethod(card["id"], card["brand"], card["last4"], card["expMonth"], card["expYear"])
            if card
            else None,
        )


@dataclass(frozen=True)
class GrantResult:
    owned_product: OwnedProduct | None
    subscription: Subscription | None  # set when the product is a subscription


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; pass ``next_cursor`` as ``cursor`` for the next (None: the last)."""

    items: list[T]
    next_cursor: str | None
