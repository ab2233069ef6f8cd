from __future__ import annotations

import strawberry

from billgate.graphql.types.common import CustomerRef


@strawberry.input
class CreatePaymentMethodSetupIntentInput:
    customer: CustomerRef


@strawberry.input
class SetDefaultPaymentMethodFromSetupIntentInput:
    customer: CustomerRef
    setup_intent_id: str = strawberry.field(description="The SetupIntent the customer confirmed "
                                            "with Stripe Elements (seti_...).")


@strawberry.input
class RefundTransactionInput:
    transaction_id: strawberry.ID = strawberry.field(
        description="The Transaction's id (its Relay global id, or the bare number).")
    amount: int | None = strawberry.field(
        default=None, description="Minor units to refund; default: all that is not refunded yet.")
    revoke_grants: bool = strawberry.field(
        default=False, description="Also end the purchase the charge paid for and take back the "
        "items it granted for good (expiring ones lose their unused remainder).")
