"""Customer details, test-mode payment methods and the test clock (server callers)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from billgate.billing import customer_details, payment_methods, test_clock
from billgate.errors import BillgateError, InvalidInput, TestModeOnly
from billgate.graphql.context import Info
from billgate.graphql.errors import UserError, user_error
from billgate.graphql.inputs.subscriptions import (
    AdvanceTestClockInput,
    SetTestPaymentMethodInput,
    UpdateCustomerInput,
)
from billgate.graphql.types.customer import Customer
from billgate.payments.test_rails import card_number
from billgate.scheduler.runner import run_due

MAX_ADVANCE_SECONDS = 10 * 366 * 24 * 3600
EMAIL_MAX = 320


@strawberry.type
class AdvanceTestClockPayload:
    now: datetime | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CustomerPayload:
    customer: Customer | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CustomerMutations:
    @strawberry.mutation(description="Set the customer's email (receipts, payment failures) "
                         "and its name, address and tax id (the buyer on its invoices).")
    async def update_customer(self, info: Info, input: UpdateCustomerInput) -> CustomerPayload:
        try:
            info.context.principal.require_server("updateCustomer")
            ref = input.customer.to_domain()
            email = (input.email or "").strip()
            if email and ("@" not in email or len(email) > EMAIL_MAX or any(c.isspace() for c in email)):
                raise InvalidInput(f"{email[:50]!r} is not an email address", field=["email"])
            runtime = info.context.runtime
            await customer_details.update(runtime.db, ref, input.changes(), clock=runtime.clock,
                                          bus=runtime.bus)
        except BillgateError as exc:
            return CustomerPayload(user_errors=[user_error(exc)])
        return CustomerPayload(customer=Customer.of(ref))

    @strawberry.mutation(description="Test mode only: save a test card as the customer's default "
                         "payment method (PAST_DUE subscriptions are retried at once).")
    async def set_test_payment_method(self, info: Info,
                                      input: SetTestPaymentMethodInput) -> CustomerPayload:
        runtime = info.context.runtime
        try:
            ref = input.customer.to_domain()
            info.context.principal.require_manage(ref)
            if not (await runtime.payment_settings()).test_mode:
                raise TestModeOnly("test cards can only be saved in test mode")
            number = card_number(input.card_number)
            if number is None or len(number) not in (15, 16):
                raise InvalidInput("cardNumber must be 15 or 16 digits", field=["cardNumber"])
            await payment_methods.set_test_card(await runtime.billing(), ref, number,
                                                now=runtime.clock.now())
        except BillgateError as exc:
            return CustomerPayload(user_errors=[user_error(exc)])
        return CustomerPayload(customer=Customer.of(ref))

    @strawberry.mutation(description="Test mode only: move billgate's clock forward and run all "
                         "work that became due, in time order.")
    async def advance_test_clock(self, info: Info, input: AdvanceTestClockInput) -> AdvanceTestClockPayload:
        runtime = info.context.runtime
        try:
            info.context.principal.require_server("advanceTestClock")
            if not (await runtime.payment_settings()).test_mode:
                raise TestModeOnly("the test clock only moves in test mode")
            if not 1 <= input.seconds <= MAX_ADVANCE_SECONDS:
                raise InvalidInput(f"seconds must be from 1 to {MAX_ADVANCE_SECONDS}",
                                   field=["seconds"])
            offset = await test_clock.advance_stored(runtime.db, input.seconds)
            runtime.clock.offset = max(runtime.clock.offset, offset)  # type: ignore[attr-defined]
            now = runtime.clock.now()
            await run_due(await runtime.billing(), now)
        except BillgateError as exc:
            return AdvanceTestClockPayload(user_errors=[user_error(exc)])
        return AdvanceTestClockPayload(now=now)
