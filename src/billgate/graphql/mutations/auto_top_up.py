"""``setAutoTopUp``: a customer token for its own customer (a team's admin for the team),
or a secret key for anyone."""

from __future__ import annotations

import strawberry

from billgate.billing.auto_top_up import settings
from billgate.errors import BillgateError
from billgate.graphql.context import Info
from billgate.graphql.errors import UserError, user_error
from billgate.graphql.types.auto_top_up import AutoTopUp
from billgate.graphql.types.common import CustomerRef


@strawberry.input
class SetAutoTopUpInput:
    customer: CustomerRef
    item_id: str
    threshold: int = strawberry.field(
        description="Buy when a change takes `available` from above this to at or below it.")
    product_id: str = strawberry.field(
        description="A product with a one-time price that includes the item.")
    price_id: str | None = None
    quantity: int = 1
    max_per_month: int = strawberry.field(
        default=10, description="At most this many top-ups a calendar month.")
    enabled: bool = True


@strawberry.type
class SetAutoTopUpPayload:
    auto_top_up: AutoTopUp | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AutoTopUpMutations:
    @strawberry.mutation(description="Set (or replace) the customer's auto top-up of an item. "
                         "The purchase is charged off-session to the default card.")
    async def set_auto_top_up(self, info: Info, input: SetAutoTopUpInput) -> SetAutoTopUpPayload:
        runtime = info.context.runtime
        principal = info.context.principal
        try:
            ref = input.customer.to_domain()
            principal.require_manage(ref)
            view = await settings.set_auto_top_up(runtime.scope(), ref, settings.Settings(
                item_id=input.item_id, threshold=input.threshold, product_id=input.product_id,
                price_id=input.price_id, quantity=input.quantity,
                max_per_month=input.max_per_month, enabled=input.enabled),
                by_server=principal.is_server)
        except BillgateError as exc:
            return SetAutoTopUpPayload(user_errors=[user_error(exc)])
        return SetAutoTopUpPayload(auto_top_up=AutoTopUp.of(view))
