"""Subscription changes. Clients act for their own user or a team they administer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import strawberry

from billgate.billing.context import Billing
from billgate.billing.subscriptions import operations, scheduled_changes
from billgate.db.models import Purchase
from billgate.errors import BillgateError
from billgate.graphql.context import Info
from billgate.graphql.errors import UserError, user_error
from billgate.graphql.ids import parse_global_id, row_id
from billgate.graphql.inputs.subscriptions import (
    CancelSubscriptionInput,
    PauseSubscriptionInput,
    ResumeSubscriptionInput,
    SwitchSubscriptionInput,
    SwitchTiming,
    UncancelSubscriptionInput,
)
from billgate.graphql.resolvers.purchases import access_rules
from billgate.graphql.types.purchases import CustomerSubscription
from billgate.types import CustomerRef as DomainRef

P = TypeVar("P", bound="SubscriptionPayload")
Input = CancelSubscriptionInput | UncancelSubscriptionInput | PauseSubscriptionInput | \
    ResumeSubscriptionInput
# One billing function per mutation: (billing, customer, which subscription, now) -> the row
# (now None: the change is dated by the clock after the customer lock).
Change = Callable[[Billing, DomainRef, operations.Selector, datetime | None], Awaitable[Purchase]]


@strawberry.type
class SubscriptionPayload:
    subscription: CustomerSubscription | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


# One payload type per mutation, as the contract names them.
@strawberry.type
class CancelSubscriptionPayload(SubscriptionPayload):
    pass


@strawberry.type
class UncancelSubscriptionPayload(SubscriptionPayload):
    pass


@strawberry.type
class PauseSubscriptionPayload(SubscriptionPayload):
    pass


@strawberry.type
class ResumeSubscriptionPayload(SubscriptionPayload):
    pass


@strawberry.type
class SwitchSubscriptionPayload(SubscriptionPayload):
    pass


def _subscription_id(value: strawberry.ID | None) -> int | None:
    if value is None:
        return None
    _, node_id = parse_global_id(value, expected="CustomerSubscription")
    pk = row_id(node_id)
    return -1 if pk is None else pk


async def _change(info: Info, input: Input, change: Change, payload: type[P]) -> P:
    """Check the caller may manage the customer, then hand the change to billing."""
    runtime = info.context.runtime
    try:
        ref = input.customer.to_domain()
        info.context.principal.require_manage(ref)
        which = operations.Selector(product_id=input.product_id,
                                    subscription_id=_subscription_id(input.subscription_id))
        sub = await change(await runtime.billing(), ref, which, None)  # dated after the lock
    except BillgateError as exc:
        return payload(user_errors=[user_error(exc)])
    return payload(subscription=CustomerSubscription.from_row(sub, await access_rules(info)))


@strawberry.type
class SubscriptionMutations:
    @strawberry.mutation(name="cancelSubscription")
    async def cancel_subscription(self, info: Info,
                                  input: CancelSubscriptionInput) -> CancelSubscriptionPayload:
        return await _change(info, input, lambda billing, ref, which, now: operations.cancel(
            billing, ref, which, immediately=input.immediately, now=now), CancelSubscriptionPayload)

    @strawberry.mutation(name="uncancelSubscription", description="Undo a pending period-end cancel.")
    async def uncancel_subscription(self, info: Info,
                                    input: UncancelSubscriptionInput) -> UncancelSubscriptionPayload:
        return await _change(info, input, lambda billing, ref, which, now: operations.uncancel(
            billing, ref, which, now=now), UncancelSubscriptionPayload)

    @strawberry.mutation(name="pauseSubscription", description="Billing stops; no access until resumed.")
    async def pause_subscription(self, info: Info, input: PauseSubscriptionInput) -> PauseSubscriptionPayload:
        return await _change(info, input, lambda billing, ref, which, now: operations.pause(
            billing, ref, which, resumes_at=input.resumes_at, now=now), PauseSubscriptionPayload)

    @strawberry.mutation(name="resumeSubscription",
                         description="Billing restarts with a new period, charged now.")
    async def resume_subscription(self, info: Info,
                                  input: ResumeSubscriptionInput) -> ResumeSubscriptionPayload:
        return await _change(info, input, lambda billing, ref, which, now: operations.resume(
            billing, ref, which, now=now), ResumeSubscriptionPayload)

    @strawberry.mutation(name="switchSubscription",
                         description="Move to another plan of the same product line, prorated by "
                                     "time now, or at the period end (when: PERIOD_END).")
    async def switch_subscription(self, info: Info,
                                  input: SwitchSubscriptionInput) -> SwitchSubscriptionPayload:
        runtime = info.context.runtime
        try:
            ref = input.customer.to_domain()
            info.context.principal.require_manage(ref)
            billing = await runtime.billing()
            at_period_end = input.when == SwitchTiming.PERIOD_END
            new = await (scheduled_changes.schedule_switch if at_period_end else operations.switch)(
                billing, ref, from_product_id=input.from_product_id,
                to_product_id=input.to_product_id, price_id=input.price_id,
                by_server=info.context.principal.is_server)
        except BillgateError as exc:
            return SwitchSubscriptionPayload(user_errors=[user_error(exc)])
        return SwitchSubscriptionPayload(
            subscription=CustomerSubscription.from_row(new, await access_rules(info)))
