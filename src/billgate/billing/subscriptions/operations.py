"""What customers and servers do to a subscription: cancel (at period end or now), undo a
pending cancel, pause and resume, switch plans within a product line with proration."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import catalog, customers, invoices, webhook_events
from billgate.billing.calendar import add_interval
from billgate.billing.errors import (
    DefaultPaymentMethodRequired,
    InvalidInput,
    NotASubscription,
    NotInSameProductLine,
    PaymentFailed,
    ProductNotSwitchable,
    SubscriptionNotFound,
)
from billgate.billing.purchases import fulfil, repository, request
from billgate.billing.subscriptions import lifecycle
from billgate.billing.subscriptions.proration import SwitchAmounts, switch_amounts
from billgate.billing.subscriptions.states import ACTIVE, PAST_DUE, PAUSED, TRIALING, transition
from billgate.db.models import Customer, ItemSchedule, Purchase, Transaction
from billgate.notifications import outbox
from billgate.payments.rails import ChargeRequest
from billgate.types import CustomerRef

LIVE = (TRIALING, ACTIVE, PAST_DUE, PAUSED)


async def find(session: AsyncSession, ref: CustomerRef, *, product_id: str | None,
               subscription_id: int | None) -> tuple[Customer, Purchase]:
    """The customer's live purchase named by product or id; ``NOT_A_SUBSCRIPTION`` for a
    one-time or included product, ``SUBSCRIPTION_NOT_FOUND`` when there is none."""
    if (product_id is None) == (subscription_id is None):
        raise InvalidInput("give either productId or subscriptionId", field=["productId"])
    customer = await customers.find(session, ref)
    purchase = None
    if customer is not None:
        stmt = select(Purchase).where(Purchase.customer_pk == customer.id)
        if subscription_id is not None:
            stmt = stmt.where(Purchase.id == subscription_id)
        else:
            stmt = stmt.where(Purchase.product_id == product_id, repository.OWNED_CONDITION)
        purchase = await session.scalar(stmt.order_by(Purchase.id.desc()).limit(1))
    if purchase is None or customer is None:
        raise SubscriptionNotFound(f"customer {ref} has no such subscription", field=["productId"])
    if purchase.kind != repository.SUBSCRIPTION:
        raise NotASubscription(
            f"{purchase.product_id or 'this product'} is a {purchase.kind.lower().replace('_', '-')} "
            "purchase, not a subscription", field=["productId"])
    return customer, purchase


def _require_live(sub: Purchase) -> None:
    if sub.status not in LIVE:
        raise SubscriptionNotFound("the subscription has already ended", field=["subscriptionId"])


async def cancel(billing: lifecycle.Billing, session: AsyncSession, customer: Customer,
                 sub: Purchase, *, immediately: bool, now: datetime) -> None:
    """At period end by default (access until then, ``cancelAtPeriodEnd``), or now."""
    _require_live(sub)
    if immediately or sub.status in (PAST_DUE, PAUSED):
        await lifecycle.end_subscription(billing, session, customer, sub, at=now)
        sub.canceled_at = now
        return
    sub.cancel_at_period_end = True
    sub.canceled_at = now
    sub.next_action_at = sub.current_period_end
    await webhook_events.subscription_changed(session, sub, previous_status=sub.status, now=now,
                                              test_mode=billing.test_mode)


async def uncancel(session: AsyncSession, sub: Purchase, *, now: datetime) -> None:
    """Undo a pending period-end cancel; the subscription renews as before."""
    _require_live(sub)
    if not sub.cancel_at_period_end:
        raise InvalidInput("the subscription has no pending cancel", field=["subscriptionId"])
    sub.cancel_at_period_end = False
    sub.canceled_at = None
    sub.updated_at = now
    await webhook_events.subscription_changed(session, sub, previous_status=sub.status, now=now)


async def pause(session: AsyncSession, sub: Purchase, *, now: datetime,
                resumes_at: datetime | None) -> None:
    """Billing stops and access ends until resumed (by hand, or at ``resumes_at``)."""
    _require_live(sub)
    if resumes_at is not None and resumes_at <= now:
        raise InvalidInput("resumesAt must be in the future", field=["resumesAt"])
    previous_status = sub.status
    transition(sub, PAUSED, now=now)
    sub.paused_at = now
    sub.resumes_at = resumes_at
    sub.next_action_at = resumes_at
    await session.execute(update(ItemSchedule).where(ItemSchedule.purchase_id == sub.id)
                          .values(active=False))
    await webhook_events.subscription_changed(session, sub, previous_status=previous_status, now=now)


async def resume(billing: lifecycle.Billing, session: AsyncSession, customer: Customer,
                 sub: Purchase, *, now: datetime) -> None:
    if sub.status != PAUSED:
        raise InvalidInput("only a paused subscription can be resumed", field=["subscriptionId"])
    await session.execute(update(ItemSchedule).where(ItemSchedule.purchase_id == sub.id)
                          .values(active=False))
    await lifecycle.resume(billing, session, customer, sub, now=now)
    await webhook_events.subscription_changed(session, sub, previous_status=PAUSED, now=now,
                                              test_mode=billing.test_mode)


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
    assert sub.current_period_start and sub.current_period_end and target.price
    # A trial was free: nothing to credit, and the new plan is paid in full for a period
    # from now (``_apply_switch``), not for what is left of the trial.
    trialing = sub.status == TRIALING
    same = not trialing and target.price["interval"] == (sub.price or {}).get("interval")
    amounts = switch_amounts(
        old_total=0 if trialing else (sub.unit_amount or 0) * sub.quantity, new_total=target.total,
        period_start=sub.current_period_start, period_end=sub.current_period_end, now=now,
        same_interval=same)
    return target, amounts


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


async def switch(billing: lifecycle.Billing, ref: CustomerRef, *, from_product_id: str,
                 to_product_id: str, price_id: str | None, by_server: bool,
                 now: datetime) -> Purchase:
    """Move a subscription to another plan of its line with time-based proration: the old
    plan's unused time is credited, the new plan's remaining time charged now (upgrade) or
    the difference kept as customer credit for the next invoices (downgrade). The old
    plan's items follow their expiry rules, the new plan's are granted."""
    async with billing.db.read_session() as session:
        customer, sub = await find(session, ref, product_id=from_product_id, subscription_id=None)
        target, amounts = await plan_switch(session, ref, sub, to_product_id=to_product_id,
                                            price_id=price_id, by_server=by_server, now=now)
    if not billing.test_mode and not customer.default_payment_method:
        raise DefaultPaymentMethodRequired("switching plans needs a default payment method",
                                           field=["customer"])
    reference = None
    # Same switch of the same subscription state -> same key, so a retried request cannot
    # charge twice; the subscription's last change time and the Stripe customer keep it
    # unique across switches and across deployments sharing a Stripe account.
    assert target.price is not None
    key = (f"billgate:switch:{customer.stripe_customer_id or customer.id}:{sub.id}:"
           f"{int(sub.updated_at.timestamp() * 1_000_000)}:{to_product_id}:{target.price['priceId']}")
    if amounts.net > 0:
        result = await billing.rails.charge(ChargeRequest(
            customer=ref, amount=amounts.net, currency=sub.currency or "USD",
            description=f"Switch to {target.product.display_name}", idempotency_key=key,
            payment_method=(customer.default_payment_method or {}).get("id"), off_session=True))
        if not result.succeeded:
            raise PaymentFailed(result.failure_message or "the payment failed")
        reference = result.reference
    async with billing.db.session() as session, session.begin():
        return await _apply_switch(billing, session, sub.id, target, amounts, now=now,
                                   reference=reference)


async def _apply_switch(billing: lifecycle.Billing, session: AsyncSession, sub_id: int,
                        target: request.PurchaseRequest, amounts: SwitchAmounts, *, now: datetime,
                        reference: str | None) -> Purchase:
    old = await session.get(Purchase, sub_id)
    assert old is not None
    customer = await session.get(Customer, old.customer_pk)
    assert customer is not None
    was_trialing = old.status == TRIALING  # before ``fulfil.start`` ends it
    previous_status = old.status
    owned = await repository.list_owned_for_update(session, customer.id)
    new, events = await fulfil.start(session, customer, target, now=now, origin="switch",
                                     owned=owned)
    billing.events += events
    if new.status == TRIALING:  # a switch is paid now: no second trial
        assert target.price is not None
        new.status, new.trial_ends_at = ACTIVE, None
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
    lines = [
        {"kind": "proration_credit", "description": f"Unused time on {old.product['displayName']}",
         "amount": -amounts.credit},
        {"kind": "proration_debit", "description": f"Remaining time on {target.product.display_name}",
         "amount": amounts.debit},
    ]
    invoice = invoices.new_invoice(customer.id, new, currency=currency, lines=lines, now=now)
    invoices.mark_paid(invoice, now=now, reference=reference)
    session.add(invoice)
    if invoice.amount_total > 0:  # a receipt for every paid invoice
        outbox.enqueue(session, customer, outbox.RECEIPT, invoices.receipt_context(customer, invoice),
                       now=now)
    if amounts.net < 0:
        await invoices.add_credit(session, customer.id, currency, -amounts.net)
    session.add(Transaction(customer_pk=customer.id, purchase_id=new.id, kind="proration",
                            amount=amounts.net, currency=currency, quantity=new.quantity,
                            product=new.product, test_mode=billing.test_mode,
                            payment_reference=reference, created_at=now))
    await webhook_events.plan_switched(session, customer, old, new, invoice,
                                       previous_status=previous_status, now=now,
                                       test_mode=billing.test_mode)
    return new
