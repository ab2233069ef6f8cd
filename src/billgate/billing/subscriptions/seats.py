"""Seats: change how many of a plan a subscription holds (``updateSubscriptionQuantity``).

A recurring price sells any quantity from 1 up to its ``quantityMax`` (``purchases.request
.check_quantity``; the price as sold, the purchase's snapshot, decides: a catalog change
does not take seats away from a subscriber). The rules, where the issue left a choice:

* **Money, as a switch within the same interval** (``proration.switch_amounts``): the
  unused time of the old quantity (unit price x old quantity) is credited, the remaining
  time of the new quantity charged, each prorated and rounded on its own, so an up and a
  switch to a plan that costs the same agree to the minor unit. Up: the net and its tax
  are charged at once (``charges``: claim -> charge -> record, keyed on the subscription's
  version); declined, nothing changes. Down: the net is kept as account credit toward the
  next invoices. Both write a PAID invoice with the two proration lines (as a switch does).
  A trial costs nothing now (the first charge after it is price x the quantity then), and a
  granted plan is never charged or credited: neither writes an invoice.
* **Items** scale with the quantity: each included item's repeat grants ``quantity x
  seats`` from then on (its ``ItemSchedule``), so renewals grant the new amount. Up: the
  difference is granted now, expiring like the plan's own grant of it (a WHEN_REPEATED
  grant with the current period's). Down: the difference leaves the plan's expiring grants
  (WHEN_REPEATED, WHEN_PURCHASE_EXPIRES) now, but only what of them is still unused, never
  other grants and never into debt: the same rule a switch applies to the plan it leaves
  (its unused remainder expires, used parts stay used). NEVER grants stay, as on a switch.
* Only an ACTIVE or TRIALING subscription changes seats: a PAUSED one has no period to
  prorate and a PAST_DUE one an unpaid invoice of the old quantity (``INVALID_INPUT``); an
  ended one is ``SUBSCRIPTION_NOT_FOUND``. The same quantity again, below 1 or above the
  price's maximum is ``INVALID_INPUT``; nothing is written.

Renewals need no hook: ``amounts.period_total`` is unit price x quantity and the repeats
read their schedules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import charges, invoices, items, unit_of_work, webhook_events
from billgate.billing.context import Billing
from billgate.billing.purchases import fulfil, ownership
from billgate.billing.purchases.request import MAX_QUANTITY, quantity_max
from billgate.billing.subscriptions import scheduled_store
from billgate.billing.subscriptions.amounts import is_granted, period_total
from billgate.billing.subscriptions.operations import Selector, find, with_tax
from billgate.billing.subscriptions.proration import SwitchAmounts, switch_amounts
from billgate.billing.subscriptions.states import ACTIVE, TRIALING
from billgate.billing.unit_of_work import UnitOfWork
from billgate.db.models import (
    ChargeClaim,
    Customer,
    Invoice,
    ItemDefinition,
    ItemSchedule,
    Purchase,
    Transaction,
)
from billgate.errors import DefaultPaymentMethodRequired, InvalidInput, SubscriptionNotFound
from billgate.notifications import outbox
from billgate.types import CustomerRef, ItemExpiry

SEATS = "seats"  # the charge claim's operation (recovered like a switch: refunded)
REASON = "seats"  # the ledger reason of the items a quantity change grants or takes back


@dataclass(frozen=True)
class QuantityChange:
    previous: int
    quantity: int
    amounts: SwitchAmounts

    @property
    def invoiced(self) -> bool:
        """A trial or a granted plan changes seats without an invoice (nothing moves)."""
        return bool(self.amounts.credit or self.amounts.debit)


async def update_quantity(billing: Billing, ref: CustomerRef, subscription_id: int, *,
                          quantity: int, now: datetime | None = None) -> Purchase:
    """Set the subscription's quantity (the module doc has the rules). Planned and claimed
    under the customer's lock; an up is charged with a key of the subscription's version and
    applied only if it is still at that version (otherwise refunded): two clicks change the
    seats once and charge once, the second answered with a clear error."""
    which = Selector(subscription_id=subscription_id)

    async def begin(uow: UnitOfWork) -> tuple[Purchase | None, ChargeClaim | None, QuantityChange]:
        sub = await find(uow.session, uow.customer, which)
        change = await plan(uow.session, uow.customer, sub, quantity, now=uow.now)
        if change.amounts.due_now <= 0:
            return await apply(uow, sub, change, reference=None), None, change
        if not billing.test_mode and not uow.customer.default_payment_method:
            raise DefaultPaymentMethodRequired("more seats are charged now and need a default "
                                               "payment method", field=["customer"])
        claim = await charges.claim(
            uow, billing, operation=SEATS, purchase=sub, amount=change.amounts.due_now,
            currency=sub.currency or "USD",
            description=f"{quantity} x {sub.product['displayName']} (was {change.previous})")
        return None, claim, change

    applied, claim, change = await unit_of_work.run(billing, ref, begin, now=now)
    if claim is None:
        assert applied is not None
        return applied
    result = await charges.charge(billing, claim)

    async def paid(uow: UnitOfWork, sub: Purchase, row: ChargeClaim) -> Purchase:
        return await apply(uow, sub, change, reference=row.payment_reference)

    async def failed(uow: UnitOfWork, sub: Purchase, row: ChargeClaim) -> None:
        return None  # a declined charge changes nothing (the claim records it)

    recorded = await charges.record(billing, claim, result, paid=paid, failed=failed, now=now)
    return recorded.value_or_raise()


async def plan(session: AsyncSession, customer: Customer, sub: Purchase, quantity: int, *,
               now: datetime) -> QuantityChange:
    """Check a quantity change of ``sub`` and price it (no writes)."""
    if not ownership.is_live(sub.status):
        raise SubscriptionNotFound("the subscription has already ended", field=["subscriptionId"])
    if sub.status not in (ACTIVE, TRIALING):
        raise InvalidInput(f"a {sub.status.lower().replace('_', '-')} subscription cannot change "
                           "seats; resume it or pay its open invoice first",
                           field=["subscriptionId"])
    check_seats(sub, quantity)
    await _check_scheduled_plan(session, sub, quantity)
    old_total, new_total = period_total(sub), _total_at(sub, quantity)
    if sub.status == TRIALING or is_granted(sub):
        amounts = SwitchAmounts(credit=0, debit=0)
    else:
        assert sub.current_period_start is not None and sub.current_period_end is not None
        amounts = switch_amounts(old_total=old_total, new_total=new_total,
                                 period_start=sub.current_period_start,
                                 period_end=sub.current_period_end, now=now, same_interval=True)
        amounts = await with_tax(session, customer, amounts)
    return QuantityChange(previous=sub.quantity, quantity=quantity, amounts=amounts)


def check_seats(sub: Purchase, quantity: int) -> None:
    """From 1 to the price's ``quantityMax`` as sold, and not the quantity it has."""
    limit = min(quantity_max(sub.price), MAX_QUANTITY)
    if not 1 <= quantity <= limit:
        raise InvalidInput(f"quantity must be from 1 to {limit} for "
                           f"{sub.product['displayName']}", field=["quantity"])
    if quantity == sub.quantity:
        raise InvalidInput(f"the subscription already has a quantity of {quantity}",
                           field=["quantity"])


async def _check_scheduled_plan(session: AsyncSession, sub: Purchase, quantity: int) -> None:
    """More seats than the plan scheduled for the period end can hold are refused now, with
    the way out: that change would otherwise be dropped at the period end (it cannot start
    with this many seats, ``scheduled_changes.apply_due``)."""
    change = await scheduled_store.pending(session, sub.id)
    if change is None:
        return
    limit = min(quantity_max(change.price), MAX_QUANTITY)
    if quantity > limit:
        raise InvalidInput(
            f"the change to {change.product['displayName']} scheduled for the period end "
            f"allows at most {limit} seat{'s' if limit != 1 else ''}; cancel that change "
            "first", field=["quantity"])


def _total_at(sub: Purchase, quantity: int) -> int:
    return 0 if is_granted(sub) else (sub.unit_amount or 0) * quantity


def lines(sub: Purchase, change: QuantityChange) -> list[dict[str, Any]]:
    """The invoice lines of a quantity change: the old quantity's unused time credited, the
    new quantity's remaining time charged, and an up's tax. Each names its quantity but no
    unit price (its amount is prorated, not quantity x price)."""
    name = sub.product["displayName"]
    result: list[dict[str, Any]] = [
        {"kind": "proration_credit", "description": f"Unused time on {change.previous} x {name}",
         "quantity": change.previous, "amount": -change.amounts.credit},
        {"kind": "proration_debit", "description": f"Remaining time on {change.quantity} x {name}",
         "quantity": change.quantity, "amount": change.amounts.debit},
    ]
    if change.amounts.tax:
        result.append({"kind": invoices.TAX, "description": change.amounts.tax_label,
                       "amount": change.amounts.tax})
    return result


async def apply(uow: UnitOfWork, sub: Purchase, change: QuantityChange, *,
                reference: str | None) -> Purchase:
    """Record a paid (or free) quantity change in the unit of work, in the lock order:
    the subscription, its item schedules and balances, then the invoice, the transaction
    and the account credit, then the receipt and the webhook event."""
    session, customer, now = uow.session, uow.customer, uow.now
    previous_status = sub.status
    sub.quantity = change.quantity
    sub.updated_at = now
    uow.events += await scale_items(session, customer, sub, previous=change.previous, now=now)
    invoice = await _invoice(uow, sub, change, reference=reference) if change.invoiced else None
    await webhook_events.quantity_changed(session, customer, sub, invoice,
                                          previous_quantity=change.previous,
                                          previous_status=previous_status, now=now,
                                          test_mode=uow.test_mode)
    return sub


async def _invoice(uow: UnitOfWork, sub: Purchase, change: QuantityChange, *,
                   reference: str | None) -> Invoice:
    """The PAID proration invoice and its transaction (an up: net + tax charged; a down:
    net < 0, kept as account credit), as ``operations.apply_switch`` records a switch."""
    session, customer, now = uow.session, uow.customer, uow.now
    currency = sub.currency or "USD"
    amounts = change.amounts
    invoice = invoices.new_invoice(customer.id, sub, currency=currency, lines=lines(sub, change),
                                   now=now)
    invoices.mark_paid(invoice, now=now, reference=reference)
    transaction = Transaction(customer_pk=customer.id, purchase_id=sub.id, kind="proration",
                              amount=amounts.net + amounts.tax, currency=currency,
                              quantity=change.quantity, product=sub.product,
                              test_mode=uow.test_mode, payment_reference=reference, created_at=now)
    session.add(transaction)
    await session.flush()
    invoice.transaction_id = transaction.id
    session.add(invoice)
    if amounts.net < 0:
        await invoices.add_credit(session, customer.id, currency, -amounts.net)
    await invoices.issue(session, invoice, customer=customer, now=now)  # the last lock taken
    if invoice.amount_total > 0:
        outbox.enqueue(session, customer, outbox.RECEIPT, invoices.receipt_context(customer, invoice),
                       now=now)
    return invoice


async def scale_items(session: AsyncSession, customer: Customer, sub: Purchase, *, previous: int,
                      now: datetime) -> list[items.ChangeEvent]:
    """Each included item follows the quantity (module doc): its repeat schedules grant
    ``included x quantity`` from now on; the difference is granted or taken back now.
    Repeats already due are granted first, at the quantity their period was paid with."""
    events: list[items.ChangeEvent] = []
    schedules = list((await session.scalars(select(ItemSchedule).where(
        ItemSchedule.purchase_id == sub.id, ItemSchedule.active.is_(True)))).all())
    for schedule in schedules:
        if schedule.next_at <= now:
            events += await fulfil.run_due_repeat(session, schedule.id, now=now)
    for included in sub.product.get("includedItems") or []:
        per_unit = int(included["quantity"])
        mine = [s for s in schedules if s.item_id == included["itemId"]]
        for schedule in mine:
            schedule.quantity = per_unit * sub.quantity
        delta = per_unit * (sub.quantity - previous)
        item = await session.scalar(select(ItemDefinition).where(
            ItemDefinition.item_id == included["itemId"]))
        if item is None or delta == 0:
            continue
        events += await _scale_one(session, customer, sub, item, included, delta,
                                   next_at=min((s.next_at for s in mine), default=None), now=now)
    return events


async def _scale_one(session: AsyncSession, customer: Customer, sub: Purchase,
                     item: ItemDefinition, included: dict[str, Any], delta: int, *,
                     next_at: datetime | None, now: datetime) -> list[items.ChangeEvent]:
    expires = included["expires"]
    source = fulfil.source_of(sub)
    description = f"{sub.product['displayName']}: {sub.quantity} seats"
    if delta < 0:
        if expires == ItemExpiry.NEVER:
            return []  # kept, as a switch keeps the NEVER grants of the plan it leaves
        return await items.take_from_source(session, customer, item, source=source,
                                            quantity=-delta, now=now, reason=REASON,
                                            description=description)
    expires_at = next_at if expires == ItemExpiry.WHEN_REPEATED else None
    if expires == ItemExpiry.WHEN_REPEATED and (expires_at is None or expires_at <= now):
        return []  # no current period left to grant into: the next repeat brings them
    return await items.grant(session, customer, item, quantity=delta, now=now,
                             expires_at=expires_at, expire_with_source=expires != ItemExpiry.NEVER,
                             reason=REASON, source=source, description=description)
