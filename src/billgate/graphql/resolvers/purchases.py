"""Owned products, subscriptions and the access question."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from billgate.billing import catalog, customers
from billgate.billing.errors import BillgateError
from billgate.billing.purchases import repository, service
from billgate.billing.subscriptions.states import has_access as subscription_access
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
from billgate.graphql.types.common import ProductType, SubscriptionStatus
from billgate.graphql.types.purchases import AccessRules, CustomerSubscription, OwnedProduct
from billgate.types import CustomerRef


@dataclass
class ProductGroup:
    key: str
    purchases: list[Purchase]


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
    groups = [g for g in group_purchases(owned) if after_key is None or g.key > after_key]
    lines = {g.purchases[0].product_line_id for g in groups[:size]} - {None}
    options = await switch_candidates(info, [line for line in lines if line])
    rules = await access_rules(info)
    return build_connection(Page(rows=groups, size=size, had_cursor=after is not None),
                            kind="owned-products", key=lambda g: g.key,
                            node=lambda g: owned_product_of(g, options, rules))


async def access_rules(info: Info) -> AccessRules:
    runtime = info.context.runtime
    settings = await runtime.payment_settings()
    return AccessRules(now=runtime.clock.now(), grace_period_days=settings.grace_period_days)


async def switch_candidates(info: Info, lines: list[str]) -> dict[str, list]:
    if not lines:
        return {}
    async with info.context.runtime.db.read_session() as session:
        rows = await catalog.list_products_in_lines(session, lines)
    by_line: dict[str, list] = {}
    for row in rows:
        if row.included_by_default or row.is_add_on_to:
            continue
        product = visible(info, row)
        if product is not None and row.product_line_id:
            by_line.setdefault(row.product_line_id, []).append(product)
    return by_line


def owned_product_of(group: ProductGroup, options: dict[str, list],
                     rules: AccessRules) -> OwnedProduct:
    first = group.purchases[0]
    live_sub = next((p for p in group.purchases if p.kind == repository.SUBSCRIPTION), None)
    line = first.product_line_id
    return OwnedProduct(
        product_id=first.product_id, display_name=first.product["displayName"],
        quantity=sum(p.quantity for p in group.purchases), type=ProductType(first.kind),
        subscription=CustomerSubscription.from_row(live_sub, rules) if live_sub else None,
        switch_options=[p for p in options.get(line or "", []) if p.product_id != first.product_id],
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
            statuses=[s.value for s in status] if status else None)
    rules = await access_rules(info)
    return build_connection(Page(rows=rows, size=size, had_cursor=after is not None),
                            kind="subscriptions", key=lambda row: row.id,
                            node=lambda row: CustomerSubscription.from_row(row, rules))


async def has_access(info: Info, ref: CustomerRef, product_id: str) -> bool:
    from billgate.graphql.resolvers.customers import ensure_customer

    runtime = info.context.runtime
    owned = await service.owned_purchases(runtime.db, ref, clock=runtime.clock,
                                          customer_pk=await ensure_customer(info, ref))
    now = runtime.clock.now()
    for purchase in owned:
        if purchase.product_id != product_id:
            continue
        if purchase.kind != repository.SUBSCRIPTION:
            return True
        # The grace period matters only to a PAST_DUE subscription: read the settings then.
        grace = ((await access_rules(info)).grace_period_days
                 if purchase.status == "PAST_DUE" else 0)
        if subscription_access(purchase, now=now, grace_period_days=grace):
            return True
    return False
