"""Checkout links, what a customer owns, and plan switches."""

from __future__ import annotations

from datetime import datetime

from billgate.billing import catalog
from billgate.billing.purchases import owned, service
from billgate.billing.subscriptions import operations
from billgate.billing.subscriptions.states import has_access
from billgate.db.models import Product, Purchase
from billgate.errors import InvalidInput
from billgate.ids import global_id
from billgate.money import from_minor
from billgate.rest.endpoint import Call
from billgate.rest.models import (
    CreatePurchaseUrlBody,
    IntervalOut,
    OwnedProductOut,
    PriceOut,
    ProductOut,
    ProductsOut,
    PurchaseUrlOut,
    SubscriptionOut,
    SwitchBody,
    SwitchOut,
)
from billgate.runtime import Runtime


async def create_purchase_url(call: Call) -> PurchaseUrlOut:
    """``createCheckoutUrl``: the same rules, checked now and again on completion."""
    body: CreatePurchaseUrlBody = call.body
    runtime = call.runtime
    if body.product_id is None and body.product_inline is None:
        raise InvalidInput("Must specify either product_id or product_inline", field=["product_id"])
    checkout = await service.create_checkout(
        runtime.db, call.customer, product_id=body.product_id,
        inline=body.product_inline.to_document() if body.product_inline else None,
        price_id=body.price_id, currency=None, quantity=body.quantity,
        return_url=body.return_url, cancel_url=body.cancel_url,
        allowed_return_urls=runtime.settings.allowed_return_urls,
        by_server=call.principal.is_server, clock=runtime.clock, bus=runtime.bus)
    return PurchaseUrlOut(url=service.checkout_url(runtime.settings.base_url, checkout))


async def list_products(call: Call) -> ProductsOut:
    """``customer.products``: one entry per owned product, as this caller may see it."""
    runtime, server = call.runtime, call.principal.is_server
    groups = await owned.owned_products(runtime.db, call.customer, by_server=server,
                                        clock=runtime.clock, bus=runtime.bus)
    now = runtime.clock.now()
    options = await owned.switch_options(runtime.db, call.customer, groups, by_server=server,
                                         now=now)
    grace = await _grace_period_days(runtime)
    items = []
    for group in groups:
        first, sub = group.purchases[0], group.live_subscription
        items.append(OwnedProductOut(
            id=first.product_id, display_name=first.product["displayName"],
            quantity=group.quantity,
            type="subscription" if first.kind == "SUBSCRIPTION" else "one_time",
            included_by_default=first.kind == "INCLUDED",
            subscription=subscription_out(sub, now=now, grace_period_days=grace) if sub else None,
            switch_options=[product_out(row, by_server=server)
                            for row in options.get(group.key, [])]))
    return ProductsOut(items=items)


async def switch(call: Call) -> SwitchOut:
    """``switchSubscription``: another plan of the line, prorated by time."""
    body: SwitchBody = call.body
    runtime = call.runtime
    new = await operations.switch(await runtime.billing(), call.customer,
                                  from_product_id=body.from_product_id,
                                  to_product_id=body.to_product_id, price_id=body.price_id,
                                  by_server=call.principal.is_server, now=runtime.clock.now())
    return SwitchOut(subscription=subscription_out(
        new, now=runtime.clock.now(), grace_period_days=await _grace_period_days(runtime)))


async def _grace_period_days(runtime: Runtime) -> int:
    return (await runtime.payment_settings()).grace_period_days


def subscription_out(row: Purchase, *, now: datetime, grace_period_days: int) -> SubscriptionOut:
    assert row.current_period_start is not None and row.current_period_end is not None
    return SubscriptionOut(
        id=global_id("CustomerSubscription", str(row.id)), status=row.status.lower(),  # type: ignore[arg-type]
        product_id=row.product_id, price_id=row.price_id, quantity=row.quantity,
        current_period_start=row.current_period_start, current_period_end=row.current_period_end,
        cancel_at_period_end=row.cancel_at_period_end, canceled_at=row.canceled_at,
        ended_at=row.ended_at, trial_ends_at=row.trial_ends_at, created_at=row.created_at,
        has_access=has_access(row, now=now, grace_period_days=grace_period_days))


def product_out(row: Product, *, by_server: bool) -> ProductOut:
    return ProductOut(
        id=row.product_id, display_name=row.display_name,
        customer_type=row.customer_type.lower(),  # type: ignore[arg-type]
        prices=[PriceOut(id=p["priceId"],
                         amounts={c: from_minor(m, c) for c, m in p["amounts"].items()},
                         interval=_interval(p.get("interval")),
                         free_trial=_interval(p.get("freeTrial")))
                for p in catalog.visible_prices(row.prices, by_server=by_server)],
        stackable=row.stackable, server_only=row.server_only)


def _interval(value: dict[str, object] | None) -> IntervalOut | None:
    if not value:
        return None
    return IntervalOut(unit=str(value["unit"]).lower(), count=int(value["count"]))  # type: ignore[arg-type, call-overload]
