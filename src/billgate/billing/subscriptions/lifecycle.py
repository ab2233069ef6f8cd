"""Subscriptions through time: trial ends, renewals, dunning retries, period-end cancels
and automatic resumes. The scheduler calls ``process_due`` for every subscription whose
``next_action_at`` has come; ``advanceTestClock`` does the same in time order.

A charge runs in three steps so no database transaction waits on the processor, and a job
that dies mid-way can never charge twice:
1. claim the subscription (a lease) and fix the invoice and its attempt key; commit;
2. charge through the rails with that key (the processor deduplicates on it);
3. record the outcome: PAID and the next period, or PAST_DUE and the next retry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import invoices, items, webhook_events
from billgate.billing.calendar import add_interval
from billgate.billing.payment_settings import PaymentSettings
from billgate.billing.purchases import fulfil
from billgate.billing.subscriptions.states import (
    ACTIVE,
    CANCELED,
    PAST_DUE,
    PAUSED,
    TRIALING,
    transition,
)
from billgate.clock import utcnow
from billgate.db.engine import Database
from billgate.db.models import Customer, Invoice, Purchase, Transaction
from billgate.notifications import outbox
from billgate.payments.rails import ChargeRequest, PaymentRails
from billgate.types import CustomerRef, CustomerType

LEASE = timedelta(seconds=60)


@dataclass
class Billing:
    """What billing work needs from the process."""

    db: Database
    rails: PaymentRails
    test_mode: bool
    settings: PaymentSettings
    base_url: str
    publish: items.Publish | None = None
    events: list[items.ChangeEvent] = field(default_factory=list)


async def due_subscriptions(session: AsyncSession, *, now: datetime,
                            limit: int = 100) -> list[tuple[int, datetime]]:
    """(id, due time) of subscriptions with work due, earliest first."""
    rows = await session.execute(
        select(Purchase.id, Purchase.next_action_at)
        .where(Purchase.kind == "SUBSCRIPTION", Purchase.next_action_at <= now)
        .order_by(Purchase.next_action_at, Purchase.id).limit(limit))
    return [(row[0], row[1]) for row in rows if row[1] is not None]


async def _claim(session: AsyncSession, purchase_id: int, now: datetime) -> Purchase | None:
    """Lease the subscription if its work is due and no other process holds it. Leases run
    on real time: they guard against other processes, not against the billing clock."""
    real = utcnow()
    result = await session.execute(
        update(Purchase)
        .where(Purchase.id == purchase_id, Purchase.next_action_at <= now,
               or_(Purchase.lease_until.is_(None), Purchase.lease_until < real))
        .values(lease_until=real + LEASE)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return await session.get(Purchase, purchase_id, populate_existing=True)


async def process_due(billing: Billing, purchase_id: int, *, now: datetime) -> bool:
    """Do whatever is due for one subscription at ``now``; False when another process
    holds it (or nothing was due any more)."""
    charge: tuple[int, str, int, str, str | None] | None = None
    async with billing.db.session() as session, session.begin():
        sub = await _claim(session, purchase_id, now)
        if sub is None:
            return False
        customer = await session.get(Customer, sub.customer_pk)
        assert customer is not None
        charge = await _prepare(billing, session, customer, sub, now=now)
    if charge is not None:
        invoice_id, key, amount, currency, payment_method = charge
        result = await billing.rails.charge(ChargeRequest(
            customer=CustomerRef(CustomerType(customer.type), customer.customer_id), amount=amount,
            currency=currency, description=f"Renewal of {sub.product['displayName']}",
            idempotency_key=key, payment_method=payment_method, off_session=True))
        async with billing.db.session() as session, session.begin():
            sub = await session.get(Purchase, purchase_id, populate_existing=True)
            invoice = await session.get(Invoice, invoice_id)
            customer = await session.get(Customer, sub.customer_pk)  # type: ignore[union-attr]
            assert sub is not None and invoice is not None and customer is not None
            if result.succeeded:
                await _paid(billing, session, customer, sub, invoice, now=now,
                            reference=result.reference)
            else:
                await _failed(billing, session, customer, sub, invoice, now=now,
                              message=result.failure_message or "the payment failed")
            sub.lease_until = None
    await flush_events(billing)
    return True


async def flush_events(billing: Billing) -> None:
    """Publish the item events collected by committed work."""
    if billing.publish and billing.events:
        events, billing.events = billing.events, []
        await billing.publish(events)


async def _prepare(billing: Billing, session: AsyncSession, customer: Customer, sub: Purchase, *,
                   now: datetime) -> tuple[int, str, int, str, str | None] | None:
    """Handle what needs no charge; for a charge, fix its invoice and attempt key."""
    if sub.status == PAUSED:
        await _resume_at(billing, session, customer, sub, now=now)
        return None
    if sub.status in (ACTIVE, TRIALING) and sub.cancel_at_period_end:
        await end_subscription(billing, session, customer, sub,
                               at=sub.current_period_end or now)
        return None
    if sub.status not in (ACTIVE, TRIALING, PAST_DUE):
        sub.next_action_at = None
        sub.lease_until = None
        return None
    invoice = await _open_invoice(session, sub, now=now)
    if invoice.amount_total == 0:
        await _paid(billing, session, customer, sub, invoice, now=now, reference=None)
        sub.lease_until = None
        return None
    if invoice.pending_charge_key is None:
        invoice.attempt_count += 1
        invoice.pending_charge_key = f"billgate:invoice:{invoice.public_id}:{invoice.attempt_count}"
    method = (customer.default_payment_method or {}).get("id")
    return invoice.id, invoice.pending_charge_key, invoice.amount_total, invoice.currency, method


def next_period(sub: Purchase) -> tuple[datetime, datetime]:
    """The period the next charge pays for, counted from the anchor on the calendar."""
    assert sub.billing_anchor_at is not None and sub.price is not None
    interval = sub.price["interval"]
    return (add_interval(sub.billing_anchor_at, interval, sub.periods_billed),
            add_interval(sub.billing_anchor_at, interval, sub.periods_billed + 1))


async def _open_invoice(session: AsyncSession, sub: Purchase, *, now: datetime) -> Invoice:
    if sub.open_invoice_id is not None:
        invoice = await session.get(Invoice, sub.open_invoice_id)
        if invoice is not None and invoice.status == "OPEN":
            return invoice
    start, end = next_period(sub)
    amount = (sub.unit_amount or 0) * sub.quantity
    invoice = invoices.new_invoice(sub.customer_pk, sub, currency=sub.currency or "USD",
                                   lines=[invoices.plan_line(sub, start=start, end=end, amount=amount)],
                                   now=now)
    await invoices.apply_credit(session, invoice)
    session.add(invoice)
    await session.flush()
    sub.open_invoice_id = invoice.id
    return invoice


async def _paid(billing: Billing, session: AsyncSession, customer: Customer, sub: Purchase,
                invoice: Invoice, *, now: datetime, reference: str | None) -> None:
    """The period is paid: advance it, clear dunning, record the transaction, send a receipt."""
    previous_status = sub.status
    start, end = next_period(sub)
    invoices.mark_paid(invoice, now=now, reference=reference)
    kind = "purchase" if sub.status == TRIALING else "renewal"
    transaction = Transaction(customer_pk=customer.id, purchase_id=sub.id, kind=kind,
                              amount=invoice.amount_total, currency=invoice.currency,
                              quantity=sub.quantity, product=sub.product,
                              test_mode=billing.test_mode, payment_reference=reference, created_at=now)
    session.add(transaction)
    await session.flush()
    invoice.transaction_id = transaction.id
    if sub.status != ACTIVE:
        transition(sub, ACTIVE, now=now)
    sub.current_period_start, sub.current_period_end = start, end
    sub.periods_billed += 1
    sub.past_due_since = sub.next_retry_at = None
    sub.retry_count = 0
    sub.open_invoice_id = None
    sub.next_action_at = end
    if invoice.amount_total > 0:
        outbox.enqueue(session, customer, outbox.RECEIPT,
                       invoices.receipt_context(customer, invoice, billing.base_url), now=now)
    await webhook_events.period_paid(session, customer, sub, invoice, previous_status=previous_status,
                                     now=now, test_mode=billing.test_mode, base_url=billing.base_url)


async def _failed(billing: Billing, session: AsyncSession, customer: Customer, sub: Purchase,
                  invoice: Invoice, *, now: datetime, message: str) -> None:
    """A failed charge: PAST_DUE with the next retry, or canceled after the last one."""
    invoice.pending_charge_key = None
    previous_status = sub.status
    retry_days = billing.settings.dunning_retry_days
    if sub.status != PAST_DUE:
        transition(sub, PAST_DUE, now=now)
        sub.past_due_since = now
        sub.retry_count = 0
    else:
        sub.retry_count += 1
    final = sub.retry_count >= len(retry_days)
    if not final:
        assert sub.past_due_since is not None
        sub.next_retry_at = sub.past_due_since + timedelta(days=retry_days[sub.retry_count])
        sub.next_action_at = sub.next_retry_at
    context = {**invoices.receipt_context(customer, invoice, billing.base_url), "reason": message,
               "final": final,
               "next_retry_at": None if final or sub.next_retry_at is None else sub.next_retry_at.isoformat()}
    outbox.enqueue(session, customer, outbox.PAYMENT_FAILED, context, now=now)
    await webhook_events.charge_failed(session, customer, sub, invoice, previous_status=previous_status,
                                       message=message, now=now, test_mode=billing.test_mode,
                                       base_url=billing.base_url)
    if final:
        invoice.status = "UNCOLLECTIBLE"
        sub.open_invoice_id = None
        await end_subscription(billing, session, customer, sub, at=now)


async def end_subscription(billing: Billing, session: AsyncSession, customer: Customer,
                           sub: Purchase, *, at: datetime) -> None:
    """CANCELED at ``at``: items of the plan expire per their rules, the line's included
    product returns, nothing more is due."""
    if sub.open_invoice_id is not None:
        open_invoice = await session.get(Invoice, sub.open_invoice_id)
        if open_invoice is not None and open_invoice.status == "OPEN":
            await invoices.void(session, open_invoice)
        sub.open_invoice_id = None
    previous_status = sub.status
    transition(sub, CANCELED, now=at)
    sub.canceled_at = sub.canceled_at or at
    sub.next_action_at = sub.next_retry_at = sub.lease_until = None
    billing.events += await fulfil.end(session, customer, sub, now=at, status=CANCELED)
    await webhook_events.subscription_ended(session, customer, sub, previous_status=previous_status,
                                            now=at, test_mode=billing.test_mode)


async def _resume_at(billing: Billing, session: AsyncSession, customer: Customer, sub: Purchase, *,
                     now: datetime) -> None:
    """An automatic resume date has come."""
    await resume(billing, session, customer, sub, now=sub.resumes_at or now)
    sub.lease_until = None


async def resume(billing: Billing, session: AsyncSession, customer: Customer, sub: Purchase, *,
                 now: datetime) -> None:
    """Billing restarts with a new period from now, charged at once (the next job run), and
    the plan's items are granted for it."""
    transition(sub, ACTIVE, now=now)
    sub.paused_at = sub.resumes_at = None
    sub.billing_anchor_at = now
    sub.periods_billed = 0
    sub.current_period_start = sub.current_period_end = now
    sub.next_action_at = now
    billing.events += await fulfil.grant_included_items(session, customer, sub, now=now)
