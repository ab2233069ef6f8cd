"""What customers and servers do to a subscription: cancel (at period end or now), undo a
pending cancel, pause and resume, switch plans within a product line with proration.

Each is one billing function the edge calls; each runs as a unit of work on the customer
(``billing/unit_of_work.py``): the customer's lock, the subscription read again, the rules
checked again, so of two identical clicks the second finds the state the first left and
gets a clear error. Resume and an upgrade charge through ``billing/charges.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import (
    catalog,
    charges,
    customers,
    invoices,
    items,
    locks,
    promo_codes,
    unit_of_work,
    webhook_events,
)
from billgate.billing.calendar import add_interval
from billgate.billing.context import Billing
from billgate.billing.purchases import fulfil, ownership, repository, request
from billgate.billing.subscriptions import lifecycle, scheduled_store
from billgate.billing.subscriptions.amounts import period_total
from billgate.billing.subscriptions.proration import SwitchAmounts, switch_amounts
from billgate.billing.subscriptions.states import ACTIVE, PAST_DUE, PAUSED, TRIALING, transition
from billgate.billing.unit_of_work import UnitOfWork
from billgate.db.models import ChargeClaim, Customer, ItemSchedule, Purchase, Transaction
from billgate.db.models import Product as ProductRow
from billgate.errors import (
    BillgateError,
    DefaultPaymentMethodRequired,
    InvalidInput,
    NotASubscription,
    NotInSameProductLine,
    ProductNotSwitchable,
    SubscriptionNotFound,
)
from billgate.notifications import outbox
from billgate.types import CustomerRef


@dataclass(frozen=True)
class Selector:
    """Which subscription: by product (the live one) or by id."""

    product_id: str | None = None
    subscription_id: int | None = None


async def find(session: AsyncSession, customer: Customer, which: Selector) -> Purchase:
    """The customer's live purchase named by product or id, read under the customer's lock;
    ``NOT_A_SUBSCRIPTION`` for a one-time or included product, ``SUBSCRIPTION_NOT_FOUND``
    when there is none."""
    if (which.product_id is None) == (which.subscription_id is None):
        raise InvalidInput("give either productId or subscriptionId", field=["productId"])
    stmt = select(Purchase).where(Purchase.customer_pk == customer.id)
    if which.subscription_id is not None:
        stmt = stmt.where(Purchase.id == which.subscription_id)
    else:
        stmt = stmt.where(Purchase.product_id == which.product_id, repository.OWNED_CONDITION)
    purchase = await session.scalar(stmt.order_by(Purchase.id.desc()).limit(1)
                                    .execution_options(populate_existing=True))
    if purchase is None:
        raise SubscriptionNotFound(f"customer {customer.customer_id} has no such subscription",
                                   field=["productId"])
    if purchase.kind != repository.SUBSCRIPTION:
        raise NotASubscription(
            f"{purchase.product_id or 'this product'} is a {purchase.kind.lower().replace('_', '-')} "
            "purchase, not a subscription", field=["productId"])
    return purchase


def _require_live(sub: Purchase) -> None:
    if not ownership.is_live(sub.status):
        raise SubscriptionNotFound("the subscription has already ended", field=["subscriptionId"])


async def _on_subscription(billing: Billing, ref: CustomerRef, which: Selector, *,
                           now: datetime | None,
                           change: Callable[[UnitOfWork, Purchase], Awaitable[None]]) -> Purchase:
    """Run ``change(uow, sub)`` as one unit of work on the selected subscription."""
    async def work(uow: UnitOfWork) -> Purchase:
        sub = await find(uow.session, uow.customer, which)
        await change(uow, sub)
        return sub

    return await unit_of_work.run(billing, ref, work, now=now)


async def cancel(billing: Billing, ref: CustomerRef, which: Selector, *, immediately: bool,
                 now: datetime | None = None) -> Purchase:
    """At period end by default (access until then, ``cancelAtPeriodEnd``), or now. A
    PAST_DUE or PAUSED subscription ends now. Either way a pending scheduled change is
    closed (``scheduled_changes``), and undoing the cancel does not bring it back."""
    async def change(uow: UnitOfWork, sub: Purchase) -> None:
        _require_live(sub)
        if immediately or sub.status in (PAST_DUE, PAUSED):
            sub.canceled_at = uow.now
            await lifecycle.end_subscription(uow, sub, at=uow.now)
            return
        if sub.cancel_at_period_end:
            raise InvalidInput("the subscription is already canceled at its period end",
                               field=["subscriptionId"])
        # Leaving at the period end: no plan to change to then (``scheduled_changes``).
        await scheduled_store.close_pending(uow.session, sub.id, scheduled_store.CANCELED,
                                            now=uow.now)
        sub.cancel_at_period_end = True
        sub.canceled_at = uow.now
        sub.next_action_at = sub.current_period_end
        await _changed(uow, sub, sub.status)

    return await _on_subscription(billing, ref, which, now=now, change=change)


async def uncancel(billing: Billing, ref: CustomerRef, which: Selector, *,
                   now: datetime | None = None) -> Purchase:
    """Undo a pending period-end cancel; the subscription renews as before."""
    async def change(uow: UnitOfWork, sub: Purchase) -> None:
        _require_live(sub)
        if not sub.cancel_at_period_end:
            raise InvalidInput("the subscription has no pending cancel", field=["subscriptionId"])
        sub.cancel_at_period_end = False
        sub.canceled_at = None
        sub.updated_at = uow.now
        await _changed(uow, sub, sub.status)

    return await _on_subscription(billing, ref, which, now=now, change=change)


async def pause(billing: Billing, ref: CustomerRef, which: Selector, *,
                resumes_at: datetime | None, now: datetime | None = None) -> Purchase:
    """Billing stops and access ends until resumed (by hand, or at ``resumes_at``). The rest
    of the period is forfeit, so the plan's expiring grants (``WHEN_REPEATED``,
    ``WHEN_PURCHASE_EXPIRES``) end now and its repeats stop; a resume grants them anew once
    its first period is paid."""
    if resumes_at is not None and resumes_at <= (now or _clock_now(billing)):
        raise InvalidInput("resumesAt must be in the future", field=["resumesAt"])

    async def change(uow: UnitOfWork, sub: Purchase) -> None:
        _require_live(sub)
        if sub.status == PAUSED:
            raise InvalidInput("the subscription is already paused", field=["subscriptionId"])
        previous_status = sub.status
        await scheduled_store.close_pending(uow.session, sub.id, scheduled_store.CANCELED,
                                            now=uow.now)  # no period end while paused
        transition(sub, PAUSED, now=uow.now)
        await _changed(uow, sub, previous_status)
        sub.paused_at = uow.now
        sub.resumes_at = resumes_at
        sub.next_action_at = resumes_at
        await uow.session.execute(update(ItemSchedule).where(ItemSchedule.purchase_id == sub.id)
                                  .values(active=False))
        uow.events += await items.expire_source(uow.session, fulfil.source_of(sub), now=uow.now)

    return await _on_subscription(billing, ref, which, now=now, change=change)


async def resume(billing: Billing, ref: CustomerRef, which: Selector, *,
                 now: datetime | None = None) -> Purchase:
    """Billing restarts with a new period from now, charged first: a declined card answers
    ``PAYMENT_FAILED`` and the subscription stays PAUSED with nothing granted."""
    async def begin(uow: UnitOfWork) -> tuple[Purchase, ChargeClaim | None]:
        sub = await find(uow.session, uow.customer, which)
        if sub.status != PAUSED:
            raise InvalidInput("only a paused subscription can be resumed",
                               field=["subscriptionId"])
        _require_payment_method(billing, uow.customer)
        return sub, await lifecycle.begin_resume(uow, billing, sub, at=uow.now)

    sub, claim = await unit_of_work.run(billing, ref, begin, now=now)
    if claim is None:
        return sub
    result = await charges.charge(billing, claim)
    recorded = await charges.record(
        billing, claim, result, paid=partial(lifecycle.resume_paid, billing),
        failed=partial(lifecycle.resume_failed, billing, automatic=False),
        stale=lifecycle.void_claimed_invoice, now=now)
    return recorded.value_or_raise()


def _clock_now(billing: Billing) -> datetime:
    assert billing.clock is not None, "a billing without a clock needs ``now``"
    return billing.clock.now()


async def _changed(uow: UnitOfWork, sub: Purchase, previous_status: str) -> None:
    await webhook_events.subscription_changed(uow.session, sub, previous_status=previous_status,
                                              now=uow.now, test_mode=uow.test_mode)


def _require_payment_method(billing: Billing, customer: Customer) -> None:
    if not billing.test_mode and not customer.default_payment_method:
        raise DefaultPaymentMethodRequired("this change is charged now and needs a default "
                                           "payment method", field=["customer"])


async def plan_switch(session: AsyncSession, ref: CustomerRef, sub: Purchase, *, to_product_id: str,
                      price_id: str | None, by_server: bool,
                      now: datetime) -> tuple[request.PurchaseRequest, SwitchAmounts]:
    """Check a switch and price it (no writes)."""
    _require_live(sub)
    await _check_switchable(session, to_product_id, by_server=by_server)
    target = await request.resolve(session, customer=ref, product_id=to_product_id, inline=None,
                                   price_id=price_id, currency=sub.currency, quantity=sub.quantity,
                                   by_server=by_server, needs_price=True)
    if sub.product_line_id is None or target.product.product_line_id != sub.product_line_id:
        raise NotInSameProductLine(
            f"{to_product_id!r} is not in the product line of {sub.product_id!r}",
            field=["toProductId"])
    if to_product_id == sub.product_id and target.price == sub.price:
        raise InvalidInput("the subscription is already on that product and price",
                           field=["toProductId"])
    if not target.is_subscription:
        raise ProductNotSwitchable(f"{to_product_id!r} has no recurring price", field=["priceId"])
    return target, price_switch(sub, target, now=now,
                                discount=await promo_codes.current_discount(session, sub))


def price_switch(sub: Purchase, target: request.PurchaseRequest, *, now: datetime,
                 discount: int = 0) -> SwitchAmounts:
    """What moving ``sub`` to ``target`` now credits and costs (``switchSubscription`` and a
    checkout for another plan of the line price it alike). ``discount``: what a promo code
    took off the current period (``promo_codes.current_discount``): only what was paid is
    credited."""
    assert sub.current_period_start and sub.current_period_end and target.price
    # A trial was free: nothing to credit, and the new plan is paid in full for a period
    # from now (``apply_switch``), not for what is left of the trial. A granted plan was
    # never paid for: its unused time credits nothing (``period_total`` is 0).
    trialing = sub.status == TRIALING
    same = not trialing and target.price["interval"] == (sub.price or {}).get("interval")
    return switch_amounts(
        old_total=0 if trialing else period_total(sub) - discount, new_total=target.total,
        period_start=sub.current_period_start, period_end=sub.current_period_end, now=now,
        same_interval=same)


async def switch_targets(session: AsyncSession, ref: CustomerRef, sub: Purchase,
                         candidates: Sequence[ProductRow], *, by_server: bool,
                         now: datetime) -> list[str]:
    """The products of ``candidates`` that ``switch`` accepts from ``sub`` (with at least one
    of their prices), in their order: ``switchOptions`` asks ``plan_switch`` itself, so the
    list and the mutation cannot disagree. Nothing is written."""
    accepted = []
    for row in candidates:
        if row.product_id == sub.product_id:
            continue  # another price of the same plan is a switch, but not another option
        for price in row.prices:
            try:
                await plan_switch(session, ref, sub, to_product_id=row.product_id,
                                  price_id=price["priceId"], by_server=by_server, now=now)
            except BillgateError:
                continue
            accepted.append(row.product_id)
            break
    return accepted


async def _check_switchable(session: AsyncSession, product_id: str, *, by_server: bool) -> None:
    """Include-by-default products and add-ons are never a plan to switch to
    (``PRODUCT_NOT_SWITCHABLE``), whatever their prices. Products a caller may not see are
    left to ``request.resolve`` (``PRODUCT_NOT_FOUND``)."""
    row = await catalog.get_product(session, product_id)
    if row is None or (row.server_only and not by_server):
        return
    if row.included_by_default:
        raise ProductNotSwitchable(f"{product_id!r} is included by default", field=["toProductId"])
    if row.is_add_on_to:
        raise ProductNotSwitchable(f"{product_id!r} is an add-on", field=["toProductId"])


async def switch(billing: Billing, ref: CustomerRef, *, from_product_id: str,
                 to_product_id: str, price_id: str | None, by_server: bool,
                 now: datetime | None = None) -> Purchase:
    """Move a subscription to another plan of its line with time-based proration: the old
    plan's unused time is credited, the new plan's remaining time charged now (upgrade) or
    the difference kept as customer credit for the next invoices (downgrade). The old
    plan's items follow their expiry rules, the new plan's are granted.

    Planned and claimed under the customer's lock; an upgrade is charged with a key of the
    subscription's version and recorded only if the subscription is still at that version
    (otherwise refunded): two clicks switch once and charge once."""
    which = Selector(product_id=from_product_id)

    async def begin(uow: UnitOfWork) -> tuple[Purchase | None, ChargeClaim | None, _Switch]:
        sub = await find(uow.session, uow.customer, which)
        target, amounts = await plan_switch(uow.session, ref, sub, to_product_id=to_product_id,
                                            price_id=price_id, by_server=by_server, now=uow.now)
        amounts = await with_tax(uow.session, uow.customer, amounts)
        plan = _Switch(target, amounts)
        if amounts.due_now <= 0:
            return (await apply_switch(uow, sub, target, amounts, reference=None,
                                       test_mode=billing.test_mode), None, plan)
        _require_payment_method(billing, uow.customer)
        claim = await charges.claim(
            uow, billing, operation=charges.SWITCH, purchase=sub, amount=amounts.due_now,
            currency=sub.currency or "USD",
            description=f"Switch to {target.product.display_name}")
        return None, claim, plan

    new, claim, plan = await unit_of_work.run(billing, ref, begin, now=now)
    if claim is None:
        assert new is not None
        return new
    result = await charges.charge(billing, claim)

    async def paid(uow: UnitOfWork, sub: Purchase, row: ChargeClaim) -> Purchase:
        return await apply_switch(uow, sub, plan.target, plan.amounts,
                                  reference=row.payment_reference, test_mode=billing.test_mode)

    async def failed(uow: UnitOfWork, sub: Purchase, row: ChargeClaim) -> None:
        return None

    recorded = await charges.record(billing, claim, result, paid=paid, failed=failed, now=now)
    return recorded.value_or_raise()


async def with_tax(session: AsyncSession, customer: Customer,
                   amounts: SwitchAmounts) -> SwitchAmounts:
    """``amounts`` with the tax of an upgrade: the buyer's rate now (``invoices.tax_due``)
    on the amount due (``net``), as a checkout taxes its price. A downgrade's credit to the
    account is not taxed (nothing is charged). ``switch``, ``preview_switch`` and a
    checkout's plan change all call it, so the preview, the charge and the invoice agree."""
    if amounts.net <= 0:
        return replace(amounts, tax=0, tax_label=None)
    tax, label = await invoices.tax_due(session, customer, amounts.net)
    return replace(amounts, tax=tax, tax_label=label)


def switch_lines(old: Purchase, target: request.PurchaseRequest,
                 amounts: SwitchAmounts) -> list[dict[str, Any]]:
    """The lines of a switch's invoice: the one definition ``apply_switch`` writes and
    ``preview_switch`` shows, so a preview is exactly what the switch would write."""
    lines: list[dict[str, Any]] = [
        {"kind": "proration_credit", "description": f"Unused time on {old.product['displayName']}",
         "amount": -amounts.credit},
        {"kind": "proration_debit", "description": f"Remaining time on {target.product.display_name}",
         "amount": amounts.debit},
    ]
    if amounts.tax:
        lines.append({"kind": invoices.TAX, "description": amounts.tax_label,
                      "amount": amounts.tax})
    return lines


@dataclass(frozen=True)
class SwitchPreview:
    currency: str
    amount_due_now: int  # charged at once (0 for a downgrade)
    credit_to_account: int  # kept as account credit (0 for an upgrade)
    lines: list[dict[str, Any]]


async def preview_switch(billing: Billing, ref: CustomerRef, *, from_product_id: str,
                         to_product_id: str, price_id: str | None, by_server: bool,
                         now: datetime) -> SwitchPreview:
    """What ``switch`` would charge, credit and write as invoice lines if called now, with
    the same checks (``plan_switch``) and the same lines (``switch_lines``). Writes nothing:
    a read session, and a customer never referred to has no subscription to switch."""
    async with billing.db.read_session() as session:
        customer = await customers.find(session, ref)
        if customer is None:
            raise SubscriptionNotFound(f"customer {ref.customer_id} has no such subscription",
                                       field=["fromProductId"])
        sub = await find(session, customer, Selector(product_id=from_product_id))
        target, amounts = await plan_switch(session, ref, sub, to_product_id=to_product_id,
                                            price_id=price_id, by_server=by_server, now=now)
        amounts = await with_tax(session, customer, amounts)
        return SwitchPreview(currency=sub.currency or "USD",
                             amount_due_now=amounts.due_now,
                             credit_to_account=max(0, -amounts.net),
                             lines=switch_lines(sub, target, amounts))


@dataclass(frozen=True)
class _Switch:
    target: request.PurchaseRequest
    amounts: SwitchAmounts


async def apply_switch(uow: UnitOfWork, old: Purchase, target: request.PurchaseRequest,
                       amounts: SwitchAmounts, *, reference: str | None,
                       test_mode: bool) -> Purchase:
    """Record a paid (or free) switch from ``old`` to ``target`` in the unit of work: the new
    plan started (``old`` replaced), its PAID proration invoice and transaction, a downgrade's
    difference kept as account credit. ``switchSubscription`` and a checkout for another
    plan of the line both end here."""
    session, customer, now = uow.session, uow.customer, uow.now
    was_trialing = old.status == TRIALING  # before ``fulfil.start`` ends it
    previous_status = old.status
    owned = await locks.owned_purchases(session, customer.id)
    new, events = await fulfil.start(session, customer, target, now=now, origin="switch",
                                     owned=owned)
    uow.events += events
    if new.status == TRIALING:  # a switch is paid now: no second trial
        assert target.price is not None
        transition(new, ACTIVE, now=now)
        new.trial_ends_at = None
        new.billing_anchor_at, new.periods_billed = now, 1
        new.current_period_start = now
        new.current_period_end = new.next_action_at = add_interval(now, target.price["interval"])
    same = target.price and target.price["interval"] == (old.price or {}).get("interval")
    if same and not was_trialing:
        new.billing_anchor_at, new.periods_billed = old.billing_anchor_at, old.periods_billed
        new.current_period_start, new.current_period_end = (old.current_period_start,
                                                            old.current_period_end)
        new.next_action_at = old.current_period_end
    currency = old.currency or "USD"
    invoice = invoices.new_invoice(customer.id, new, currency=currency,
                                   lines=switch_lines(old, target, amounts), now=now)
    invoices.mark_paid(invoice, now=now, reference=reference)
    # What was charged (an upgrade: net + tax) or credited (a downgrade: net < 0); the
    # invoice names it, so a refund of it finds the invoice and writes a credit note.
    transaction = Transaction(customer_pk=customer.id, purchase_id=new.id, kind="proration",
                              amount=amounts.net + amounts.tax, currency=currency,
                              quantity=new.quantity, product=new.product, test_mode=test_mode,
                              payment_reference=reference, created_at=now)
    session.add(transaction)
    await session.flush()
    invoice.transaction_id = transaction.id
    session.add(invoice)
    if amounts.net < 0:
        await invoices.add_credit(session, customer.id, currency, -amounts.net)
    # Numbered after the credit row is updated: the number's counter is the last lock taken.
    await invoices.issue(session, invoice, customer=customer, now=now)
    if invoice.amount_total > 0:  # a receipt for every paid invoice
        outbox.enqueue(session, customer, outbox.RECEIPT, invoices.receipt_context(customer, invoice),
                       now=now)
    await webhook_events.plan_switched(session, customer, old, new, invoice,
                                       previous_status=previous_status, now=now,
                                       test_mode=test_mode)
    return new
