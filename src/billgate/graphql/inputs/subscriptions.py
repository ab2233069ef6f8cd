from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import strawberry

from billgate.graphql.inputs.catalog import AddressInput
from billgate.graphql.types.common import CustomerRef


@strawberry.input
class CancelSubscriptionInput:
    customer: CustomerRef
    product_id: str | None = None
    subscription_id: strawberry.ID | None = None
    immediately: bool = strawberry.field(
        default=False, description="Default: at the end of the paid period (access until then).")


@strawberry.input
class UncancelSubscriptionInput:
    customer: CustomerRef
    product_id: str | None = None
    subscription_id: strawberry.ID | None = None


@strawberry.input
class PauseSubscriptionInput:
    customer: CustomerRef
    product_id: str | None = None
    subscription_id: strawberry.ID | None = None
    resumes_at: datetime | None = strawberry.field(
        default=None, description="Resume automatically then (billing restarts with a new period).")


@strawberry.input
class ResumeSubscriptionInput:
    customer: CustomerRef
    product_id: str | None = None
    subscription_id: strawberry.ID | None = None


@strawberry.enum
class SwitchTiming(StrEnum):
    IMMEDIATELY = "IMMEDIATELY"
    PERIOD_END = "PERIOD_END"


@strawberry.input
class SwitchSubscriptionInput:
    customer: CustomerRef
    from_product_id: str
    to_product_id: str
    price_id: str | None = None
    when: SwitchTiming | None = strawberry.field(
        default=SwitchTiming.IMMEDIATELY,
        description="IMMEDIATELY: prorated now (an upgrade charged, a downgrade credited). "
                    "PERIOD_END: nothing charged or credited now; the subscription shows a "
                    "scheduledChange and its renewal is of the new plan and price.")


@strawberry.input
class CancelScheduledChangeInput:
    customer: CustomerRef
    subscription_id: strawberry.ID


@strawberry.input
class MigrateSubscriptionsPriceInput:
    product_id: str
    from_price_id: str
    to_price_id: str = strawberry.field(description="May equal fromPriceId: subscribers "
                                        "grandfathered on an older amount move to the current one.")


@strawberry.input
class AdvanceTestClockInput:
    seconds: int


@strawberry.input
class UpdateCustomerInput:
    customer: CustomerRef
    email: str | None = strawberry.field(default=None, description="Where receipts and "
                                         "payment-failed emails go; empty string removes it.")
    name: str | None = strawberry.field(default=None, description="The buyer's name on "
                                        "invoices; empty string removes it.")
    address: AddressInput | None = strawberry.field(
        default=None, description="The buyer's address on invoices (its country chooses the "
                                  "tax rate); replaces the whole address, all parts empty clears it.")
    tax_id: str | None = strawberry.field(default=None, description="The buyer's tax id on "
                                          "invoices; empty string removes it.")

    def changes(self) -> dict[str, object]:
        """The parts given (null: unchanged), as ``customer_details.update`` takes them."""
        given = {"name": self.name, "email": self.email, "tax_id": self.tax_id,
                 "address": self.address.to_json() if self.address else None}
        return {k: v for k, v in given.items() if v is not None}


@strawberry.input
class SetTestPaymentMethodInput:
    customer: CustomerRef
    card_number: str = strawberry.field(description="A test card: 4242 4242 4242 4242 succeeds, "
                                        "4000 0000 0000 0002 declines, 4000 0000 0000 9995 has "
                                        "insufficient funds.")
