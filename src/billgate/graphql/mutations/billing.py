"""Saved cards (Stripe SetupIntents) and refunds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from billgate.billing import payment_methods, refunds
from billgate.billing.subscriptions import lifecycle
from billgate.errors import BillgateError, InvalidInput
from billgate.graphql.context import Info
from billgate.graphql.errors import UserError, user_error
from billgate.graphql.ids import parse_global_id, row_id
from billgate.graphql.inputs.billing import (
    CreatePaymentMethodSetupIntentInput,
    RefundTransactionInput,
    SetDefaultPaymentMethodFromSetupIntentInput,
)
from billgate.graphql.types.billing import PaymentMethod
from billgate.graphql.types.common import CustomerRef
from billgate.payments.rails import PaymentRails
from billgate.runtime import Runtime
from billgate.types import CustomerRef as DomainRef

if TYPE_CHECKING:
    from billgate.graphql.types.invoices import Transaction

TransactionT = Annotated["Transaction", strawberry.lazy("billgate.graphql.types.invoices")]


@strawberry.type
class CreatePaymentMethodSetupIntentPayload:
    setup_intent_id: str | None = None
    client_secret: str | None = strawberry.field(
        default=None, description="For Stripe Elements (stripe.confirmSetup) in the browser.")
    stripe_account_id: str | None = strawberry.field(
        default=None, description="The Stripe account of the configured key (live mode); null in "
        "test mode. Stripe.js needs it only for a connected account.")
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SetDefaultPaymentMethodPayload:
    payment_method: PaymentMethod | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RefundTransactionPayload:
    transaction: TransactionT | None = strawberry.field(
        default=None, description="The refunded charge, with its new refundedAmount.")
    refund: TransactionT | None = strawberry.field(
        default=None, description="The refund: a transaction of kind refund, amount negative.")
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _transaction_id(value: str) -> int:
    pk = row_id(value)  # a bare number is taken too
    if pk is None:
        try:
            _, node_id = parse_global_id(value, expected="Transaction")
        except InvalidInput:
            raise InvalidInput(f"{value!r} is not a Transaction id", field=["transactionId"]) from None
        pk = row_id(node_id)
    if pk is None:
        raise InvalidInput(f"{value!r} is not a Transaction id", field=["transactionId"])
    return pk


async def _billing(runtime: Runtime) -> lifecycle.Billing:
    """Billing work without charging: the rails of each refund are chosen per charge."""
    settings = await runtime.payment_settings()
    return lifecycle.Billing(db=runtime.db, rails=runtime.test_rails, test_mode=settings.test_mode,
                             settings=settings, base_url=runtime.settings.base_url,
                             bus=runtime.bus, clock=runtime.clock,
                             grant_credits_during_grace=runtime.settings.grant_credits_during_grace)


async def _managed_live_customer(info: Info, customer: CustomerRef) -> tuple[DomainRef, Any]:
    """The customer the caller may manage, and the Stripe rails (LIVE_MODE_ONLY otherwise)."""
    runtime = info.context.runtime
    ref = customer.to_domain()
    info.context.principal.require_manage(ref)
    stripe = payment_methods.require_stripe(
        runtime.live_rails, test_mode=(await runtime.payment_settings()).test_mode)
    return ref, stripe


@strawberry.type
class BillingMutations:
    @strawberry.mutation(description="Live mode: a Stripe SetupIntent to save a card of the "
                         "customer (its Stripe customer is created on first use). Give the client "
                         "secret to Stripe Elements, then call setDefaultPaymentMethodFromSetupIntent. "
                         "Test mode: LIVE_MODE_ONLY (use setTestPaymentMethod).")
    async def create_payment_method_setup_intent(
            self, info: Info, input: CreatePaymentMethodSetupIntentInput,
    ) -> CreatePaymentMethodSetupIntentPayload:
        runtime = info.context.runtime
        try:
            ref, stripe = await _managed_live_customer(info, input.customer)
            intent = await payment_methods.create_setup_intent(runtime.db, stripe, ref,
                                                               clock=runtime.clock, bus=runtime.bus)
            account = await payment_methods.stripe_account_id(stripe)
        except BillgateError as exc:
            return CreatePaymentMethodSetupIntentPayload(user_errors=[user_error(exc)])
        return CreatePaymentMethodSetupIntentPayload(setup_intent_id=intent.id,
                                                     client_secret=intent.client_secret,
                                                     stripe_account_id=account)

    @strawberry.mutation(description="Make the card of a succeeded SetupIntent of this customer "
                         "its default payment method (read from Stripe: it must have succeeded and "
                         "belong to the customer). PAST_DUE subscriptions are retried at once.")
    async def set_default_payment_method_from_setup_intent(
            self, info: Info, input: SetDefaultPaymentMethodFromSetupIntentInput,
    ) -> SetDefaultPaymentMethodPayload:
        runtime = info.context.runtime
        try:
            ref, stripe = await _managed_live_customer(info, input.customer)
            card = await payment_methods.set_default_from_setup_intent(
                runtime.db, stripe, ref, input.setup_intent_id.strip(), clock=runtime.clock,
                bus=runtime.bus)
            pk = await payment_methods.customer_pk(runtime.db, ref)
            if pk is not None:
                await payment_methods.retry_past_due(await runtime.billing(), pk,
                                                     now=runtime.clock.now())
        except BillgateError as exc:
            return SetDefaultPaymentMethodPayload(user_errors=[user_error(exc)])
        return SetDefaultPaymentMethodPayload(payment_method=PaymentMethod.from_json(card))

    @strawberry.mutation(description="Refund a charge in full or in part (server callers only): "
                         "through Stripe for live charges, without it for test-mode ones; recorded "
                         "as a refund transaction. revokeGrants also ends the purchase and takes "
                         "back what it granted.")
    async def refund_transaction(self, info: Info,
                                 input: RefundTransactionInput) -> RefundTransactionPayload:
        from billgate.graphql.types.invoices import Transaction

        runtime = info.context.runtime
        try:
            info.context.principal.require_server("refundTransaction")
            transaction_id = _transaction_id(str(input.transaction_id))

            def rails_for(test_mode: bool) -> PaymentRails | None:
                return runtime.test_rails if test_mode else runtime.live_rails

            outcome = await refunds.refund_transaction(
                await _billing(runtime), transaction_id, amount=input.amount,
                revoke_grants=input.revoke_grants, rails_for=rails_for)
        except BillgateError as exc:
            return RefundTransactionPayload(user_errors=[user_error(exc)])
        return RefundTransactionPayload(transaction=Transaction.from_row(outcome.original),
                                        refund=Transaction.from_row(outcome.refund))
