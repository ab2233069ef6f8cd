"""Promo code inputs (API.md, "Plans over time")."""

from __future__ import annotations

from datetime import datetime

import strawberry

from billgate.graphql.inputs.catalog import MoneyInput
from billgate.graphql.types.promo_codes import PromoDuration


@strawberry.input
class CreatePromoCodeInput:
    duration: PromoDuration
    code: str | None = strawberry.field(
        default=None, description="Case-insensitive; generated (10 characters) when not given.")
    display_name: str | None = None
    percent_off: str | None = strawberry.field(
        default=None, description='A decimal string above 0, at most 100 ("12.5"); or amountOff.')
    amount_off: list[MoneyInput] | None = strawberry.field(
        default=None, description="A fixed amount off per currency; or percentOff.")
    duration_in_months: int | None = strawberry.field(
        default=None, description="REPEATING only: periods starting within this many months "
        "of the first paid period are discounted.")
    max_redemptions: int | None = None
    expires_at: datetime | None = None
    product_ids: list[str] | None = strawberry.field(
        default=None, description="Only these products; empty or null: every product.")
    first_purchase_only: bool = False


@strawberry.input
class UpdatePromoCodeInput:
    id: strawberry.ID
    enabled: bool | None = None
