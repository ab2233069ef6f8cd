"""Reminder emails before money is taken: "your trial ends in 3 days" and "your yearly plan
renews in 7 days", queued in the email outbox (``notifications/outbox.py``) by the
scheduler's ``subscription.remind`` job.

Each is sent once per trial end or period end: the ``SubscriptionReminder`` row written
with it has a unique key (subscription, kind, the moment announced), so several scheduler
processes, or a run repeated after a crash, queue it once. A subscription canceled, paused
or switched before the reminder is due gets none; a new period (or a trial moved) is a new
moment, so it is announced again.

The amount quoted is what that moment will charge. With a plan change scheduled for it
(``switchSubscription(when: PERIOD_END)`` or a price migration) that is the scheduled plan's
price times the seats (the change keeps the quantity), and the email names the new plan and
its period; a promo code stays with the purchase it was redeemed on, so the new plan carries
no discount. A change whose plan the catalog no longer sells in the subscription's currency
is dropped at the period end (the old plan renews), so the old plan is quoted then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import and_, exists, func, select

from billgate.billing import promo_codes, unit_of_work
from billgate.billing.context import Billing
from billgate.billing.subscriptions import scheduled_store
from billgate.billing.subscriptions.amounts import period_total
from billgate.billing.unit_of_work import UnitOfWork
from billgate.db.models import Customer, Purchase, ScheduledChange, SubscriptionReminder
from billgate.db.upsert import insert_ignore
from billgate.money import from_minor
from billgate.notifications import outbox

TRIAL_ENDING, RENEWAL_UPCOMING = outbox.TRIAL_ENDING, outbox.RENEWAL_UPCOMING
TRIAL_NOTICE = timedelta(days=3)
RENEWAL_NOTICE = timedelta(days=7)
BATCH = 100


@dataclass(frozen=True)
class _Kind:
    name: str
    notice: timedelta
    moment: Any         # the column holding the moment announced
    conditions: tuple[Any, ...]


_KINDS = (
    _Kind(TRIAL_ENDING, TRIAL_NOTICE, Purchase.trial_ends_at,
          (Purchase.status == "TRIALING",)),
    _Kind(RENEWAL_UPCOMING, RENEWAL_NOTICE, Purchase.current_period_end,
          (Purchase.status == "ACTIVE", Purchase.cancel_at_period_end.is_(False),
           Purchase.price[("interval", "unit")].as_string() == "YEAR")),
)


def _unsent(kind: _Kind, now: datetime) -> Any:
    """Subscriptions whose ``kind`` reminder is due at ``now`` and not sent yet."""
    sent = exists().where(SubscriptionReminder.purchase_id == Purchase.id,
                          SubscriptionReminder.kind == kind.name,
                          SubscriptionReminder.due_for == kind.moment)
    return and_(Purchase.kind == "SUBSCRIPTION", *kind.conditions, kind.moment.is_not(None),
                kind.moment <= now + kind.notice, kind.moment > now, ~sent)


async def next_due(billing: Billing, now: datetime) -> datetime | None:
    """The earliest moment a reminder became due, at or before ``now`` (the scheduler's
    ``next_due``): the announced moment less its notice."""
    async with billing.db.read_session() as session:
        dues = [due - kind.notice for kind in _KINDS
                if (due := await session.scalar(select(func.min(kind.moment))
                                                 .where(_unsent(kind, now)))) is not None]
    return min(dues) if dues else None


async def send_due(billing: Billing, at: datetime) -> int:
    """Queue the reminders due at ``at``; the number queued. Each is one unit of work on
    its customer (the reminder row and the email are one write)."""
    queued = 0
    for kind in _KINDS:
        async with billing.db.read_session() as session:
            due = (await session.execute(select(Purchase.id, Purchase.customer_pk)
                                         .where(_unsent(kind, at))
                                         .order_by(kind.moment).limit(BATCH))).all()
        for purchase_id, customer_pk in due:
            queued += await unit_of_work.run(billing, customer_pk,
                                             partial(_remind, kind, purchase_id, at), now=at)
    return queued


async def _remind(kind: _Kind, purchase_id: int, at: datetime, uow: UnitOfWork) -> int:
    """Queue one reminder unless it was sent (the unique row) or no longer applies."""
    uow.quiet()  # an email: nothing ``customerChanged`` subscribers read
    session = uow.session
    sub = await session.scalar(select(Purchase).where(Purchase.id == purchase_id,
                                                      _unsent(kind, at)))
    if sub is None:
        return 0
    moment = getattr(sub, kind.moment.key)
    if not await insert_ignore(session, SubscriptionReminder.__table__,  # type: ignore[arg-type]
                               {"purchase_id": sub.id, "kind": kind.name, "due_for": moment,
                                "created_at": at}, ["purchase_id", "kind", "due_for"]):
        return 0  # another process sent it
    change = _applying(await scheduled_store.pending(session, sub.id), sub)
    # A promo code's discount on the period that starts then (``promo_codes``); the plan a
    # scheduled change starts has none.
    discount = 0 if change is not None else -sum(
        int(line["amount"]) for line in await promo_codes.period_lines(
            session, sub, period_start=moment, subtotal=period_total(sub)))
    outbox.enqueue(session, uow.customer, kind.name,
                   context(uow.customer, sub, moment, at=at, discount=discount, change=change),
                   now=at)
    return 1


def _applying(change: ScheduledChange | None, sub: Purchase) -> ScheduledChange | None:
    """The pending change, if its price is sold in the subscription's currency (else the
    renewal drops it and the old plan renews: ``scheduled_changes._announced``)."""
    if change is None or (sub.currency or "USD") not in (change.price.get("amounts") or {}):
        return None
    return change


def context(customer: Customer, sub: Purchase, moment: datetime, *, at: datetime,
            discount: int = 0, change: ScheduledChange | None = None) -> dict[str, Any]:
    """What the email shows: the plan, when, and what will be charged then (after a promo
    code's ``discount``, before tax and account credit, which the invoice applies). With a
    scheduled ``change``: its price times the seats, its ``period`` ("year", "month",
    "3 months") and, when it is another product, that product's name (``next_product``)."""
    currency = sub.currency or "USD"
    days = max(1, round((moment - at) / timedelta(days=1)))
    shown = {"customer": customer.customer_id, "product": sub.product.get("displayName"),
             "at": moment.isoformat(), "days": days, "currency": currency,
             "amount": from_minor(period_total(sub) - discount, currency),
             "period": _period(sub.price), "next_product": None}
    if change is not None:
        total = int(change.price["amounts"][currency]) * sub.quantity
        # Another price of the same product: the amount and period say it; no new name.
        renamed = change.to_product_id != sub.product_id
        shown.update(amount=from_minor(total, currency), period=_period(change.price),
                     next_product=change.product.get("displayName") if renamed else None)
    return shown


def _period(price: dict[str, Any] | None) -> str:
    """A price's interval in words: "year", "month", "3 months"."""
    interval = (price or {}).get("interval") or {"unit": "YEAR", "count": 1}
    unit, count = str(interval["unit"]).lower(), int(interval.get("count") or 1)
    return unit if count == 1 else f"{count} {unit}s"
