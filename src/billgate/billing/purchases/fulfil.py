"""Starting and ending purchases, with everything that follows from the catalog's rules:
item grants and their schedules, replaced plans, and include-by-default products stepping
aside and returning. Every function runs in the caller's transaction and returns the item
events to publish after it commits.

Item grants of a purchase use the source ``purchase:<id>``:
- ``NEVER``: granted for good (no bucket; a refund with revoke removes the amount);
- ``WHEN_PURCHASE_EXPIRES``: expires (unused remainder) when the purchase ends;
- ``WHEN_REPEATED``: expires when the next repeat arrives, or when the purchase ends; with
  ``rollover: N`` the unused remainder (up to N) is granted again at the repeat as its own
  ledger change (reason ``rollover``), expiring with the next repeat like the rest.
Items with a ``repeat`` get an ``ItemSchedule`` that grants them again on the calendar.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from billgate.billing import catalog, invoices, items, locks
from billgate.billing.calendar import add_interval
from billgate.billing.catalog_spec import ProductSpec
from billgate.billing.purchases import ownership
from billgate.billing.purchases.repository import (
    INCLUDED,
    ONE_TIME,
    SUBSCRIPTION,
)
from billgate.billing.purchases.request import PurchaseRequest
from billgate.billing.subscriptions import overage_billing, scheduled_store
from billgate.billing.subscriptions.paid_credits import paid_repeat_condition, repeat_is_paid
from billgate.billing.subscriptions.states import transition
from billgate.db.models import Customer, Invoice, ItemDefinition, ItemSchedule, Product, Purchase
from billgate.errors import BillgateError
from billgate.types import CustomerType, ItemExpiry

Events = list[items.ChangeEvent]
log = logging.getLogger(__name__)


def source_of(purchase: Purchase) -> str:
    return f"purchase:{purchase.id}"


async def start(session: AsyncSession, customer: Customer, request: PurchaseRequest, *,
                now: datetime, origin: str, owned: Sequence[Purchase]) -> tuple[Purchase, Events]:
    """Create the purchase and grant what it includes. A product of a line replaces the
    line's plan (its live subscription or one-time purchase, ended now) and makes its
    included product step aside; an add-on of a line is bought beside its base, so it
    replaces nothing."""
    events: Events = []
    line = None if request.product.is_add_on_to else request.product.product_line_id
    replaced: list[Purchase] = []
    for old in owned:
        if line is None or old.product_line_id != line:
            continue
        if old.kind != INCLUDED and ownership.is_owned(old.kind, old.status):
            events += await end(session, customer, old, now=now, status="CANCELED",
                                restore_included=False)
            replaced.append(old)
        elif old.kind == INCLUDED and old.status == "ACTIVE":
            events += await end(session, customer, old, now=now, status="SUSPENDED",
                                restore_included=False)
    purchase = _new_purchase(customer, request, now=now, origin=origin)
    session.add(purchase)
    await session.flush()
    for old in replaced:
        old.replaced_by_id = purchase.id
    events += await grant_included_items(session, customer, purchase, now=now)
    return purchase, events


def _new_purchase(customer: Customer, request: PurchaseRequest, *, now: datetime,
                  origin: str) -> Purchase:
    product = request.product
    purchase = Purchase(
        customer_pk=customer.id, kind=SUBSCRIPTION if request.is_subscription else ONE_TIME,
        status="ACTIVE", origin=origin, product_id=request.product_id,
        product_line_id=product.product_line_id, product=request.snapshot(),
        price_id=request.price["priceId"] if request.price else None, price=request.price,
        currency=request.currency, unit_amount=request.unit_amount if request.price else None,
        quantity=request.quantity, created_at=now, updated_at=now,
    )
    if request.is_subscription:
        assert request.price is not None
        trial = request.price.get("freeTrial") or product.free_trial
        purchase.current_period_start = now
        # Periods are counted from the anchor: the first paid period starts at the end of
        # the trial, or now (and is paid by this purchase).
        if trial:
            purchase.status = "TRIALING"
            purchase.trial_ends_at = add_interval(now, trial)
            purchase.current_period_end = purchase.trial_ends_at
            purchase.billing_anchor_at = purchase.trial_ends_at
            purchase.periods_billed = 0
        else:
            purchase.current_period_end = add_interval(now, request.price["interval"])
            purchase.billing_anchor_at = now
            purchase.periods_billed = 1
        purchase.next_action_at = purchase.current_period_end
    return purchase


async def end(session: AsyncSession, customer: Customer, purchase: Purchase, *, now: datetime,
              status: str, restore_included: bool = True) -> Events:
    """End ``purchase`` now (``CANCELED``, ``REFUNDED`` or ``SUSPENDED``), whatever ended it
    (cancel, dunning, a replacing plan, a refund): its open invoice is void, its repeats stop,
    its pending scheduled change is closed (ENDED) and the unused remainder of its expiring
    grants expires. When a paid plan of a line ends, the line's include-by-default product
    returns (``restore_included``). A plan's overage debt is billed on a final invoice first
    (``overage_billing.bill_at_end``)."""
    ended = await overage_billing.bill_at_end(session, customer, purchase, now=now)
    if purchase.open_invoice_id is not None:
        open_invoice = await session.get(Invoice, purchase.open_invoice_id)
        if open_invoice is not None and open_invoice.status == "OPEN":
            await invoices.void(session, open_invoice)
        purchase.open_invoice_id = None
    transition(purchase, status, now=now)
    if status != "SUSPENDED":
        purchase.ended_at = now
        purchase.next_action_at = purchase.next_retry_at = None
    if purchase.kind == SUBSCRIPTION:  # a plan change waiting for a period that never comes
        await scheduled_store.close_pending(session, purchase.id, scheduled_store.ENDED, now=now)
    await session.execute(update(ItemSchedule).where(ItemSchedule.purchase_id == purchase.id)
                          .values(active=False))
    events = ended + await items.expire_source(session, source_of(purchase), now=now)
    if restore_included and purchase.kind != INCLUDED and purchase.product_line_id is not None:
        events += await _restore_included(session, customer, purchase.product_line_id, now=now)
    return events


async def _restore_included(session: AsyncSession, customer: Customer, line: str, *,
                            now: datetime) -> Events:
    owned_in_line = await session.scalar(select(Purchase.id).where(
        Purchase.customer_pk == customer.id, Purchase.product_line_id == line,
        Purchase.kind != INCLUDED, ownership.owned()).limit(1))
    if owned_in_line is not None:
        return []
    suspended = await session.scalar(select(Purchase).where(
        Purchase.customer_pk == customer.id, Purchase.product_line_id == line,
        Purchase.kind == INCLUDED, Purchase.status == "SUSPENDED"))
    if suspended is None:
        return []
    transition(suspended, "ACTIVE", now=now)
    return await grant_included_items(session, customer, suspended, now=now)


async def grant_included_items(session: AsyncSession, customer: Customer, purchase: Purchase, *,
                               now: datetime) -> Events:
    """Grant each included item (times the purchase quantity) and schedule its repeats,
    anchored now."""
    events: Events = []
    definitions = await _item_definitions(session, purchase.product["includedItems"])
    for included in purchase.product["includedItems"]:
        item = definitions[included["itemId"]]
        repeat = included.get("repeat")
        next_at = add_interval(now, repeat) if repeat else None
        events += await _grant(session, customer, item, purchase, included, now=now,
                               next_at=next_at, reason="purchase")
        if repeat:
            assert next_at is not None
            session.add(ItemSchedule(
                purchase_id=purchase.id, item_id=item.item_id,
                quantity=included["quantity"] * purchase.quantity, interval=repeat,
                expires=included["expires"], anchor_at=now, repeat_count=1, next_at=next_at,
                active=True))
    return events


async def _grant(session: AsyncSession, customer: Customer, item: ItemDefinition,
                 purchase: Purchase, included: dict[str, Any], *, now: datetime,
                 next_at: datetime | None, reason: str) -> Events:
    expires = included["expires"]
    return await items.grant(
        session, customer, item, quantity=included["quantity"] * purchase.quantity, now=now,
        expires_at=next_at if expires == ItemExpiry.WHEN_REPEATED else None,
        expire_with_source=expires != ItemExpiry.NEVER, reason=reason,
        source=source_of(purchase), description=purchase.product["displayName"])


def rollover_cap(purchase: Purchase, item_id: str) -> int:
    """The included item's ``rollover`` as sold (0: none)."""
    for included in purchase.product.get("includedItems") or []:
        if included["itemId"] == item_id and included.get("rollover"):
            return int(included["rollover"])
    return 0


async def _rollover(session: AsyncSession, customer: Customer, item: ItemDefinition,
                    purchase: Purchase, *, at: datetime, granted_at: datetime,
                    expires_at: datetime | None) -> Events:
    """At a repeat at ``at`` of a WHEN_REPEATED item with a ``rollover`` cap: what of the
    period that ends expired unused (up to the cap) comes back as a grant of reason
    ``rollover`` that expires with the next repeat. The expiry is settled first, whether or
    not the scheduler's expiry job already did, so the remainder is read from the ledger."""
    cap = rollover_cap(purchase, item.item_id)
    if cap <= 0 or expires_at is None:
        return []
    expired, events = await items.expired_of_source(
        session, customer, item, source=source_of(purchase), at=at, now=granted_at)
    carried = min(cap, expired)
    if carried > 0:
        events += await items.grant(
            session, customer, item, quantity=carried, now=granted_at, expires_at=expires_at,
            expire_with_source=True, reason="rollover", source=source_of(purchase),
            description=purchase.product["displayName"])
    return events


async def _item_definitions(session: AsyncSession,
                            included: list[dict[str, Any]]) -> dict[str, ItemDefinition]:
    wanted = {i["itemId"] for i in included}
    if not wanted:
        return {}
    rows = await session.scalars(select(ItemDefinition).where(ItemDefinition.item_id.in_(wanted)))
    return {row.item_id: row for row in rows}


async def ensure_included(session: AsyncSession, customer: Customer, *, now: datetime) -> Events:
    """Give the customer every include-by-default product of its type it does not have yet
    (suspended at once where it already owns a paid product of that line). Takes the
    customer's lock first, so concurrent first reads include each product once."""
    await locks.customer(session, customer.id)
    # Read before the defaults: a catalog change committed in between leaves the customer
    # one version behind, so it is checked once more, never skipped.
    version = await catalog.catalog_version(session)
    customer.included_version = version
    defaults = [
        row for row in (await session.scalars(
            catalog.products_statement(customer_type=CustomerType(customer.type),
                                       include_server_only=True)
            .where(Product.included_by_default.is_(True)))).all()
    ]
    if not defaults:
        return []
    existing = await session.scalars(select(Purchase.product_id).where(
        Purchase.customer_pk == customer.id, Purchase.kind == INCLUDED))
    have = set(existing)
    events: Events = []
    for row in defaults:
        if row.product_id in have:
            continue
        try:
            # A grant that cannot be made (a balance near its maximum) fails alone: the
            # customer is still created and read; that product is left out until the
            # catalog's next change.
            async with session.begin_nested():
                events += await _include(session, customer, catalog.product_spec(row), now=now)
        except BillgateError as exc:
            log.warning("include-by-default product %s not given to %s %s: %s", row.product_id,
                        customer.type, customer.customer_id, exc.message)
    return events


async def _include(session: AsyncSession, customer: Customer, product: ProductSpec, *,
                   now: datetime) -> Events:
    blocked = product.product_line_id is not None and await session.scalar(
        select(Purchase.id).where(
            Purchase.customer_pk == customer.id, Purchase.product_line_id == product.product_line_id,
            Purchase.kind != INCLUDED, ownership.owned()).limit(1))
    purchase = Purchase(
        customer_pk=customer.id, kind=INCLUDED, status="SUSPENDED" if blocked else "ACTIVE",
        origin="default", product_id=product.product_id, product_line_id=product.product_line_id,
        product=product.as_document(), quantity=1, created_at=now, updated_at=now)
    session.add(purchase)
    await session.flush()
    if blocked:
        return []
    return await grant_included_items(session, customer, purchase, now=now)


def _due_repeats(now: datetime, grant_during_grace: bool) -> tuple[ColumnElement[bool], ...]:
    """Active, due, and (for a subscription) paid for (``subscriptions/paid_credits.py``)."""
    return (ItemSchedule.active.is_(True), ItemSchedule.next_at <= now,
            paid_repeat_condition(grant_during_grace=grant_during_grace))


async def due_repeats(session: AsyncSession, *, now: datetime, limit: int = 200,
                      grant_during_grace: bool = False) -> list[tuple[int, int]]:
    """(schedule id, customer pk) of repeats that are due, in time order."""
    rows = await session.execute(
        select(ItemSchedule.id, Purchase.customer_pk)
        .join(Purchase, Purchase.id == ItemSchedule.purchase_id)
        .where(*_due_repeats(now, grant_during_grace))
        .order_by(ItemSchedule.next_at, ItemSchedule.id).limit(limit))
    return [(row[0], row[1]) for row in rows]


async def next_repeat_due(session: AsyncSession, *, now: datetime,
                          grant_during_grace: bool = False) -> datetime | None:
    """When the earliest due repeat was due (the scheduler's ``item.repeat``), or None."""
    due: datetime | None = await session.scalar(
        select(func.min(ItemSchedule.next_at))
        .join(Purchase, Purchase.id == ItemSchedule.purchase_id)
        .where(*_due_repeats(now, grant_during_grace)))
    return due


async def run_due_repeats(session: AsyncSession, *, now: datetime, limit: int = 200) -> Events:
    """Every due repeat in the caller's transaction (tests and tools; the scheduler runs
    them one customer at a time through ``billing/scheduled.py``)."""
    events: Events = []
    for schedule_id, _ in await due_repeats(session, now=now, limit=limit):
        events += await run_due_repeat(session, schedule_id, now=now)
    return events


async def run_due_repeat(session: AsyncSession, schedule_id: int, *, now: datetime,
                         not_before: datetime | None = None,
                         grant_during_grace: bool = False) -> Events:
    """Grant what is due of one repeat schedule, in the customer's unit of work. Each
    repeat advances with a conditional UPDATE on ``repeat_count``, so it is granted once
    even if the schedule was read before another run granted it. A subscription's repeat
    waits while its period is unpaid (``subscriptions/paid_credits.py``); one granted late
    is dated ``not_before`` (when it was paid)."""
    schedule = await session.get(ItemSchedule, schedule_id, populate_existing=True)
    if schedule is None:
        return []
    return await _repeat(session, schedule, now=now, not_before=not_before,
                         grant_during_grace=grant_during_grace)


async def _repeat(session: AsyncSession, schedule: ItemSchedule, *, now: datetime,
                  not_before: datetime | None, grant_during_grace: bool) -> Events:
    events: Events = []
    while schedule.active and schedule.next_at <= now:
        at = schedule.next_at
        purchase = await session.get(Purchase, schedule.purchase_id)
        assert purchase is not None
        if not repeat_is_paid(purchase, at, grant_during_grace=grant_during_grace):
            break  # held until its period is paid
        following = add_interval(schedule.anchor_at, schedule.interval, schedule.repeat_count + 1)
        claimed = await session.execute(
            update(ItemSchedule).where(ItemSchedule.id == schedule.id,
                                       ItemSchedule.repeat_count == schedule.repeat_count)
            .values(repeat_count=schedule.repeat_count + 1, next_at=following)
            .execution_options(synchronize_session=False))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            break  # another process granted this repeat
        customer = await session.get(Customer, purchase.customer_pk)
        item = await session.scalar(select(ItemDefinition).where(
            ItemDefinition.item_id == schedule.item_id))
        assert customer is not None and item is not None
        granted_at = max(at, not_before) if not_before is not None else at
        expires_at = following if schedule.expires == ItemExpiry.WHEN_REPEATED else None
        if expires_at is None or expires_at > granted_at:  # else over before it was paid
            events += await _rollover(session, customer, item, purchase, at=at,
                                      granted_at=granted_at, expires_at=expires_at)
            events += await items.grant(
                session, customer, item, quantity=schedule.quantity, now=granted_at,
                expires_at=expires_at, expire_with_source=schedule.expires != ItemExpiry.NEVER,
                reason="repeat", source=source_of(purchase),
                description=purchase.product["displayName"])
        await session.refresh(schedule)
    return events
