"""Selling products: hosted checkout links (clients for themselves, servers for anyone)
and server grants."""

from __future__ import annotations

from typing import Any

import strawberry

from billgate.billing.purchases import service
from billgate.billing.purchases.owned import ProductGroup
from billgate.errors import BillgateError
from billgate.graphql.context import Info
from billgate.graphql.errors import UserError, user_error
from billgate.graphql.inputs.catalog import ProductInput
from billgate.graphql.inputs.purchases import CreateCheckoutUrlInput, GrantProductInput
from billgate.graphql.resolvers.purchases import (
    access_rules,
    owned_product_of,
    switch_options,
)
from billgate.graphql.types.purchases import CustomerSubscription, OwnedProduct


@strawberry.type
class CreateCheckoutUrlPayload:
    url: str | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class GrantProductPayload:
    owned_product: OwnedProduct | None = None
    subscription: CustomerSubscription | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _inline(product: ProductInput | None) -> dict[str, Any] | None:
    return product.to_document("inline") if product is not None else None


@strawberry.type
class PurchaseMutations:
    @strawberry.mutation(description="A single-use link to billgate's hosted checkout page "
                         "(valid 24 h). Rules are checked now and again on completion.")
    async def create_checkout_url(self, info: Info,
                                  input: CreateCheckoutUrlInput) -> CreateCheckoutUrlPayload:
        runtime = info.context.runtime
        principal = info.context.principal
        try:
            ref = input.customer.to_domain()
            principal.require_manage(ref)
            checkout = await service.create_checkout(
                runtime.db, ref, product_id=input.product_id, inline=_inline(input.product),
                price_id=input.price_id,
                currency=input.currency.value if input.currency else None,
                quantity=input.quantity, return_url=input.return_url, cancel_url=input.cancel_url,
                allowed_return_urls=runtime.settings.allowed_return_urls,
                by_server=principal.is_server, clock=runtime.clock, bus=runtime.bus,
                promo_code=input.promo_code)
        except BillgateError as exc:
            return CreateCheckoutUrlPayload(user_errors=[user_error(exc)])
        return CreateCheckoutUrlPayload(url=service.checkout_url(runtime.settings.base_url,
                                                                 checkout))

    @strawberry.mutation(description="Give a product without checkout (server callers only).")
    async def grant_product(self, info: Info, input: GrantProductInput) -> GrantProductPayload:
        runtime = info.context.runtime
        try:
            info.context.principal.require_server("grantProduct")
            ref = input.customer.to_domain()
            purchase = await service.grant_product(
                runtime.db, ref, product_id=input.product_id, inline=_inline(input.product),
                price_id=input.price_id,
                currency=input.currency.value if input.currency else None,
                quantity=input.quantity, clock=runtime.clock, bus=runtime.bus)
        except BillgateError as exc:
            return GrantProductPayload(user_errors=[user_error(exc)])
        owned = [p for p in await service.owned_purchases(runtime.db, ref, clock=runtime.clock)
                 if (p.product_id or p.id) == (purchase.product_id or purchase.id)]
        group = ProductGroup(purchase.product_id or "", owned or [purchase])
        options = await switch_options(info, ref, [group])
        rules = await access_rules(info)
        return GrantProductPayload(
            owned_product=owned_product_of(group, options, rules),
            subscription=(CustomerSubscription.from_row(purchase, rules)
                          if purchase.kind == "SUBSCRIPTION" else None))
