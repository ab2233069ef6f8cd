"""Subscriptions through time: trial ends, renewals, dunning retries, period-end cancels
and automatic resumes. The scheduler calls ``process_due`` for every subscription whose
``next_action_at`` has come; ``advanceTestClock`` does the same in time order.

Each step is a unit of work on the subscription's customer (``billing/unit_of_work.py``):
the customer's lock first, then the subscription read again. A renewal charge follows
``billing/charges.py``: claim (the invoice and its attempt key) -> charge -> record, and the
record re-checks the subscription's version, so a pause or cancel committed while the
charge ran is never undone (the charge is refunded instead).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import charges, invoices, promo_codes, unit_of_work, webhook_events
from billgate.billing.calendar import add_interval
from billgate.billing.context import Billing
from billgate.billing.items import ChangeEvent
from billgate.billing.purchases import fulfil
from billgate.billing.subscriptions import overage_billing, paid_credits, scheduled_changes
from billgate.billing.subscriptions.amounts import period_total
from billgate.billing.subscriptions.states import (
    ACTIVE,
    CANCELED,
    PAST_DUE,
    PAUSED,
    TRIALING,
    transition,
)
from billgate.billing.unit_of_work import UnitOfWork
from billgate.db.models import ChargeClaim, Customer, Invoice, Purchase, Transaction
from billgate.notifications import outbox
from billgate.payments.rails import ChargeResult

__all__ = ["Billing", "process_due", "end_subscription", "begin_resume"]


async def due_subscriptions(session: AsyncSession, *, now: datetime,
                            limit: int = 100) -> list[tuple[int, datetime]]:
    """(id, due time) of subscriptions with work due, earliest first."""
    rows = await session.execute(
        select(Purchase.id, Purchase.next_action_at)
        .where(Purchase.kind == "SUBSCRIPTION", Purchase.next_action_at <= now)
        .order_by(Purchase.next_action_at, Purchase.id).limit(limit))
    return [(row[0], row[1]) for row in rows if row[1] is not None]


async def process_due(billing: Billing, purchase_id: int, *, now: datetime) -> bool:
    """Do whatever is due for one subscription at ``now``; False when nothing was due any
    more or another run is charging it."""
    async with billing.db.read_session() as session:
        customer_pk = await session.scalar(select(Purchase.customer_pk)
                                           .where(Purchase.id == purchase_id))
    if customer_pk is None:
        return False
    done, claim = await unit_of_work.run(billing, customer_pk, partial(_due, billing, purchase_id),
                                         now=now)
    if claim is not None:
        await settle(billing, claim, await charges.charge(billing, claim), now=now)
    return done


async def settle(billing: Billing, claim: ChargeClaim, result: ChargeResult, *,
                 now: datetime) -> charges.Recorded[Purchase]:
    """Record the outcome of a renewal or automatic-resume charge."""
    if claim.operation == charges.RESUME:
        return await charges.record(billing, claim, result, paid=partial(resume_paid, billing),
                                    failed=partial(resume_failed, billing, automatic=True),
                                    stale=void_claimed_invoice, now=now)
    return await charges.record(billing, claim, result, paid=partial(_renewal_paid, billing),
                                failed=partial(_renewal_failed, billing), now=now)


async def _due(billing: Billing, purchase_id: int,
               uow: UnitOfWork) -> tuple[bool, ChargeClaim | None]:
    session, now = uow.session, uow.now
    sub = await session.get(Purchase, purchase_id, populate_existing=True)
    if sub is None or sub.next_action_at is None or sub.next_action_at > now:
        return False, None
    if await charges.pending_for(uow, sub.id) is not None:
        return False, None  # a charge of it is running (or is left to the recovery job)
    if sub.status == PAUSED:
        return True, await begin_resume(uow, billing, sub, at=sub.resumes_at or now)
    if sub.status in (ACTIVE, TRIALING) and sub.cancel_at_period_end:
        await end_subscription(uow, sub, at=sub.current_period_end or now)
        return True, None
    sub = await scheduled_changes.apply_due(uow, sub)  # the new plan's renewal, if one is due
    if sub.status not in (ACTIVE, TRIALING, PAST_DUE):
        sub.next_action_at = None
        return True, None
    invoice = await _open_invoice(session, uow.customer, sub, now=now, events=uow.events)
    if invoice.amount_total == 0:
        await _paid(billing, uow, sub, invoice, reference=None)
        return True, None
    invoice.attempt_count += 1
    claim = await charges.claim(
        uow, billing, operation=charges.RENEWAL, purchase=sub, amount=invoice.amount_total,
        currency=invoice.currency, description=f"Renewal of {sub.product['displayName']}",
        invoice_key=f"billgate:invoice:{invoice.public_id}:{invoice.attempt_count}",
        invoice_id=invoice.id)
    return True, claim


async def _renewal_paid(billing: Billing, uow: UnitOfWork, sub: Purchase,
                        claim: ChargeClaim) -> Purchase:
    invoice = await uow.session.get(Invoice, claim.invoice_id)
    assert invoice is not None
    await _paid(billing, uow, sub, invoice, reference=claim.payment_reference)
    return sub


async def open_invoice_paid(billing: Billing, uow: UnitOfWork, sub: Purchase,
                            claim: ChargeClaim) -> Invoice:
    """The customer paid the open invoice of ``sub`` by hand (``payInvoice``): recorded as
    a paid renewal (ACTIVE again, the period advanced, the held repeats granted)."""
    invoice = await uow.session.get(Invoice, claim.invoice_id)
    assert invoice is not None
    await _paid(billing, uow, sub, invoice, reference=claim.payment_reference)
    return invoice


async def _renewal_failed(billing: Billing, uow: UnitOfWork, sub: Purchase,
                          claim: ChargeClaim) -> None:
    invoice = await uow.session.get(Invoice, claim.invoice_id)
    assert invoice is not None
    await _failed(billing, uow, sub, invoice, message=claim.failure_message or "the payment failed")


async def begin_resume(uow: UnitOfWork, billing: Billing, sub: Purchase, *,
                       at: datetime) -> ChargeClaim | None:
    """Resume a PAUSED subscription with a new period from ``at``, paid first: its invoice
    is claimed for a charge here (None: nothing to charge, resumed at once). The plan's
    items are granted only once the period is paid (``resume_paid``)."""
    session = uow.session
    if sub.open_invoice_id is not None:  # what was unpaid before the pause no longer applies
        await overage_billing.keep_before_void(session, uow.customer, sub, now=uow.now)
        await _void_open_invoice(session, sub)
    assert sub.price is not None
    end = add_interval(at, sub.price["interval"])
    amount = period_total(sub)  # 0 for a granted subscription
    invoice = await invoices.create(session, uow.customer, sub, currency=sub.currency or "USD",
                                    lines=[invoices.plan_line(sub, start=at, end=end, amount=amount),
                                           *await promo_codes.period_lines(
                                               session, sub, period_start=at, subtotal=amount)],
                                    now=uow.now)
    sub.open_invoice_id = invoice.id
    sub.resumes_at = at  # the start of the period being paid for
    if invoice.amount_total == 0:
        await _apply_resume(billing, uow, sub, invoice, reference=None)
        return None
    invoice.attempt_count += 1
    return await charges.claim(
        uow, billing, operation=charges.RESUME, purchase=sub, amount=invoice.amount_total,
        currency=invoice.currency, description=f"Resume {sub.product['displayName']}",
        invoice_id=invoice.id)


async def resume_paid(billing: Billing, uow: UnitOfWork, sub: Purchase,
                       claim: ChargeClaim) -> Purchase:
    invoice = await uow.session.get(Invoice, claim.invoice_id)
    assert invoice is not None
    await _apply_resume(billing, uow, sub, invoice, reference=claim.payment_reference)
    return sub


async def _apply_resume(billing: Billing, uow: UnitOfWork, sub: Purchase, invoice: Invoice, *,
                        reference: str | None) -> None:
    """The first period after a pause is paid: ACTIVE again, periods counted from the
    resume, and the plan's items granted for it."""
    start = sub.resumes_at or uow.now
    sub.billing_anchor_at, sub.periods_billed = start, 0
    await _paid(billing, uow, sub, invoice, reference=reference)
    sub.paused_at = sub.resumes_at = None
    uow.events += await fulfil.grant_included_items(uow.session, uow.customer, sub, now=start)


async def resume_failed(billing: Billing, uow: UnitOfWork, sub: Purchase, claim: ChargeClaim, *,
                         automatic: bool) -> None:
    """A declined resume: still PAUSED, nothing granted, the invoice void. An automatic
    resume is not tried again (the customer is emailed and resumes by hand)."""
    invoice = await void_claimed_invoice(uow, sub, claim)
    if automatic:
        sub.next_action_at = None
        context = {**invoices.receipt_context(uow.customer, invoice, billing.base_url),
                   "reason": claim.failure_message or "the payment failed", "final": True,
                   "next_retry_at": None}
        outbox.enqueue(uow.session, uow.customer, outbox.PAYMENT_FAILED, context, now=uow.now)
    sub.resumes_at = None


async def void_claimed_invoice(uow: UnitOfWork, sub: Purchase, claim: ChargeClaim) -> Invoice:
    invoice = await uow.session.get(Invoice, claim.invoice_id)
    assert invoice is not None
    if invoice.status == "OPEN":
        await invoices.void(uow.session, invoice)
    if sub.open_invoice_id == invoice.id:
        sub.open_invoice_id = None
    return invoice


async def _void_open_invoice(session: AsyncSession, sub: Purchase) -> None:
    if sub.open_invoice_id is not None:
        open_invoice = await session.get(Invoice, sub.open_invoice_id)
        if open_invoice is not None and open_invoice.status == "OPEN":
            await invoices.void(session, open_invoice)
        sub.open_invoice_id = None


def next_period(sub: Purchase) -> tuple[datetime, datetime]:
    """The period the next charge pays for, counted from the anchor on the calendar."""
    assert sub.billing_anchor_at is not None and sub.price is not None
    interval = sub.price["interval"]
    return (add_interval(sub.billing_anchor_at, interval, sub.periods_billed),
            add_interval(sub.billing_anchor_at, interval, sub.periods_billed + 1))


async def _open_invoice(session: AsyncSession, customer: Customer, sub: Purchase, *,
                        now: datetime, events: list[ChangeEvent]) -> Invoice:
    if sub.open_invoice_id is not None:
        invoice = await session.get(Invoice, sub.open_invoice_id)
        if invoice is not None and invoice.status == "OPEN":
            return invoice  # a retry: its overage was billed when it was made
    start, end = next_period(sub)
    amount = period_total(sub)  # 0 for a granted subscription
    # The period's overage debt is billed on its renewal invoice (balance back to 0 first).
    overage = await overage_billing.bill(session, customer, sub, currency=sub.currency or "USD",
                                         now=now)
    events += overage.events
    invoice = await invoices.create(session, customer, sub, currency=sub.currency or "USD",
                                    lines=[invoices.plan_line(sub, start=start, end=end, amount=amount),
                                           *await promo_codes.period_lines(
                                               session, sub, period_start=start, subtotal=amount),
                                           *overage.lines],
                                    now=now)
    sub.open_invoice_id = invoice.id
    return invoice


async def _paid(billing: Billing, uow: UnitOfWork, sub: Purchase, invoice: Invoice, *,
                reference: str | None) -> None:
    """The period is paid: advance it, clear dunning, record the transaction, send a receipt."""
    session, customer, now = uow.session, uow.customer, uow.now
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
    uow.events += await paid_credits.grant_paid_repeats(
        session, sub, now=now, grant_during_grace=billing.grant_credits_during_grace)
    if invoice.amount_total > 0:
        outbox.enqueue(session, customer, outbox.RECEIPT,
                       invoices.receipt_context(customer, invoice, billing.base_url), now=now)
    await webhook_events.period_paid(session, customer, sub, invoice, previous_status=previous_status,
                                     now=now, test_mode=billing.test_mode, base_url=billing.base_url)


async def _failed(billing: Billing, uow: UnitOfWork, sub: Purchase, invoice: Invoice, *,
                  message: str) -> None:
    """A failed charge: PAST_DUE with the next retry, or canceled after the last one."""
    session, customer, now = uow.session, uow.customer, uow.now
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
        await end_subscription(uow, sub, at=now)


async def end_subscription(uow: UnitOfWork, sub: Purchase, *, at: datetime) -> None:
    """CANCELED at ``at``, whatever ended it: the open invoice is void, the plan's items
    expire per their rules, the line's included product returns, nothing more is due
    (``fulfil.end`` does it all); ``subscription.canceled`` is recorded."""
    previous_status = sub.status
    sub.canceled_at = sub.canceled_at or at
    uow.events += await fulfil.end(uow.session, uow.customer, sub, now=at, status=CANCELED)
    await webhook_events.subscription_ended(uow.session, uow.customer, sub,
                                            previous_status=previous_status, now=at,
                                            test_mode=uow.test_mode)


async def recover_abandoned_claims(billing: Billing, *, now: datetime) -> int:
    """Finish the charges whose run died between claim and record: charge again with the
    claim's key (the processor answers with the original charge), then record a renewal as
    usual; a switch or a user's resume is not applied after the fact (the caller was told
    it failed) but refunded. COMPENSATING claims are refunded again."""
    done = 0
    for claim in await charges.abandoned(billing):
        if claim.operation in (charges.REFUND, charges.AUTO_TOP_UP,
                               charges.FINAL_INVOICE):
            continue  # ``scheduled.recover_charges`` finishes those
        if claim.status == charges.COMPENSATING:
            await charges.compensate(billing, claim.id)
        else:
            result = await charges.charge(billing, claim)
            if claim.operation in (charges.RENEWAL, charges.RESUME):
                await settle(billing, claim, result, now=now)
            else:
                await charges.abandon(billing, claim, result, now=now)
        done += 1
    return done
