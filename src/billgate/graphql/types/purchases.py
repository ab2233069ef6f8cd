"""Owned products and subscriptions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import strawberry

from billgate.billing.subscriptions.scheduled_store import MIGRATION
from billgate.billing.subscriptions.states import has_access
from billgate.db.models import Purchase
from billgate.db.models import ScheduledChange as ScheduledChangeRow
from billgate.graphql import loaders
from billgate.graphql.context import Info
from billgate.graphql.ids import global_id
from billgate.graphql.types.catalog import Price, Product
from billgate.graphql.types.common import Node, ProductType, SubscriptionStatus


@dataclass(frozen=True)
class AccessRules:
    """What ``hasAccess`` and ``dunning`` are judged against: billing time and grace days."""

    now: datetime
    grace_period_days: int


@strawberry.type
class DunningStatus:
    in_dunning: bool
    days_past_due: int
    grace_period_days: int
    grace_period_ends_at: datetime | None
    has_access: bool
    next_retry_at: datetime | None

    @classmethod
    def of(cls, row: Purchase, rules: AccessRules) -> DunningStatus:
        since = row.past_due_since if row.status == "PAST_DUE" else None
        return cls(
            in_dunning=since is not None,
            days_past_due=max(0, (rules.now - since).days) if since else 0,
            grace_period_days=rules.grace_period_days,
            grace_period_ends_at=since + timedelta(days=rules.grace_period_days) if since else None,
            has_access=has_access(row, now=rules.now, grace_period_days=rules.grace_period_days),
            next_retry_at=row.next_retry_at if since else None,
        )


@strawberry.type(description="A plan change waiting for the subscription's period end.")
class ScheduledChange:
    to_product_id: str
    to_price_id: str | None
    at: datetime = strawberry.field(description="When it applies: the period end (its renewal).")

    @classmethod
    def from_row(cls, row: ScheduledChangeRow) -> ScheduledChange:
        return cls(to_product_id=row.to_product_id, to_price_id=row.to_price_id, at=row.at)


@strawberry.type
class CustomerSubscription(Node):
    status: SubscriptionStatus
    product_id: str | None
    price_id: str | None
    quantity: int
    product: Product = strawberry.field(description="As sold (the purchase's snapshot).")
    price: Price | None = strawberry.field(description="As sold (the purchase's snapshot).")
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    canceled_at: datetime | None
    ended_at: datetime | None
    trial_ends_at: datetime | None
    created_at: datetime
    has_access: bool
    dunning: DunningStatus
    migrated_at: datetime | None = strawberry.field(description=(
        "When migrateSubscriptionsPrice moved this subscription onto its price (a scheduled "
        "change applied at the renewal that started it); null otherwise."))
    pk: strawberry.Private[int]

    @strawberry.field(description=(
        "The plan change waiting for the period end (switchSubscription with when: "
        "PERIOD_END, or migrateSubscriptionsPrice); null when none."))
    async def scheduled_change(self, info: Info) -> ScheduledChange | None:
        row = await loaders.scheduled_changes(info.context).load(self.pk)
        return None if row is None else ScheduledChange.from_row(row)

    @classmethod
    def from_row(cls, row: Purchase, rules: AccessRules) -> CustomerSubscription:
        assert row.current_period_start is not None and row.current_period_end is not None
        return cls(
            id=strawberry.ID(global_id("CustomerSubscription", str(row.id))),
            status=SubscriptionStatus(row.status), product_id=row.product_id,
            price_id=row.price_id, quantity=row.quantity,
            product=Product.from_snapshot(row.product, key=f"inline-{row.id}"),
            price=Price.from_json(row.price) if row.price else None,
            current_period_start=row.current_period_start,
            current_period_end=row.current_period_end,
            cancel_at_period_end=row.cancel_at_period_end, canceled_at=row.canceled_at,
            ended_at=row.ended_at, trial_ends_at=row.trial_ends_at, created_at=row.created_at,
            has_access=has_access(row, now=rules.now, grace_period_days=rules.grace_period_days),
            dunning=DunningStatus.of(row, rules),
            migrated_at=row.created_at if row.origin == MIGRATION else None, pk=row.id,
        )


@strawberry.type
class OwnedProduct:
    product_id: str | None = strawberry.field(description="Null for an inline product.")
    display_name: str
    quantity: int = strawberry.field(description="Summed over stackable purchases.")
    type: ProductType
    subscription: CustomerSubscription | None
    switch_options: list[Product] = strawberry.field(
        description="Exactly the products switchSubscription accepts from this one: other "
        "plans of its line with a recurring price the caller may see. Empty for an included, "
        "one-time or line-less product (leave those through a checkout).")
