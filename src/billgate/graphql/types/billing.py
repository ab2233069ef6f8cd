"""A customer's billing: the payment-processor customer and the default card."""

from __future__ import annotations

from typing import Any

import strawberry


@strawberry.type(description="A saved card.")
class PaymentMethod:
    id: str = strawberry.field(description="The processor's id (Stripe: pm_...).")
    brand: str
    last4: str
    exp_month: int
    exp_year: int

    @classmethod
    def from_json(cls, card: dict[str, Any]) -> PaymentMethod:
        return cls(id=str(card["id"]), brand=str(card.get("brand") or "card"),
                   last4=str(card.get("last4") or ""), exp_month=int(card.get("expMonth") or 0),
                   exp_year=int(card.get("expYear") or 0))


@strawberry.type
class Billing:
    has_customer: bool = strawberry.field(
        description="Whether the customer has a payment-processor (Stripe) customer, or in test "
        "mode a saved test card.")
    default_payment_method: PaymentMethod | None = strawberry.field(
        description="The card renewals, retries and plan switches are charged to.")
