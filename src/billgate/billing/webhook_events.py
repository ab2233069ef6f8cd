"""Which outgoing webhook events each billing commit point writes, so every call site is
one line inside its transaction (the events are an outbox: they commit or roll back with
the change). The payloads and the outbox are in ``notifications.webhooks``.

Wired today: checkout completion, renewal (and trial-end) charges paid or failed, a
subscription ending (whatever ended it), refunds made through billgate or recorded from
Stripe, a customer's first reference, plan switches, pause/resume, cancel at period end and
its undo, server grants of a plan, seat changes, scheduled plan changes (made and canceled:
``subscription.updated`` with ``scheduledChange``; applied: canceled + created). A plan
replaced by a purchase of its line is reported as ``subscription.canceled``
(``previousStatus`` null).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import payment_settings
from billgate.db.models import CheckoutSession, Customer, Invoice, Purchase, Transaction
from billgate.notifications.webhooks import emit


async def customer_created(session: AsyncSession, customer: Customer, *, now: datetime) -> None:
    """``customer.created``, when the first reference to a customer inserted its row."""
    test_mode = (await payment_settings.load(session)).test_mode
    await emit.customer_created(session, customer, now=now, test_mode=test_mode)


async def checkout_recorded(session: AsyncSession, customer: Customer, checkout: CheckoutSession,
                            purchase: Purchase, invoice: Invoice | None, *, now: datetime,
                            test_mode: bool) -> None:
    """``checkout.completed``, then ``subscription.created`` for a plan and ``invoice.paid``
    when something was charged (a trial start charges nothing)."""
    await emit.checkout_completed(session, customer, checkout, purchase, invoice, now=now,
                                  test_mode=test_mode)
    await _started(session, customer, purchase, now=now, test_mode=test_mode)
    if invoice is not None:
        await emit.invoice_paid(session, customer, invoice, now=now, test_mode=test_mode)


async def checkout_completed(session: AsyncSession, customer: Customer,
                             checkout: CheckoutSession, purchase: Purchase, *, now: datetime,
                             test_mode: bool) -> None:
    """``checkout.completed`` alone: a checkout that changed plan, whose switch recorded
    its subscription and invoice events."""
    await emit.checkout_completed(session, customer, checkout, purchase, None, now=now,
                                  test_mode=test_mode)


async def product_granted(session: AsyncSession, customer: Customer, purchase: Purchase, *,
                          now: datetime) -> None:
    """``subscription.created`` when a server grant started a plan (nothing is charged)."""
    test_mode = (await payment_settings.load(session)).test_mode
    await _started(session, customer, purchase, now=now, test_mode=test_mode)


async def _started(session: AsyncSession, customer: Customer, purchase: Purchase, *,
                   now: datetime, test_mode: bool) -> None:
    """A new plan replaces the customer's plan of the same line: ``subscription.canceled``
    for the one it replaced, then ``subscription.created``."""
    if purchase.kind != "SUBSCRIPTION":
        return
    replaced = await session.scalars(select(Purchase).where(
        Purchase.replaced_by_id == purchase.id, Purchase.kind == "SUBSCRIPTION"))
    for old in replaced:
        await emit.subscription_canceled(session, customer, old, now=now, test_mode=test_mode)
    await emit.subscription_created(session, customer, purchase, now=now, test_mode=test_mode)


async def period_paid(session: AsyncSession, customer: Customer, sub: Purchase, invoice: Invoice, *,
                      previous_status: str, now: datetime, test_mode: bool, base_url: str) -> None:
    """A renewal or trial-end charge went through: ``invoice.paid``, then
    ``subscription.updated`` (new period; status back to ACTIVE from TRIALING/PAST_DUE)."""
    await emit.invoice_paid(session, customer, invoice, now=now, test_mode=test_mode,
                            base_url=base_url)
    await emit.subscription_updated(session, customer, sub, now=now, test_mode=test_mode,
                                    previous_status=previous_status)


async def charge_failed(session: AsyncSession, customer: Customer, sub: Purchase, invoice: Invoice, *,
                        previous_status: str, message: str, now: datetime, test_mode: bool,
                        base_url: str) -> None:
    """``invoice.payment_failed``, and ``subscription.updated`` when it became PAST_DUE."""
    await emit.invoice_payment_failed(session, customer, invoice, now=now, test_mode=test_mode,
                                      base_url=base_url, failure_message=message,
                                      next_retry_at=sub.next_retry_at)
    if sub.status != previous_status:
        await emit.subscription_updated(session, customer, sub, now=now, test_mode=test_mode,
                                        previous_status=previous_status)


async def subscription_changed(session: AsyncSession, sub: Purchase, *, previous_status: str,
                               now: datetime, test_mode: bool | None = None) -> None:
    """``subscription.updated`` for a change made by hand: cancel at period end and its
    undo, pause, resume."""
    customer = await session.get(Customer, sub.customer_pk)
    assert customer is not None
    if test_mode is None:
        test_mode = (await payment_settings.load(session)).test_mode
    await emit.subscription_updated(session, customer, sub, now=now, test_mode=test_mode,
                                    previous_status=previous_status)


async def plan_switched(session: AsyncSession, customer: Customer, old: Purchase, new: Purchase,
                        invoice: Invoice, *, previous_status: str, now: datetime,
                        test_mode: bool) -> None:
    """A switch replaces the subscription: ``subscription.canceled`` for the old plan,
    ``subscription.created`` for the new one, ``invoice.paid`` when the proration charged."""
    await emit.subscription_canceled(session, customer, old, now=now, test_mode=test_mode,
                                     previous_status=previous_status)
    await emit.subscription_created(session, customer, new, now=now, test_mode=test_mode)
    if invoice.amount_total > 0:
        await emit.invoice_paid(session, customer, invoice, now=now, test_mode=test_mode)


async def quantity_changed(session: AsyncSession, customer: Customer, sub: Purchase,
                           invoice: Invoice | None, *, previous_quantity: int,
                           previous_status: str, now: datetime, test_mode: bool) -> None:
    """Seats changed (``subscriptions/seats.py``): ``subscription.updated`` with the new
    ``quantity`` and ``previousQuantity``, then ``invoice.paid`` when more seats were
    charged."""
    await emit.subscription_quantity_updated(session, customer, sub, now=now, test_mode=test_mode,
                                             previous_status=previous_status,
                                             previous_quantity=previous_quantity)
    if invoice is not None and invoice.amount_total > 0:
        await emit.invoice_paid(session, customer, invoice, now=now, test_mode=test_mode)


async def scheduled_change_applied(session: AsyncSession, customer: Customer, old: Purchase,
                                   new: Purchase, *, previous_status: str, now: datetime,
                                   test_mode: bool) -> None:
    """A scheduled change applied at the period end: ``subscription.canceled`` for the old
    plan, ``subscription.created`` for the new one (its renewal reports the payment)."""
    await emit.subscription_canceled(session, customer, old, now=now, test_mode=test_mode,
                                     previous_status=previous_status)
    await emit.subscription_created(session, customer, new, now=now, test_mode=test_mode)


async def subscription_ended(session: AsyncSession, customer: Customer, sub: Purchase, *,
                             previous_status: str, now: datetime, test_mode: bool) -> None:
    await emit.subscription_canceled(session, customer, sub, now=now, test_mode=test_mode,
                                     previous_status=previous_status)


async def refunded(session: AsyncSession, original: Transaction, *, amount: int,
                   now: datetime) -> None:
    """``transaction.refunded`` for ``amount`` minor units of ``original``."""
    customer = await session.get(Customer, original.customer_pk)
    assert customer is not None
    await emit.transaction_refunded(session, customer, original, amount=amount, now=now,
                                    test_mode=original.test_mode)
