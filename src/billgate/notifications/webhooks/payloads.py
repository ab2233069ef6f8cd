"""The ``data`` of each event type, built from the rows billing holds at its commit point.

Field names are the camelCase names of the matching GraphQL types (API.md), ids are the
same Relay global ids the API returns (so a receiver can pass them to ``node(id:)``), money
is integer minor units with its currency (never a float), times are ISO 8601 with zone.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from billgate.db.models import (
    CheckoutSession,
    Customer,
    Invoice,
    Purchase,
    ScheduledChange,
    Transaction,
)


def global_id(type_name: str, node_id: object) -> str:
    """The encoding of ``graphql.ids.global_id`` (this layer may not import graphql/)."""
    return base64.urlsafe_b64encode(f"{type_name}:{node_id}".encode()).decode().rstrip("=")


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def customer(row: Customer) -> dict[str, Any]:
    return {"type": row.type, "customerId": row.customer_id, "createdAt": _time(row.created_at)}


def subscription(row: Purchase) -> dict[str, Any]:
    """A ``CustomerSubscription`` as sold (the purchase's snapshot of product and price)."""
    return {
        "id": global_id("CustomerSubscription", row.id),
        "status": row.status,
        "productId": row.product_id,
        "priceId": row.price_id,
        "quantity": row.quantity,
        "product": {"productId": row.product_id,
                    "displayName": (row.product or {}).get("displayName")},
        "currency": row.currency,
        "unitAmount": row.unit_amount,
        "currentPeriodStart": _time(row.current_period_start),
        "currentPeriodEnd": _time(row.current_period_end),
        "cancelAtPeriodEnd": row.cancel_at_period_end,
        "canceledAt": _time(row.canceled_at),
        "endedAt": _time(row.ended_at),
        "trialEndsAt": _time(row.trial_ends_at),
        "createdAt": _time(row.created_at),
    }


def scheduled_change(row: ScheduledChange | None) -> dict[str, Any] | None:
    """A subscription's pending ``ScheduledChange`` (null when none)."""
    if row is None:
        return None
    return {"toProductId": row.to_product_id, "toPriceId": row.to_price_id, "at": _time(row.at)}


def owned_product(row: Purchase) -> dict[str, Any]:
    return {"productId": row.product_id, "displayName": (row.product or {}).get("displayName"),
            "quantity": row.quantity, "type": row.kind}


def invoice(row: Invoice, *, base_url: str = "") -> dict[str, Any]:
    """Without ``base_url`` (billing code that does not know it) the hosted link is left
    relative and made absolute when the event is sent (``with_base_url``)."""
    return {
        "id": global_id("Invoice", row.id),
        "status": row.status,
        "amountTotal": row.amount_total,
        "currency": row.currency,
        "createdAt": _time(row.created_at),
        "paidAt": _time(row.paid_at),
        "hostedInvoiceUrl": f"{base_url}/invoices/{row.public_id}",
        "number": row.number,
        "pdfUrl": f"{base_url}/invoices/{row.public_id}/pdf",
        "subscriptionId": global_id("CustomerSubscription", row.purchase_id)
        if row.purchase_id else None,
        "lines": [dict(line) for line in row.lines or []],
    }


LINK_FIELDS = ("hostedInvoiceUrl", "pdfUrl")


def with_base_url(value: Any, base_url: str) -> Any:
    """``value`` with every relative link field (``/invoices/...``) made absolute."""
    if isinstance(value, dict):
        return {k: (base_url + v if k in LINK_FIELDS and isinstance(v, str) and v.startswith("/")
                    else with_base_url(v, base_url)) for k, v in value.items()}
    if isinstance(value, list):
        return [with_base_url(v, base_url) for v in value]
    return value


def transaction(row: Transaction) -> dict[str, Any]:
    return {
        "id": global_id("Transaction", row.id),
        "kind": row.kind,
        "amount": row.amount,
        "currency": row.currency,
        "quantity": row.quantity,
        "productId": (row.product or {}).get("productId"),
        "createdAt": _time(row.created_at),
        "testMode": row.test_mode,
        "refundedAmount": row.refunded_amount,
    }


def checkout(row: CheckoutSession) -> dict[str, Any]:
    return {"checkoutId": row.code, "productId": row.product_id, "priceId": row.price_id,
            "currency": row.currency, "quantity": row.quantity,
            "completedAt": _time(row.completed_at)}
