"""Compensation (``billing/charges.py``): a paid change whose subscription changed while the
card was being charged is refunded, and nothing of it is applied.

The state change is made for real in the middle of the charge: the payment rails here
charge as the test rails do and, before answering, commit a cancel of the same
subscription through the billing function ``cancelSubscription`` calls (a second request
landing between claim and record). Every other change of that request is then refused
with a clear error and the money goes back with the claim's own refund key.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from billgate.billing.purchases import service
from billgate.billing.subscriptions import operations
from billgate.db.models import ChargeClaim, Purchase, Transaction
from billgate.payments.rails import ChargeRequest, ChargeResult, RefundResult
from billgate.payments.test_rails import TestRails
from billgate.types import CustomerRef, CustomerType

pytestmark = pytest.mark.usefixtures("example_catalog")

USER = {"type": "USER", "customerId": "u-compensated"}
REF = CustomerRef(CustomerType.USER, "u-compensated")
CHECKOUT = """mutation ($input: CreateCheckoutUrlInput!) {
  createCheckoutUrl(input: $input) { url userErrors { code message } } }"""
SWITCH = """mutation ($input: SwitchSubscriptionInput!) {
  switchSubscription(input: $input) {
    subscription { productId } userErrors { code message } } }"""


class CancelDuringCharge(TestRails):
    """Test rails that commit a period-end cancel of the customer's plan while they charge."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.charges: list[ChargeRequest] = []
        self.refunds: list[tuple[str | None, int, str]] = []

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        result = await super().charge(request)
        self.charges.append(request)
        await operations.cancel(await self.runtime.billing(), REF,
                                operations.Selector(product_id="pro"), immediately=False)
        return result

    async def refund(self, *, reference: str | None, amount: int, currency: str,
                     idempotency_key: str) -> RefundResult:
        self.refunds.append((reference, amount, idempotency_key))
        return await super().refund(reference=reference, amount=amount, currency=currency,
                                    idempotency_key=idempotency_key)


async def test_an_upgrade_whose_plan_was_canceled_during_the_charge_is_refunded(
        api: Any, runtime: Any) -> None:
    made = (await api.data(CHECKOUT, {"input": {"customer": USER, "productId": "pro",
                                                "priceId": "pro-monthly",
                                                "returnUrl": "https://app.example.com/"}}))
    code = made["createCheckoutUrl"]["url"].rsplit("/", 1)[-1]
    await service.complete_checkout(runtime.db, code, rails=runtime.test_rails,
                                    clock=runtime.clock, test_mode=True, bus=runtime.bus)
    rails = CancelDuringCharge(runtime)
    runtime.test_rails = rails

    payload = (await api.data(SWITCH, {"input": {"customer": USER, "fromProductId": "pro",
                                                 "toProductId": "enterprise"}}))
    switched = payload["switchSubscription"]
    assert switched["subscription"] is None
    assert [e["code"] for e in switched["userErrors"]] == ["INVALID_INPUT"]
    assert "refunded" in switched["userErrors"][0]["message"]

    assert len(rails.charges) == 1
    charged = rails.charges[0]
    # The whole charge went back, once, with the claim's own refund key.
    assert [(amount, key) for _, amount, key in rails.refunds] == [
        (charged.amount, f"{charged.idempotency_key}:refund")]
    async with runtime.db.read_session() as session:
        claims = Counter(await session.scalars(select(ChargeClaim.status)))
        plan = await session.scalar(select(Purchase).where(Purchase.product_id == "pro"))
        kinds = Counter(await session.scalars(select(Transaction.kind)))
        enterprise = await session.scalar(select(Purchase.id).where(
            Purchase.product_id == "enterprise"))
    assert claims == Counter({"COMPENSATED": 1})
    assert plan is not None and plan.status == "ACTIVE" and plan.cancel_at_period_end  # the cancel stands
    assert enterprise is None  # the upgrade was not applied
    assert kinds == Counter({"purchase": 1})  # no proration charge recorded
