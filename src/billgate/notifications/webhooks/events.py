"""The webhook outbox: ``record_event`` writes an event and one PENDING delivery per
matching enabled endpoint inside the caller's transaction. A change that rolls back emits
nothing; a change that commits always emits, even if the process dies right after, since
the scheduler delivers from these rows (``delivery``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.db.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from billgate.types import CustomerRef

CUSTOMER_CREATED = "customer.created"
CHECKOUT_COMPLETED = "checkout.completed"
SUBSCRIPTION_CREATED = "subscription.created"
SUBSCRIPTION_UPDATED = "subscription.updated"
SUBSCRIPTION_CANCELED = "subscription.canceled"
INVOICE_PAID = "invoice.paid"
INVOICE_PAYMENT_FAILED = "invoice.payment_failed"
TRANSACTION_REFUNDED = "transaction.refunded"
ITEM_BALANCE_LOW = "item.balance_low"
PROMO_CODE_REDEEMED = "promo_code.redeemed"
AUTO_TOP_UP_SUCCEEDED = "auto_top_up.succeeded"
AUTO_TOP_UP_FAILED = "auto_top_up.failed"
WEBHOOK_TEST = "webhook.test"

EVENT_TYPES = (
    CUSTOMER_CREATED, CHECKOUT_COMPLETED, SUBSCRIPTION_CREATED, SUBSCRIPTION_UPDATED,
    SUBSCRIPTION_CANCELED, INVOICE_PAID, INVOICE_PAYMENT_FAILED, TRANSACTION_REFUNDED,
    ITEM_BALANCE_LOW, AUTO_TOP_UP_SUCCEEDED, AUTO_TOP_UP_FAILED, WEBHOOK_TEST,
    PROMO_CODE_REDEEMED,
)


def new_event_id() -> str:
    # uuid7 where available keeps ids roughly time-ordered (nicer in receivers' logs).
    make = getattr(uuid, "uuid7", uuid.uuid4)
    return f"evt_{make().hex}"


def customer_key(customer: CustomerRef | None) -> str | None:
    return None if customer is None else f"{customer.type.value}:{customer.customer_id}"


def body(event_id: str, event_type: str, *, customer: CustomerRef | None, data: dict[str, Any],
         now: datetime, test_mode: bool) -> dict[str, Any]:
    """The JSON body every delivery of the event carries (API.md)."""
    return {
        "id": event_id,
        "type": event_type,
        "createdAt": now.isoformat(),
        "testMode": test_mode,
        "customer": None if customer is None else {"type": customer.type.value,
                                                   "customerId": customer.customer_id},
        "data": data,
    }


def wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    """Empty ``event_types`` means every type. ``webhook.test`` only goes where it is sent."""
    if event_type == WEBHOOK_TEST:
        return False
    return not endpoint.event_types or event_type in endpoint.event_types


async def record_event(session: AsyncSession, *, event_type: str, customer: CustomerRef | None,
                       data: dict[str, Any], now: datetime, test_mode: bool,
                       endpoint_ids: list[int] | None = None) -> WebhookEvent:
    """Write one event and its deliveries in the caller's transaction (never commits).

    Deliveries go to every enabled endpoint whose ``event_types`` match, or, with
    ``endpoint_ids`` (``sendTestWebhook``), to exactly those. An event no endpoint wants is
    still kept (it documents what happened; ``redeliverWebhook`` needs nothing more)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    event_id = new_event_id()
    event = WebhookEvent(
        event_id=event_id, type=event_type,
        customer_type=customer.type.value if customer else None,
        customer_id=customer.customer_id if customer else None,
        payload=body(event_id, event_type, customer=customer, data=data, now=now,
                     test_mode=test_mode),
        test_mode=test_mode, created_at=now)
    session.add(event)
    if endpoint_ids is None:
        endpoints = (await session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True)))).all()
        endpoint_ids = [e.id for e in endpoints if wants(e, event_type)]
    await session.flush()  # the event's id, for its deliveries
    key = customer_key(customer)
    for endpoint_id in endpoint_ids:
        session.add(WebhookDelivery(event_pk=event.id, endpoint_id=endpoint_id, customer_key=key,
                                    status="PENDING", attempts=0, next_attempt_at=now,
                                    created_at=now))
    await session.flush()
    return event
