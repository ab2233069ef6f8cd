"""``migrateSubscriptionsPrice``: move existing subscribers of a price to another price (or
to the current amount of the same price) at their next renewal. Grandfathering stays the
default: nothing moves unless an operator runs this.

Each subscription gets a scheduled change (origin ``migration``, ``scheduled_changes.put``)
and its customer an email notice (``price_change``) with the new amount and the date, in
one unit of work on that customer; the renewal applies it like a scheduled switch, and the
subscription it starts shows ``migratedAt``.

Choices where the issue is silent:

- Moved: the ACTIVE and TRIALING subscriptions of ``productId`` sold at ``fromPriceId``
  (their snapshot's price id) without a pending cancel. PAST_DUE and PAUSED ones have no
  ordinary period end to move at and granted ones are never charged: they are left as they
  are (run the migration again later: it is idempotent).
- ``fromPriceId`` may equal ``toPriceId``: the catalog changed that price's amount and the
  grandfathered subscribers move to the amount sold now; a subscription already at that
  amount and interval is left alone.
- A subscription whose customer scheduled a switch keeps it (the customer's choice wins);
  one sold in a currency ``toPriceId`` lacks is left alone.
- ``scheduledCount`` counts the changes this call scheduled: a second run, or two at once
  (each subscription is re-checked under its customer's lock), schedules and emails each
  subscription once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy import select

from billgate.billing import catalog, locks, unit_of_work
from billgate.billing.context import Billing
from billgate.billing.purchases import repository, request
from billgate.billing.subscriptions import scheduled_changes, scheduled_store
from billgate.billing.subscriptions.amounts import is_granted
from billgate.billing.unit_of_work import UnitOfWork
from billgate.db.models import Purchase
from billgate.errors import BillgateError, InvalidInput, PriceNotFound, ProductNotFound
from billgate.money import from_minor
from billgate.notifications import outbox


@dataclass(frozen=True)
class Migration:
    product_id: str
    from_price_id: str
    to_price_id: str


async def migrate(billing: Billing, migration: Migration, *, now: datetime | None = None) -> int:
    """Schedule every matching subscription to move to ``to_price_id`` at its next renewal
    and email its customer; the number scheduled by this call."""
    await _check(billing, migration)
    scheduled = 0
    for purchase_id, customer_pk in await _candidates(billing, migration):
        scheduled += await unit_of_work.run(billing, customer_pk,
                                            partial(_migrate_one, billing, migration, purchase_id),
                                            now=now)
    return scheduled


async def _check(billing: Billing, migration: Migration) -> None:
    """The product and the target price exist and the target recurs (the old price may be
    gone from the catalog: its subscribers are grandfathered on their snapshot)."""
    async with billing.db.read_session() as session:
        row = await catalog.get_product(session, migration.product_id)
    if row is None:
        raise ProductNotFound(f"product {migration.product_id!r} does not exist",
                              field=["productId"])
    price = next((p for p in catalog.product_spec(row).prices
                  if p["priceId"] == migration.to_price_id), None)
    if price is None:
        raise PriceNotFound(f"product {migration.product_id!r} has no price "
                            f"{migration.to_price_id!r}", field=["toPriceId"])
    if not price.get("interval"):
        raise InvalidInput(f"price {migration.to_price_id!r} is not recurring",
                           field=["toPriceId"])


async def _candidates(billing: Billing, migration: Migration) -> Sequence[tuple[int, int]]:
    """(subscription, customer) pairs that may move; each is checked again under its lock."""
    async with billing.db.read_session() as session:
        rows = await session.execute(
            select(Purchase.id, Purchase.customer_pk).where(
                Purchase.kind == repository.SUBSCRIPTION,
                Purchase.product_id == migration.product_id,
                Purchase.price_id == migration.from_price_id,
                Purchase.status.in_(scheduled_changes.SCHEDULABLE),
                Purchase.cancel_at_period_end.is_(False))
            .order_by(Purchase.id))
        return [(row[0], row[1]) for row in rows]


async def _migrate_one(billing: Billing, migration: Migration, purchase_id: int,
                       uow: UnitOfWork) -> int:
    """1 when this subscription was scheduled to move (and its customer emailed), else 0
    with nothing written and nothing announced."""
    sub = await locks.purchase(uow.session, purchase_id)
    target = None if sub is None else await _target(uow, migration, sub)
    change = None
    if sub is not None and target is not None:
        change = await scheduled_changes.put(uow, sub, target,
                                             origin=scheduled_store.MIGRATION)
    if sub is None or target is None or change is None:
        uow.quiet()
        return 0
    currency = target.currency or "USD"
    outbox.enqueue(uow.session, uow.customer, outbox.PRICE_CHANGE, {
        "product": target.product.display_name,
        "old_amount": from_minor((sub.unit_amount or 0) * sub.quantity, currency),
        "amount": from_minor(target.total, currency), "currency": currency,
        "interval": _interval_text(target.price or {}), "at": change.at.isoformat(),
    }, now=uow.now)
    return 1


async def _target(uow: UnitOfWork, migration: Migration,
                  sub: Purchase) -> request.PurchaseRequest | None:
    """What ``sub`` moves to, or None when it is not to move (see the module's rules)."""
    if (sub.product_id != migration.product_id or sub.price_id != migration.from_price_id
            or is_granted(sub)):
        return None
    pending = await scheduled_store.pending(uow.session, sub.id)
    if pending is not None and pending.origin != scheduled_store.MIGRATION:
        return None
    try:
        await scheduled_changes.require_schedulable(uow, sub)
        target = await request.resolve(
            uow.session, customer=unit_of_work.ref_of(uow.customer),
            product_id=migration.product_id, inline=None, price_id=migration.to_price_id,
            currency=sub.currency, quantity=sub.quantity, by_server=True, needs_price=True)
    except BillgateError:
        return None
    assert target.price is not None
    same = (target.unit_amount == sub.unit_amount
            and target.price.get("interval") == (sub.price or {}).get("interval")
            and target.price["priceId"] == sub.price_id)
    return None if same else target


def _interval_text(price: dict[str, object]) -> str:
    interval = price.get("interval") or {}
    assert isinstance(interval, dict)
    count, unit = int(interval.get("count", 1)), str(interval.get("unit", "MONTH")).lower()
    return unit if count == 1 else f"{count} {unit}s"
