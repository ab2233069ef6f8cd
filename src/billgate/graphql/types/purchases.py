"""Owned products and subscriptions."""

from __future__ import annotations

from datetime import datetime

import strawberry

from billgate.db.models import Purchase
from billgate.graphql.ids import global_id
from billgate.graphql.types.catalog import Price, Product
from billgate.graphql.types.common import Node, ProductType, SubscriptionStatus

# Statuses in which a subscription gives access (PAST_DUE inside its grace period too,
# once dunning exists; see billing/subscriptions).
ACCESS_STATUSES = {"TRIALING", "ACTIVE"}


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

    @classmethod
    def from_row(cls, row: Purchase) -> CustomerSubscription:
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
            has_access=row.status in ACCESS_STATUSES,
        )


@strawberry.type
class OwnedProduct:
    product_id: str | None = strawberry.field(description="Null for an inline product.")
    display_name: str
    quantity: int = strawberry.field(description="Summed over stackable purchases.")
    type: ProductType
    subscription: CustomerSubscription | None
    switch_options: list[Product] = strawberry.field(
        description="Other products of the same line this customer may switch to.")
