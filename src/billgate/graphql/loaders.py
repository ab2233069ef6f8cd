"""Per-request DataLoaders: a fixed number of queries per batch, results in key order, fresh
per request.

Each batch opens its own read session: graphql-core resolves sibling fields concurrently,
and one AsyncSession cannot serve concurrent operations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from billgate.billing import catalog, items
from billgate.billing.subscriptions import scheduled_store
from billgate.db.models import ItemDefinition, Product, ProductLine, ScheduledChange
from billgate.graphql.context import Context
from billgate.types import CustomerRef

K = TypeVar("K")
V = TypeVar("V")


def _per_request(ctx: Context, name: str, batch: Callable[[list[Any]], Awaitable[list[Any]]],
                 *, cache: bool = True) -> DataLoader[Any, Any]:
    """The request's loader called ``name``, made on first use."""
    loader = ctx.loaders.get(name)
    if loader is None:
        loader = ctx.loaders[name] = DataLoader(load_fn=batch, cache=cache)
    return loader


def _loader(ctx: Context, name: str,
            fetch: Callable[[AsyncSession, list[Any]], Awaitable[Sequence[Any]]],
            key_of: Callable[[Any], Any]) -> DataLoader[Any, Any]:
    async def batch(keys: list[Any]) -> list[Any]:
        async with ctx.runtime.db.read_session() as session:
            rows = await fetch(session, keys)
        by_key = {key_of(row): row for row in rows}
        return [by_key.get(key) for key in keys]

    return _per_request(ctx, name, batch)


async def _lines(session: AsyncSession, keys: list[str]) -> Sequence[ProductLine]:
    return [line for line in await catalog.list_product_lines(session) if line.product_line_id in keys]


async def _items(session: AsyncSession, keys: list[str]) -> Sequence[ItemDefinition]:
    return await catalog.list_item_definitions(session, include_archived=True)


def product_lines(ctx: Context) -> DataLoader[str, ProductLine | None]:
    return _loader(ctx, "product_lines", _lines, lambda r: r.product_line_id)


def item_definitions(ctx: Context) -> DataLoader[str, ItemDefinition | None]:
    # Item definitions are few: one query loads them all for the request.
    return _loader(ctx, "item_definitions", _items, lambda r: r.item_id)


def products(ctx: Context) -> DataLoader[str, Product | None]:
    return _loader(ctx, "products", catalog.list_products_by_ids, lambda r: r.product_id)


def customer_items(ctx: Context) -> DataLoader[CustomerRef, items.Balances]:
    """``Customer.items`` of every customer resolved together (a page of ``customers``) in
    one batch: two reads, plus one write transaction when expiries are due.

    Batched, not cached: balances change within a request (mutations run one after another,
    and their payloads may read them again), so every ``load`` reads them afresh.
    """
    async def batch(refs: list[CustomerRef]) -> list[items.Balances]:
        runtime = ctx.runtime
        return await items.list_balances_many(runtime.db, refs, clock=runtime.clock,
                                              bus=runtime.bus)

    return _per_request(ctx, "customer_items", batch, cache=False)


def scheduled_changes(ctx: Context) -> DataLoader[int, ScheduledChange | None]:
    """The pending scheduled change of each subscription resolved together (one query).
    Batched, not cached: a mutation's payload reads it after the change."""
    async def batch(purchase_ids: list[int]) -> list[ScheduledChange | None]:
        async with ctx.runtime.db.read_session() as session:
            found = await scheduled_store.pending_many(session, purchase_ids)
        return [found.get(pk) for pk in purchase_ids]

    return _per_request(ctx, "scheduled_changes", batch, cache=False)


def auto_top_ups(ctx: Context) -> DataLoader[tuple[CustomerRef, str], Any]:
    """``Item.autoTopUp``: one query for every (customer, item) asked together. Not cached:
    a live feed's WebSocket context outlives its events (``itemQuantityChanged`` keeps no
    per-event loaders), and a top-up turned off meanwhile must not be answered from a cache."""
    from billgate.billing.auto_top_up import settings

    async def batch(keys: list[tuple[CustomerRef, str]]) -> list[Any]:
        found = await settings.read_many(ctx.runtime.db, keys)
        return [found.get(key) for key in keys]

    return _per_request(ctx, "auto_top_ups", batch, cache=False)
