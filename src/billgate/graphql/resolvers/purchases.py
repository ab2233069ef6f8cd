"""Owned products, subscriptions and the access question."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from billgate.billing import catalog, customers
from billgate.billing.errors import BillgateError
from billgate.billing.purchases import access, repository, service
from billgate.billing.subscriptions import operations
from billgate.db.models import Purchase
from billgate.graphql.context import Info
from billgate.graphql.errors import raise_query_error
from billgate.graphql.pagination import (
    Connection,
    Page,
    build_connection,
    decode_id_cursor,
    decode_text_cursor,
    page_size,
)
from billgate.graphql.resolvers.catalog import visible
from billgate.graphql.types.catalog import Product
from billgate.graphql.types.common import ProductType, SubscriptionStatus
from billgate.graphql.types.purchases import AccessRules, CustomerSubscription, OwnedProduct
from billgate.types import CustomerRef


@dataclass
class ProductGroup:
    key: str
    purchases: list[Purchase]


def shown_to(info: Info, purchase: Purchase) -> bool:
    """Server-only products are granted by the app's backend and never shown to client SDKs
    (the seed's "hide the product from client SDK responses"); ``hasAccess`` still answers
    for them, so an app can gate a feature on a product its users cannot see."""
    return info.context.principal.is_server or not purchase.product.get("serverOnly")


def group_purchases(owned: Sequence[Purchase]) -> list[ProductGroup]:
    """One entry per product; inline products each stand alone. Sorted by key (the cursor)."""
    groups: dict[str, ProductGroup] = {}
    for purchase in owned:
        key = purchase.product_id or f"~inline-{purchase.id:012d}"
        groups.setdefault(key, ProductGroup(key, [])).purchases.append(purchase)
    return sorted(groups.values(), key=lambda g: g.key)


async def owned_products(info: Info, ref: CustomerRef, first: int | None,
                         after: str | None) -> Connection[OwnedProduct]:
    """Keyset over the customer's owned products, grouped in memory (a customer owns a
    handful of products; the page is still cut by key, never by offset)."""
    runtime = info.context.runtime
    try:
        size = page_size(first)
        after_key = decode_text_cursor("owned-products", after)
        owned = await service.owned_purchases(runtime.db, ref, clock=runtime.clock,
                                              publish=runtime.publish)
    except BillgateError as exc:
        raise_query_error(exc)
    shown = [p for p in owned if shown_to(info, p)]
    groups = [g for g in group_purchases(shown) if after_key is None or g.key > after_key]
    options = await switch_options(info, ref, groups[:size])
    rules = await access_rules(info)
    return build_connection(Page(rows=groups, size=size, had_cursor=after is not None),
                            kind="owned-products", key=lambda g: g.key,
                            node=lambda g: owned_product_of(g, options, rules))


async def access_rules(info: Info) -> AccessRules:
    runtime = info.context.runtime
    settings = await runtime.payment_settings()
    return AccessRules(now=runtime.clock.now(), grace_period_days=settings.grace_period_days)


async def switch_options(info: Info, ref: CustomerRef,
                         groups: Sequence[ProductGroup]) -> dict[str, list[Product]]:
    """``switchOptions`` per product group: what ``switchSubscription`` accepts from the
    group's live subscription (``operations.switch_targets``). An included, one-time or
    granted-for-good product has none: a plan is left for another through checkout."""
    subs = {g.key: sub for g in groups if (sub := _live_subscription(g)) is not None
            and sub.product_line_id}
    if not subs:
        return {}
    runtime, server = info.context.runtime, info.context.principal.is_server
    options: dict[str, list[Product]] = {}
    async with runtime.db.read_session() as session:
        rows = await catalog.list_products_in_lines(
            session, sorted({s.product_line_id for s in subs.values() if s.product_line_id}))
        for key, sub in subs.items():
            candidates = [row for row in rows if row.product_line_id == sub.product_line_id]
            accepted = set(await operations.switch_targets(
                session, ref, sub, candidates, by_server=server, now=runtime.clock.now()))
            options[key] = [product for row in candidates if row.product_id in accepted
                            and (product := visible(info, row)) is not None]
    return options


def _live_subscription(group: ProductGroup) -> Purchase | None:
    return next((p for p in group.purchases if p.kind == repository.SUBSCRIPTION), None)


def owned_product_of(group: ProductGroup, options: dict[str, list[Product]],
                     rules: AccessRules) -> OwnedProduct:
    first = group.purchases[0]
    live_sub = _live_subscription(group)
    return OwnedProduct(
        product_id=first.product_id, display_name=first.product["displayName"],
        quantity=sum(p.quantity for p in group.purchases), type=ProductType(first.kind),
        subscription=CustomerSubscription.from_row(live_sub, rules) if live_sub else None,
        switch_options=options.get(group.key, []),
    )


async def subscriptions(info: Info, ref: CustomerRef, first: int | None, after: str | None,
                        status: list[SubscriptionStatus] | None) -> Connection[CustomerSubscription]:
    runtime = info.context.runtime
    try:
        size = page_size(first)
        before = decode_id_cursor("subscriptions", after)
    except BillgateError as exc:
        raise_query_error(exc)
    async with runtime.db.read_session() as session:
        customer = await customers.find(session, ref)
        rows = [] if customer is None else await repository.list_subscriptions_page(
            session, customer.id, before_id=before, limit=size + 1,
            statuses=[s.value for s in status] if status else None,
            include_server_only=info.context.principal.is_server)
    rules = await access_rules(info)
    return build_connection(Page(rows=rows, size=size, had_cursor=after is not None),
                            kind="subscriptions", key=lambda row: row.id,
                            node=lambda row: CustomerSubscription.from_row(row, rules))


async def has_access(info: Info, ref: CustomerRef, product_id: str) -> bool:
    from billgate.graphql.resolvers.customers import ensure_customer

    runtime = info.context.runtime
    customer_pk = await ensure_customer(info, ref)

    async def grace_period_days() -> int:
        return (await access_rules(info)).grace_period_days

    return await access.has_access(runtime.db, customer_pk, product_id,
                                   now=runtime.clock.now(), grace_period_days=grace_period_days)
