"""One function per billing event type, for billing's unit of work to call at its commit
point, inside its transaction (``record_event`` never commits). Each takes the rows as
they are after the change, ``now`` (the billing clock) and ``test_mode``.

    from billgate.notifications.webhooks import emit
    await emit.invoice_paid(session, customer, invoice, now=now, test_mode=test_mode,
                            base_url=billing.base_url)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.db.models import (
    CheckoutSession,
    Customer,
    Invoice,
    Purchase,
    ScheduledChange,
    Transaction,
    WebhookEvent,
)
from billgate.notifications.webhooks import events, payloads
from billgate.types import CustomerRef, CustomerType


def _ref(row: Customer) -> CustomerRef:
    return CustomerRef(CustomerType(row.type), row.customer_id)


async def customer_created(session: AsyncSession, customer: Customer, *, now: datetime,
                           test_mode: bool) -> WebhookEvent:
    return await events.record_event(
        session, event_type=events.CUSTOMER_CREATED, customer=_ref(customer),
        data={"customer": payloads.customer(customer)}, now=now, test_mode=test_mode)


async def checkout_completed(session: AsyncSession, customer: Customer, checkout: CheckoutSession,
                             purchase: Purchase, invoice: Invoice | None, *, now: datetime,
                             test_mode: bool, base_url: str = "") -> WebhookEvent:
    """A hosted checkout finished: what was bought, the subscription (if one) and the
    invoice (null for a trial start, which charges nothing)."""
    data = {
        "checkout": payloads.checkout(checkout),
        "ownedProduct": payloads.owned_product(purchase),
        "subscription": payloads.subscription(purchase) if purchase.kind == "SUBSCRIPTION" else None,
        "invoice": payloads.invoice(invoice, base_url=base_url) if invoice is not None else None,
    }
    return await events.record_event(session, event_type=events.CHECKOUT_COMPLETED,
                                     customer=_ref(customer), data=data, now=now,
                                     test_mode=test_mode)


async def _subscription_event(session: AsyncSession, event_type: str, customer: Customer,
                              purchase: Purchase, *, now: datetime, test_mode: bool,
                              previous_status: str | None) -> WebhookEvent:
    subscription = payloads.subscription(purchase)
    subscription["scheduledChange"] = payloads.scheduled_change(await session.scalar(
        select(ScheduledChange).where(ScheduledChange.purchase_id == purchase.id,
                                      ScheduledChange.status == "PENDING")))
    data = {"subscription": subscription, "previousStatus": previous_status}
    return await events.record_event(session, event_type=event_type, customer=_ref(customer),
                                     data=data, now=now, test_mode=test_mode)


async def subscription_created(session: AsyncSession, customer: Customer, purchase: Purchase, *,
                               now: datetime, test_mode: bool) -> WebhookEvent:
    return await _subscription_event(session, events.SUBSCRIPTION_CREATED, customer, purchase,
                                     now=now, test_mode=test_mode, previous_status=None)


async def subscription_updated(session: AsyncSession, customer: Customer, purchase: Purchase, *,
                               now: datetime, test_mode: bool,
                               previous_status: str | None = None) -> WebhookEvent:
    """Any change of status, plan, period (a renewal), cancelAtPeriodEnd or pause."""
    return await _subscription_event(session, events.SUBSCRIPTION_UPDATED, customer, purchase,
                                     now=now, test_mode=test_mode, previous_status=previous_status)


async def subscription_quantity_updated(session: AsyncSession, customer: Customer,
                                        purchase: Purchase, *, now: datetime, test_mode: bool,
                                        previous_status: str, previous_quantity: int) -> WebhookEvent:
    """``subscription.updated`` for a change of seats: the subscription (with its new
    ``quantity``) and the quantity it had, ``previousQuantity``."""
    data = {"subscription": payloads.subscription(purchase), "previousStatus": previous_status,
            "previousQuantity": previous_quantity}
    return await events.record_event(session, event_type=events.SUBSCRIPTION_UPDATED,
                                     customer=_ref(customer), data=data, now=now,
                                     test_mode=test_mode)


async def subscription_canceled(session: AsyncSession, customer: Customer, purchase: Purchase, *,
                                now: datetime, test_mode: bool,
                                previous_status: str | None = None) -> WebhookEvent:
    """The subscription ended (status CANCELED), whatever ended it."""
    return await _subscription_event(session, events.SUBSCRIPTION_CANCELED, customer, purchase,
                                     now=now, test_mode=test_mode, previous_status=previous_status)


async def invoice_paid(session: AsyncSession, customer: Customer, invoice: Invoice, *,
                       now: datetime, test_mode: bool, base_url: str = "") -> WebhookEvent:
    return await events.record_event(
        session, event_type=events.INVOICE_PAID, customer=_ref(customer),
        data={"invoice": payloads.invoice(invoice, base_url=base_url)}, now=now,
        test_mode=test_mode)


async def invoice_payment_failed(session: AsyncSession, customer: Customer, invoice: Invoice, *,
                                 now: datetime, test_mode: bool, base_url: str = "",
                                 failure_message: str | None = None,
                                 next_retry_at: datetime | None = None) -> WebhookEvent:
    data = {"invoice": payloads.invoice(invoice, base_url=base_url),
            "failureMessage": failure_message,
            "nextRetryAt": next_retry_at.isoformat() if next_retry_at else None}
    return await events.record_event(session, event_type=events.INVOICE_PAYMENT_FAILED,
                                     customer=_ref(customer), data=data, now=now,
                                     test_mode=test_mode)


async def transaction_refunded(session: AsyncSession, customer: Customer, transaction: Transaction,
                               *, amount: int, now: datetime, test_mode: bool) -> WebhookEvent:
    """``amount``: minor units refunded by this refund (``refundedAmount`` is the total)."""
    data = {"transaction": payloads.transaction(transaction), "amount": amount,
            "currency": transaction.currency}
    return await events.record_event(session, event_type=events.TRANSACTION_REFUNDED,
                                     customer=_ref(customer), data=data, now=now,
                                     test_mode=test_mode)


async def item_balance_low(session: AsyncSession, customer: CustomerRef, *, item_id: str,
                           quantity: int, threshold: int, now: datetime,
                           test_mode: bool) -> WebhookEvent:
    return await events.record_event(
        session, event_type=events.ITEM_BALANCE_LOW, customer=customer,
        data={"itemId": item_id, "quantity": quantity, "threshold": threshold}, now=now,
        test_mode=test_mode)


async def auto_top_up_succeeded(session: AsyncSession, customer: Customer, *, item_id: str,
                                auto_top_up: dict[str, object], purchase: Purchase,
                                invoice: Invoice, now: datetime,
                                test_mode: bool) -> WebhookEvent:
    """An auto top-up bought its product: the settings, what was bought and its invoice."""
    data = {"itemId": item_id, "autoTopUp": auto_top_up,
            "ownedProduct": payloads.owned_product(purchase), "invoice": payloads.invoice(invoice)}
    return await events.record_event(session, event_type=events.AUTO_TOP_UP_SUCCEEDED,
                                     customer=_ref(customer), data=data, now=now,
                                     test_mode=test_mode)


async def auto_top_up_failed(session: AsyncSession, customer: Customer, *, item_id: str,
                             auto_top_up: dict[str, object], reason: str, now: datetime,
                             test_mode: bool) -> WebhookEvent:
    """An auto top-up could not buy (a declined charge, a product no longer sold): it is
    turned off (``autoTopUp.enabled`` false, ``disabledReason``)."""
    data = {"itemId": item_id, "autoTopUp": auto_top_up, "reason": reason}
    return await events.record_event(session, event_type=events.AUTO_TOP_UP_FAILED,
                                     customer=_ref(customer), data=data, now=now,
                                     test_mode=test_mode)
