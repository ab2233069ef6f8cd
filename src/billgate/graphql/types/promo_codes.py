"""``PromoCode`` (API.md, "Plans over time"): secret key only."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import strawberry

from billgate.db.models import PromoCode as PromoCodeRow
from billgate.graphql.ids import global_id
from billgate.graphql.types.catalog import Money
from billgate.graphql.types.common import Node


@strawberry.enum(description="How long a promo code's discount lasts on a subscription.")
class PromoDuration(StrEnum):
    ONCE = "ONCE"
    FOREVER = "FOREVER"
    REPEATING = "REPEATING"


@strawberry.type(description="A code customers enter at checkout for a discount.")
class PromoCode(Node):
    code: str = strawberry.field(description="Upper-case; entered in any case.")
    display_name: str | None
    percent_off: str | None = strawberry.field(description='A decimal string, e.g. "12.5".')
    amount_off: list[Money] = strawberry.field(description="A fixed amount off, per currency.")
    duration: PromoDuration
    duration_in_months: int | None
    max_redemptions: int | None
    times_redeemed: int = strawberry.field(description="Redemptions applied (paid checkouts).")
    expires_at: datetime | None
    enabled: bool
    product_ids: list[str] = strawberry.field(description="Empty: every product.")
    first_purchase_only: bool
    created_at: datetime

    @classmethod
    def from_row(cls, row: PromoCodeRow) -> PromoCode:
        return cls(id=strawberry.ID(global_id("PromoCode", str(row.id))), code=row.code,
                   display_name=row.display_name, percent_off=row.percent_off,
                   amount_off=[Money.of(c, m) for c, m in sorted((row.amount_off or {}).items())],
                   duration=PromoDuration(row.duration),
                   duration_in_months=row.duration_in_months,
                   max_redemptions=row.max_redemptions, times_redeemed=row.times_redeemed,
                   expires_at=row.expires_at, enabled=row.enabled,
                   product_ids=list(row.product_ids or []),
                   first_purchase_only=row.first_purchase_only, created_at=row.created_at)
