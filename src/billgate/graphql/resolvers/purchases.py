"""Owned products, subscriptions and the access question."""

from __future__ import annotations

from collections.abc import Sequence

from billgate.billing import customers
from billgate.billing.purchases import access, owned, repository
from billgate.billing.purchases.owned import ProductGroup
from billgate.errors import BillgateError
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
from billgate.graphql.types.catalog import Product
from billgate.graphql.types.common import ProductType, SubscriptionStatus
from billgate.graphql.types.purchases import AccessRules, CustomerSubscription, OwnedProduct
from billgate.types import CustomerRef


async def owned_products(info: Info, ref: CustomerRef, first: int | None,
                         after: str | None) -> Connection[OwnedProduct]:
    """Keyset over the customer's owned products, grouped in memory (a customer owns a
    handful of products; the page is still cut by key, never by offset)."""
    runtime = info.context.runtime
    by_server = info.context.principal.is_server
    try:
        size = page_size(first)
        after_key = decode_text_cursor("owned-products", after)
        groups = await owned.owned_products(runtime.db, ref, by_server=by_server,
                                            clock=runtime.clock, bus=runtime.bus)
    except BillgateError as exc:
        raise_query_error(exc)
    groups = [g for g in groups if after_key is None or g.key > after_key]
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
    """``switchOptions`` per product group (``owned.switch_options``), as GraphQL types."""
    runtime, server = info.context.runtime, info.context.principal.is_server
    rows = await owned.switch_options(runtime.db, ref, groups, by_server=server,
                                      now=runtime.clock.now())
    return {key: [Product.from_row(row, show_server_only_prices=server) for row in found]
            for key, found in rows.items()}


def owned_product_of(group: ProductGroup, options: dict[str, list[Product]],
                     rules: AccessRules) -> OwnedProduct:
    first = group.purchases[0]
    live_sub = group.live_subscription
    return OwnedProduct(
        product_id=first.product_id, display_name=first.product["displayName"],
        quantity=group.quantity, type=ProductType(first.kind),
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


async def current_subscription(info: Info, ref: CustomerRef,
                               product_line_id: str | None) -> CustomerSubscription | None:
    runtime = info.context.runtime
    async with runtime.db.read_session() as session:
        customer = await customers.find(session, ref)
        row = None if customer is None else await repository.current_subscription(
            session, customer.id, product_line_id=product_line_id,
            include_server_only=info.context.principal.is_server)
    return CustomerSubscription.from_row(row, await access_rules(info)) if row else None


async def has_access(info: Info, ref: CustomerRef, product_id: str | None) -> bool:
    from billgate.graphql.resolvers.customers import ensure_customer

    runtime = info.context.runtime

    async def grace_period_days() -> int:
        return (await access_rules(info)).grace_period_days

    context = info.context
    if ref in context.deferred_customers and ref not in context.customer_pks:
        # customer(...) left its check to this field: the answer's statement makes it.
        checked = await access.has_access_checking_customer(
            runtime.db, ref, product_id, now=runtime.clock.now(),
            grace_period_days=grace_period_days)
        if checked is not None:
            context.customer_pks[ref], answer = checked
            return answer
    customer_pk = await ensure_customer(info, ref)
    return await access.has_access(runtime.db, customer_pk, product_id,
                                   now=runtime.clock.now(), grace_period_days=grace_period_days)
