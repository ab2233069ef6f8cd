"""Subscription changes. Clients act for their own user or a team they administer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing.errors import BillgateError
from billgate.billing.subscriptions import lifecycle, operations
from billgate.db.models import Customer as CustomerRow
from billgate.db.models import Purchase
from billgate.graphql.context import Info
from billgate.graphql.errors import UserError, user_error
from billgate.graphql.ids import parse_global_id
from billgate.graphql.inputs.subscriptions import (
    CancelSubscriptionInput,
    PauseSubscriptionInput,
    ResumeSubscriptionInput,
    SwitchSubscriptionInput,
    UncancelSubscriptionInput,
)
from billgate.graphql.resolvers.purchases import access_rules
from billgate.graphql.types.purchases import CustomerSubscription

Selector = CancelSubscriptionInput | UncancelSubscriptionInput | PauseSubscriptionInput | \
    ResumeSubscriptionInput
P = TypeVar("P", bound="SubscriptionPayload")
Change = Callable[[lifecycle.Billing, AsyncSession, CustomerRow, Purchase, datetime], Awaitable[None]]


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
    return int(node_id) if node_id.isdigit() else -1


async def _change(info: Info, input: Selector, change: Change, payload: type[P]) -> P:
    """Find the subscription, check the caller may manage its customer, apply ``change``
    in one transaction, publish its item events after commit."""
    runtime = info.context.runtime
    try:
        ref = input.customer.to_domain()
        info.context.principal.require_manage(ref)
        billing = await runtime.billing()
        now = runtime.clock.now()
        async with runtime.db.session() as session, session.begin():
            customer, sub = await operations.find(
                session, ref, product_id=input.product_id,
                subscription_id=_subscription_id(input.subscription_id))
            await change(billing, session, customer, sub, now)
        await lifecycle.flush_events(billing)
        # A resume charges its first period at once.
        if sub.next_action_at is not None and sub.next_action_at <= now:
            await lifecycle.process_due(billing, sub.id, now=now)
            async with runtime.db.read_session() as session:
                sub = await session.get(Purchase, sub.id) or sub
    except BillgateError as exc:
        return payload(user_errors=[user_error(exc)])
    return payload(subscription=CustomerSubscription.from_row(sub, await access_rules(info)))


@strawberry.type
class SubscriptionMutations:
    @strawberry.mutation(name="cancelSubscription")
    async def cancel_subscription(self, info: Info,
                                  input: CancelSubscriptionInput) -> CancelSubscriptionPayload:
        async def change(billing, session, customer, sub, now):  # type: ignore[no-untyped-def]
            await operations.cancel(billing, session, customer, sub, immediately=input.immediately,
                                    now=now)
        return await _change(info, input, change, CancelSubscriptionPayload)

    @strawberry.mutation(name="uncancelSubscription", description="Undo a pending period-end cancel.")
    async def uncancel_subscription(self, info: Info,
                                    input: UncancelSubscriptionInput) -> UncancelSubscriptionPayload:
        async def change(billing, session, customer, sub, now):  # type: ignore[no-untyped-def]
            await operations.uncancel(session, sub, now=now)
        return await _change(info, input, change, UncancelSubscriptionPayload)

    @strawberry.mutation(name="pauseSubscription", description="Billing stops; no access until resumed.")
    async def pause_subscription(self, info: Info, input: PauseSubscriptionInput) -> PauseSubscriptionPayload:
        async def change(billing, session, customer, sub, now):  # type: ignore[no-untyped-def]
            await operations.pause(session, sub, now=now, resumes_at=input.resumes_at)
        return await _change(info, input, change, PauseSubscriptionPayload)

    @strawberry.mutation(name="resumeSubscription",
                         description="Billing restarts with a new period, charged now.")
    async def resume_subscription(self, info: Info,
                                  input: ResumeSubscriptionInput) -> ResumeSubscriptionPayload:
        async def change(billing, session, customer, sub, now):  # type: ignore[no-untyped-def]
            await operations.resume(billing, session, customer, sub, now=now)
        return await _change(info, input, change, ResumeSubscriptionPayload)

    @strawberry.mutation(name="switchSubscription",
                         description="Move to another plan of the same product line, prorated by time.")
    async def switch_subscription(self, info: Info,
                                  input: SwitchSubscriptionInput) -> SwitchSubscriptionPayload:
        runtime = info.context.runtime
        try:
            ref = input.customer.to_domain()
            info.context.principal.require_manage(ref)
            billing = await runtime.billing()
            new = await operations.switch(
                billing, ref, from_product_id=input.from_product_id,
                to_product_id=input.to_product_id, price_id=input.price_id,
                by_server=info.context.principal.is_server, now=runtime.clock.now())
            await lifecycle.flush_events(billing)
        except BillgateError as exc:
            return SwitchSubscriptionPayload(user_errors=[user_error(exc)])
        return SwitchSubscriptionPayload(
            subscription=CustomerSubscription.from_row(new, await access_rules(info)))
