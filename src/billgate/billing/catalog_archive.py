"""Archiving one catalog entry (``archiveItemDefinition``, ``archiveProductLine``,
``archiveProduct``; the console's Archive buttons).

An archived entry leaves the live catalog: it cannot be bought, granted or switched to, and
``catalog show`` leaves it out. What customers already own keeps working from its snapshot
(subscriptions renew as sold). Archiving is refused while a live entry still depends on it,
so the live catalog always passes the same checks as a catalog file:

- an item while a live product includes it;
- a product line while live products belong to it;
- a product while a live add-on names it as its base.

Saving the entry again (an upsert, or a catalog file that lists it) restores it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import writes
from billgate.billing.catalog import bump_version
from billgate.db.engine import Database
from billgate.db.models import ItemDefinition, Product, ProductLine
from billgate.errors import CatalogError, ItemNotFound, ProductNotFound

KINDS = ("item", "productLine", "product")


async def _live_products(session: AsyncSession) -> list[Product]:
    return list((await session.scalars(select(Product).where(Product.archived_at.is_(None))
                                       .order_by(Product.product_id))).all())


async def _item(session: AsyncSession, item_id: str) -> ItemDefinition:
    row = await session.scalar(select(ItemDefinition).where(
        ItemDefinition.item_id == item_id, ItemDefinition.archived_at.is_(None)).with_for_update())
    if row is None:
        raise ItemNotFound(f"item {item_id!r} not found", field=["itemId"])
    users = [p.product_id for p in await _live_products(session)
             if any(i["itemId"] == item_id for i in p.included_items or [])]
    if users:
        raise CatalogError(f"item {item_id!r} is included by product(s) {', '.join(users)}: "
                           "archive those products or take the item out of them first",
                           field=["itemId"])
    return row


async def _line(session: AsyncSession, line_id: str) -> ProductLine:
    row = await session.scalar(select(ProductLine).where(
        ProductLine.product_line_id == line_id, ProductLine.archived_at.is_(None)).with_for_update())
    if row is None:
        raise CatalogError(f"product line {line_id!r} not found", field=["productLineId"])
    members = [p.product_id for p in await _live_products(session) if p.product_line_id == line_id]
    if members:
        raise CatalogError(f"product line {line_id!r} still holds product(s) {', '.join(members)}: "
                           "archive them or move them to another line first",
                           field=["productLineId"])
    return row


async def _product(session: AsyncSession, product_id: str) -> Product:
    row = await session.scalar(select(Product).where(
        Product.product_id == product_id, Product.archived_at.is_(None)).with_for_update())
    if row is None:
        raise ProductNotFound(f"product {product_id!r} not found", field=["productId"])
    add_ons = [p.product_id for p in await _live_products(session)
               if product_id in (p.is_add_on_to or [])]
    if add_ons:
        raise CatalogError(f"product {product_id!r} is the base of add-on(s) {', '.join(add_ons)}: "
                           "archive those add-ons first", field=["productId"])
    return row


async def archive(db: Database, kind: str, entry_id: str, *, now: datetime) -> None:
    """Archive the live entry ``entry_id`` of ``kind`` ("item", "productLine", "product"),
    checked against the live catalog in the same transaction (rules above)."""
    async def work(session: AsyncSession) -> None:
        if kind == "item":
            row: ItemDefinition | ProductLine | Product = await _item(session, entry_id)
        elif kind == "productLine":
            row = await _line(session, entry_id)
        elif kind == "product":
            row = await _product(session, entry_id)
        else:
            raise CatalogError(f"unknown catalog entry kind {kind[:30]!r}")
        row.archived_at = now
        await bump_version(session)

    await writes.apart(db, work)
