"""Plan changes at the period end: ``cancelScheduledChange`` (clients, for a customer they
manage) and ``migrateSubscriptionsPrice`` (secret key). ``switchSubscription(when:
PERIOD_END)`` is with the other subscription changes."""

from __future__ import annotations

import strawberry

from billgate.billing.subscriptions import price_migration, scheduled_changes
from billgate.errors import BillgateError
from billgate.graphql.context import Info
from billgate.graphql.errors import UserError, user_error
from billgate.graphql.inputs.subscriptions import (
    CancelScheduledChangeInput,
    MigrateSubscriptionsPriceInput,
)
from billgate.graphql.mutations.subscriptions import SubscriptionPayload, _subscription_id
from billgate.graphql.resolvers.purchases import access_rules
from billgate.graphql.types.purchases import CustomerSubscription


@strawberry.type
class CancelScheduledChangePayload(SubscriptionPayload):
    pass


@strawberry.type
class MigrateSubscriptionsPricePayload:
    scheduled_count: int = 0
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ScheduledChangeMutations:
    @strawberry.mutation(name="cancelScheduledChange",
                         description="Drop the plan change waiting for the period end; the "
                                     "subscription renews on its own plan.")
    async def cancel_scheduled_change(self, info: Info, input: CancelScheduledChangeInput
                                      ) -> CancelScheduledChangePayload:
        runtime = info.context.runtime
        try:
            ref = input.customer.to_domain()
            info.context.principal.require_manage(ref)
            subscription_id = _subscription_id(input.subscription_id)
            assert subscription_id is not None
            sub = await scheduled_changes.cancel(await runtime.billing(), ref, subscription_id)
        except BillgateError as exc:
            return CancelScheduledChangePayload(user_errors=[user_error(exc)])
        return CancelScheduledChangePayload(
            subscription=CustomerSubscription.from_row(sub, await access_rules(info)))

    @strawberry.mutation(name="migrateSubscriptionsPrice",
                         description="Move every live subscription of productId on fromPriceId "
                                     "to toPriceId at its next renewal (a scheduledChange), "
                                     "emailing each customer the new amount and date.")
    async def migrate_subscriptions_price(self, info: Info, input: MigrateSubscriptionsPriceInput
                                          ) -> MigrateSubscriptionsPricePayload:
        runtime = info.context.runtime
        try:
            info.context.principal.require_server("migrateSubscriptionsPrice")
            count = await price_migration.migrate(await runtime.billing(), price_migration.Migration(
                product_id=input.product_id, from_price_id=input.from_price_id,
                to_price_id=input.to_price_id))
        except BillgateError as exc:
            return MigrateSubscriptionsPricePayload(user_errors=[user_error(exc)])
        return MigrateSubscriptionsPricePayload(scheduled_count=count)
