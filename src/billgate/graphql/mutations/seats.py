"""``updateSubscriptionQuantity``: seats of a subscription, prorated like a switch.
Clients act for their own user or a team they administer; a secret key for anyone."""

from __future__ import annotations

import strawberry

from billgate.billing.subscriptions import seats
from billgate.errors import BillgateError
from billgate.graphql.context import Info
from billgate.graphql.errors import UserError, user_error
from billgate.graphql.ids import parse_global_id, row_id
from billgate.graphql.resolvers.purchases import access_rules
from billgate.graphql.types.common import CustomerRef
from billgate.graphql.types.purchases import CustomerSubscription


@strawberry.input
class UpdateSubscriptionQuantityInput:
    customer: CustomerRef
    subscription_id: strawberry.ID
    quantity: int = strawberry.field(description="The new number of seats, from 1 to the "
                                     "price's quantityMax.")


@strawberry.type
class UpdateSubscriptionQuantityPayload:
    subscription: CustomerSubscription | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SeatMutations:
    @strawberry.mutation(
        name="updateSubscriptionQuantity",
        description="Change a subscription's seats: more are charged now for the rest of the "
                    "period, fewer credit the unused time toward the next invoices; the "
                    "included items scale with the quantity.")
    async def update_subscription_quantity(
            self, info: Info, input: UpdateSubscriptionQuantityInput,
    ) -> UpdateSubscriptionQuantityPayload:
        runtime = info.context.runtime
        try:
            ref = input.customer.to_domain()
            info.context.principal.require_manage(ref)
            _, node_id = parse_global_id(input.subscription_id, expected="CustomerSubscription")
            pk = row_id(node_id)
            sub = await seats.update_quantity(await runtime.billing(), ref,
                                              -1 if pk is None else pk, quantity=input.quantity)
        except BillgateError as exc:
            return UpdateSubscriptionQuantityPayload(user_errors=[user_error(exc)])
        return UpdateSubscriptionQuantityPayload(
            subscription=CustomerSubscription.from_row(sub, await access_rules(info)))
