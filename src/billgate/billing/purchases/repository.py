"""Queries over purchases."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

# Kinds, "live" and "owned" are defined in ``ownership.py``; re-exported for callers here.
from billgate.billing.purchases.ownership import INCLUDED as INCLUDED
from billgate.billing.purchases.ownership import LIVE_SUBSCRIPTION as LIVE_SUBSCRIPTION
from billgate.billing.purchases.ownership import ONE_TIME as ONE_TIME
from billgate.billing.purchases.ownership import OWNED_CONDITION as OWNED_CONDITION
from billgate.billing.purchases.ownership import SUBSCRIPTION as SUBSCRIPTION
from billgate.billing.purchases.ownership import live_subscription
from billgate.db.models import Purchase


def owned_statement(customer_pk: int) -> Select[Purchase]:
    return (select(Purchase).where(Purchase.customer_pk == customer_pk, OWNED_CONDITION)
            .order_by(Purchase.id))


async def list_owned(session: AsyncSession, customer_pk: int) -> Sequence[Purchase]:
    return (await session.scalars(owned_statement(customer_pk))).all()


async def list_included(session: AsyncSession, customer_pk: int) -> Sequence[Purchase]:
    return (await session.scalars(select(Purchase).where(
        Purchase.customer_pk == customer_pk, Purchase.kind == INCLUDED))).all()


async def get(session: AsyncSession, purchase_id: int) -> Purchase | None:
    return await session.get(Purchase, purchase_id)


async def current_subscription(session: AsyncSession, customer_pk: int, *,
                               product_line_id: str | None,
                               include_server_only: bool = True) -> Purchase | None:
    """The newest live subscription (``ownership.live_subscription``), of the product line
    if given: StackBE's "current subscription". Server-only products (as sold) are left out
    for client callers, as in ``list_subscriptions_page``."""
    found = await list_subscriptions_page(session, customer_pk, before_id=None, limit=1,
                                          live_only=True,
                                          include_server_only=include_server_only,
                                          product_line_id=product_line_id)
    return found[0] if found else None


async def list_subscriptions_page(session: AsyncSession, customer_pk: int, *,
                                  before_id: int | None, limit: int,
                                  statuses: Sequence[str] | None = None,
                                  live_only: bool = False,
                                  include_server_only: bool = True,
                                  product_line_id: str | None = None) -> Sequence[Purchase]:
    """Subscriptions newest first (keyset on id), optionally of some statuses only, and
    without those of server-only products (as sold) for client callers."""
    stmt = (select(Purchase).where(Purchase.customer_pk == customer_pk,
                                   Purchase.kind == SUBSCRIPTION)
            .order_by(Purchase.id.desc()).limit(limit))
    if before_id is not None:
        stmt = stmt.where(Purchase.id < before_id)
    if statuses:
        stmt = stmt.where(Purchase.status.in_(list(statuses)))
    if live_only:
        stmt = stmt.where(live_subscription())
    if product_line_id is not None:
        stmt = stmt.where(Purchase.product_line_id == product_line_id)
    if not include_server_only:
        server_only = Purchase.product["serverOnly"].as_boolean()
        stmt = stmt.where(or_(server_only.is_(None), server_only.is_(False)))
    return (await session.scalars(stmt)).all()
