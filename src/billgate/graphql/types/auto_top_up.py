"""``AutoTopUp``: a customer's auto top-up of one item (``Item.autoTopUp``)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from billgate.billing.auto_top_up.settings import View


@strawberry.type(description="Buys `quantity` of the product when a change takes the item's "
                 "`available` from above `threshold` to at or below it; at most `maxPerMonth` "
                 "times a calendar month. A declined charge turns it off (`disabledReason`).")
class AutoTopUp:
    threshold: int
    product_id: str
    price_id: str | None
    quantity: int
    max_per_month: int
    enabled: bool
    last_triggered_at: datetime | None
    disabled_reason: str | None

    @classmethod
    def of(cls, view: View) -> AutoTopUp:
        return cls(threshold=view.threshold, product_id=view.product_id, price_id=view.price_id,
                   quantity=view.quantity, max_per_month=view.max_per_month,
                   enabled=view.enabled, last_triggered_at=view.last_triggered_at,
                   disabled_reason=view.disabled_reason)
