"""``setAutoTopUp`` and what reads show of it (``Item.autoTopUp``).

Choices where the contract is silent:

- the product must be one the caller could buy for this customer now (a customer token
  does not see server-only products), at a one-time price (a top-up that started a
  subscription would charge again every period), stackable (one that can be owned once
  could top up once) and must include the item: a top-up that cannot raise the balance is
  refused (``INVALID_INPUT`` on ``productId``);
- ``threshold`` may be 0 or more, ``quantity`` 1 to the purchase maximum, ``maxPerMonth``
  1 to 1000; anything else is a userError and nothing changes (not even the customer's
  first reference, which the unit of work rolls back with it);
- setting it again replaces every field; enabling clears ``disabledReason`` (after a
  decline the customer updates the card, then turns it on again);
- the price's currency is the one a checkout would pick (USD when the price has it).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import unit_of_work
from billgate.billing.context import Scope
from billgate.billing.items.requests import live_item
from billgate.billing.purchases import request
from billgate.billing.unit_of_work import UnitOfWork
from billgate.db.engine import Database
from billgate.db.models import AutoTopUp, Customer, ItemDefinition
from billgate.errors import InvalidInput
from billgate.types import CustomerRef, CustomerType

MAX_PER_MONTH = 1000
MAX_THRESHOLD = 2**31 - 1


@dataclass(frozen=True)
class Settings:
    """What was asked for (``setAutoTopUp``'s input)."""

    item_id: str
    threshold: int
    product_id: str
    price_id: str | None = None
    quantity: int = 1
    max_per_month: int = 10
    enabled: bool = True


@dataclass(frozen=True)
class View:
    """An auto top-up as stored (``AutoTopUp``)."""

    item_id: str
    threshold: int
    product_id: str
    price_id: str | None
    quantity: int
    max_per_month: int
    enabled: bool
    last_triggered_at: datetime | None
    disabled_reason: str | None

    @property
    def summary(self) -> str:
        """One line for people (the console's and the portal's balances)."""
        if not self.enabled:
            return f"Off: {self.disabled_reason}" if self.disabled_reason else "Off"
        what = self.product_id + (f" ({self.price_id})" if self.price_id else "")
        return (f"Buys {self.quantity} × {what} when available falls to {self.threshold:,} "
                f"(at most {self.max_per_month} a month)")


def view_of(row: AutoTopUp, item_id: str) -> View:
    return View(item_id, row.threshold, row.product_id, row.price_id, row.quantity,
                row.max_per_month, row.enabled, row.last_triggered_at, row.disabled_reason)


def _whole(value: object, low: int, high: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{name} must be a whole number from {low} to {high}", field=[name])


def check(asked: Settings) -> None:
    """The checks that need no database."""
    _whole(asked.threshold, 0, MAX_THRESHOLD, "threshold")
    _whole(asked.quantity, 1, request.MAX_QUANTITY, "quantity")
    _whole(asked.max_per_month, 1, MAX_PER_MONTH, "maxPerMonth")


async def set_auto_top_up(scope: Scope, ref: CustomerRef, asked: Settings, *,
                          by_server: bool) -> View:
    """Store the customer's auto top-up of ``asked.item_id`` (see the module doc), as one
    unit of work on the customer."""
    check(asked)

    async def work(uow: UnitOfWork) -> View:
        item = await live_item(uow.session, asked.item_id, ref.type)
        await _check_product(uow.session, ref, asked, by_server=by_server)
        row = await uow.session.scalar(select(AutoTopUp).where(
            AutoTopUp.customer_pk == uow.customer.id, AutoTopUp.item_pk == item.id))
        if row is None:
            row = AutoTopUp(customer_pk=uow.customer.id, item_pk=item.id, created_at=uow.now)
            uow.session.add(row)
        row.threshold, row.product_id, row.price_id = (asked.threshold, asked.product_id,
                                                       asked.price_id)
        row.quantity, row.max_per_month, row.enabled = (asked.quantity, asked.max_per_month,
                                                        asked.enabled)
        if asked.enabled:
            row.disabled_reason = None
        row.updated_at = uow.now
        await uow.session.flush()
        return view_of(row, item.item_id)

    return await unit_of_work.run(scope, ref, work)


async def _check_product(session: AsyncSession, ref: CustomerRef, asked: Settings, *,
                         by_server: bool) -> None:
    req = await request.resolve(session, customer=ref, product_id=asked.product_id, inline=None,
                                price_id=asked.price_id, currency=None, quantity=asked.quantity,
                                by_server=by_server, needs_price=True)
    if req.is_subscription:
        raise InvalidInput("an auto top-up buys a one-time price; this price renews",
                           field=["priceId"])
    if not req.product.stackable:
        raise InvalidInput(f"product {asked.product_id!r} is not stackable: it could be "
                           "bought only once, so it cannot top a balance up again",
                           field=["productId"])
    if not any(i.get("itemId") == asked.item_id for i in req.product.included_items):
        raise InvalidInput(f"product {asked.product_id!r} does not include item "
                           f"{asked.item_id!r}, so buying it would not top the balance up",
                           field=["productId"])


async def read_many(db: Database, keys: Collection[tuple[CustomerRef, str]]
                    ) -> dict[tuple[CustomerRef, str], View]:
    """The auto top-ups of these (customer, item id) pairs, in one query (missing: none)."""
    if not keys:
        return {}
    pairs = [(ref.type.value, ref.customer_id, item_id) for ref, item_id in keys]
    stmt = (select(AutoTopUp, Customer.type, Customer.customer_id, ItemDefinition.item_id)
            .join(Customer, Customer.id == AutoTopUp.customer_pk)
            .join(ItemDefinition, ItemDefinition.id == AutoTopUp.item_pk)
            .where(tuple_(Customer.type, Customer.customer_id, ItemDefinition.item_id).in_(pairs)))
    async with db.read_session() as session:
        rows = (await session.execute(stmt)).all()
    return {(CustomerRef(CustomerType(t), cid), item_id): view_of(row, item_id)
            for row, t, cid, item_id in rows}


async def list_for(db: Database, customer_pk: int) -> list[View]:
    """A customer's auto top-ups, by item id (the console and the portal)."""
    stmt = (select(AutoTopUp, ItemDefinition.item_id)
            .join(ItemDefinition, ItemDefinition.id == AutoTopUp.item_pk)
            .where(AutoTopUp.customer_pk == customer_pk).order_by(ItemDefinition.item_id))
    async with db.read_session() as session:
        return [view_of(row, item_id) for row, item_id in await session.execute(stmt)]
