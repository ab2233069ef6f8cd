"""Billing through the API without Stripe: ``customer.billing`` and who may read it, saved
cards in test mode (``LIVE_MODE_ONLY``), and ``refundTransaction`` of test-mode charges
(refunded without Stripe). The Stripe path itself is in tests/stripe/ (localstripe)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from billgate.billing import payment_settings
from billgate.billing.purchases import service
from billgate.db.models import Purchase, Transaction
from billgate.graphql.ids import global_id

pytestmark = pytest.mark.usefixtures("example_catalog")

USER = {"type": "USER", "customerId": "u1"}
TEAM = {"type": "TEAM", "customerId": "t1"}
RETURN_URL = "https://app.example.com/done"
ERRORS = "userErrors { code message field }"

BILLING = """
query ($customer: CustomerRef!) {
  customer(customer: $customer) {
    billing { hasCustomer defaultPaymentMethod { id brand last4 expMonth expYear } }
  }
}
"""
SET_TEST_CARD = f"""
mutation ($input: SetTestPaymentMethodInput!) {{ setTestPaymentMethod(input: $input) {{ {ERRORS} }} }}
"""
CREATE_SETUP_INTENT = f"""
mutation ($input: CreatePaymentMethodSetupIntentInput!) {{
  createPaymentMethodSetupIntent(input: $input) {{ setupIntentId clientSecret {ERRORS} }}
}}
"""
SET_DEFAULT = f"""
mutation ($input: SetDefaultPaymentMethodFromSetupIntentInput!) {{
  setDefaultPaymentMethodFromSetupIntent(input: $input) {{ paymentMethod {{ id }} {ERRORS} }}
}}
"""
REFUND = f"""
mutation ($input: RefundTransactionInput!) {{
  refundTransaction(input: $input) {{
    transaction {{ id kind amount refundedAmount testMode }}
    refund {{ id kind amount currency testMode }}
    {ERRORS}
  }}
}}
"""
CHECKOUT = f"""
mutation ($input: CreateCheckoutUrlInput!) {{ createCheckoutUrl(input: $input) {{ url {ERRORS} }} }}
"""
CREDITS = """
query ($customer: CustomerRef!) { customer(customer: $customer) { item(itemId: "credits") { quantity } } }
"""


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


async def buy(api: Any, runtime: Any, product_id: str, **extra: Any) -> Transaction:
    """Buy in test mode (the hosted page's path) and return the purchase's transaction."""
    data = await api.data(CHECKOUT, {"input": {"customer": USER, "productId": product_id,
                                               "returnUrl": RETURN_URL, **extra}})
    code = data["createCheckoutUrl"]["url"].rsplit("/", 1)[1]
    done = await service.complete_checkout(runtime.db, code, rails=runtime.test_rails,
                                           clock=runtime.clock, test_mode=True,
                                           bus=runtime.bus)
    async with runtime.db.read_session() as session:
        return (await session.scalars(select(Transaction).where(
            Transaction.purchase_id == done.purchase.id, Transaction.kind == "purchase"))).one()


async def credits(api: Any) -> int:
    return int((await api.data(CREDITS, {"customer": USER}))["customer"]["item"]["quantity"])


async def refund(api: Any, transaction: Transaction | str, **fields: Any) -> dict[str, Any]:
    tid = transaction if isinstance(transaction, str) else global_id("Transaction", str(transaction.id))
    return (await api.data(REFUND, {"input": {"transactionId": tid, **fields}}))["refundTransaction"]


class TestBilling:
    async def test_a_new_customer_has_no_billing(self, api) -> None:  # noqa: ANN001
        data = await api.data(BILLING, {"customer": USER})
        assert data["customer"]["billing"] == {"hasCustomer": False, "defaultPaymentMethod": None}

    async def test_a_test_card_shows_as_the_default(self, api) -> None:  # noqa: ANN001
        result = await api.data(SET_TEST_CARD, {"input": {"customer": USER,
                                                          "cardNumber": "4242 4242 4242 4242"}})
        assert result["setTestPaymentMethod"]["userErrors"] == []
        billing = (await api.data(BILLING, {"customer": USER}))["customer"]["billing"]
        assert billing["hasCustomer"] is True
        assert billing["defaultPaymentMethod"]["last4"] == "4242"
        assert billing["defaultPaymentMethod"]["brand"] == "visa"

    async def test_who_may_read_it(self, api) -> None:  # noqa: ANN001
        assert (await api.as_user("u1").post(BILLING, {"customer": USER})).json()["data"] is not None
        admin = await api.as_user("u9", {"t1": "admin"}).post(BILLING, {"customer": TEAM})
        assert admin.json()["data"]["customer"]["billing"]["hasCustomer"] is False
        member = (await api.as_user("u9", {"t1": "member"}).post(BILLING, {"customer": TEAM})).json()
        assert member["data"] is None and member["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        other = (await api.as_user("u2").post(BILLING, {"customer": USER})).json()
        assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"


class TestSavedCardsNeedLiveMode:
    async def test_setup_intents_are_live_mode_only(self, api) -> None:  # noqa: ANN001
        created = (await api.data(CREATE_SETUP_INTENT, {"input": {"customer": USER}}))[
            "createPaymentMethodSetupIntent"]
        assert codes(created) == ["LIVE_MODE_ONLY"] and created["clientSecret"] is None
        default = (await api.data(SET_DEFAULT, {"input": {"customer": USER, "setupIntentId": "seti_1"}}))[
            "setDefaultPaymentMethodFromSetupIntent"]
        assert codes(default) == ["LIVE_MODE_ONLY"]

    async def test_live_mode_without_stripe_is_a_payment_failure(self, api, db) -> None:  # noqa: ANN001
        async with db.session() as session, session.begin():
            await payment_settings.update(session, test_mode=False)
        created = (await api.data(CREATE_SETUP_INTENT, {"input": {"customer": USER}}))[
            "createPaymentMethodSetupIntent"]
        assert codes(created) == ["PAYMENT_FAILED"]
        assert "BILLGATE_STRIPE_SECRET_KEY" in created["userErrors"][0]["message"]

    async def test_clients_only_for_themselves(self, api) -> None:  # noqa: ANN001
        mine = (await api.as_user("u1").data(CREATE_SETUP_INTENT, {"input": {"customer": USER}}))[
            "createPaymentMethodSetupIntent"]
        assert codes(mine) == ["LIVE_MODE_ONLY"]
        theirs = (await api.as_user("u2").data(CREATE_SETUP_INTENT, {"input": {"customer": USER}}))[
            "createPaymentMethodSetupIntent"]
        assert codes(theirs) == ["FORBIDDEN"]


class TestRefundTransaction:
    async def test_partial_then_rest_of_a_test_mode_purchase_without_stripe(self, api, runtime) -> None:  # noqa: ANN001
        charge = await buy(api, runtime, "credit-pack")
        before = await credits(api)
        partial = await refund(api, charge, amount=200)
        assert partial["userErrors"] == []
        assert partial["transaction"] == {"id": global_id("Transaction", str(charge.id)),
                                          "kind": "purchase", "amount": 500, "refundedAmount": 200,
                                          "testMode": True}
        assert partial["refund"]["kind"] == "refund" and partial["refund"]["amount"] == -200
        assert partial["refund"]["currency"] == "USD" and partial["refund"]["testMode"] is True
        rest = await refund(api, str(charge.id))  # the bare number works too; default: all left
        assert rest["refund"]["amount"] == -300 and rest["transaction"]["refundedAmount"] == 500
        assert await credits(api) == before  # nothing revoked unless asked
        again = await refund(api, charge)
        assert codes(again) == ["INVALID_INPUT"]
        async with runtime.db.read_session() as session:
            refunds = (await session.scalars(select(Transaction).where(
                Transaction.kind == "refund").order_by(Transaction.id))).all()
        assert [(r.amount, r.payment_reference[:8]) for r in refunds] == [(-200, "test_re_"),
                                                                         (-300, "test_re_")]

    async def test_revoke_takes_back_what_the_purchase_granted(self, api, runtime) -> None:  # noqa: ANN001
        before = await credits(api)
        charge = await buy(api, runtime, "credit-pack")
        assert await credits(api) == before + 500
        result = await refund(api, charge, amount=100, revokeGrants=True)
        assert result["userErrors"] == []
        assert await credits(api) == before
        async with runtime.db.read_session() as session:
            purchase = await session.get(Purchase, charge.purchase_id)
        assert purchase is not None and purchase.status == "REFUNDED"
        # Asking again takes nothing more.
        await refund(api, charge, amount=100, revokeGrants=True)
        assert await credits(api) == before

    async def test_revoke_of_a_subscription_cancels_it_now(self, api, runtime) -> None:  # noqa: ANN001
        charge = await buy(api, runtime, "pro", priceId="pro-monthly")
        assert await credits(api) == 1000
        result = await refund(api, charge, revokeGrants=True)
        assert result["userErrors"] == []
        async with runtime.db.read_session() as session:
            purchase = await session.get(Purchase, charge.purchase_id)
        assert purchase is not None and purchase.status == "CANCELED" and purchase.ended_at
        assert await credits(api) == 100  # Pro's credits expire; Free's come back

    @pytest.mark.parametrize("amount", [0, -5, 501])
    async def test_amount_must_be_within_what_is_left(self, api, runtime, amount: int) -> None:  # noqa: ANN001
        charge = await buy(api, runtime, "credit-pack")
        result = await refund(api, charge, amount=amount)
        assert codes(result) == ["INVALID_INPUT"] and result["userErrors"][0]["field"] == ["amount"]

    async def test_ids_that_are_not_charges(self, api, runtime) -> None:  # noqa: ANN001
        charge = await buy(api, runtime, "credit-pack")
        for tid in ("999999", global_id("Invoice", str(charge.id)), "not-an-id",
                    global_id("Transaction", "abc")):
            result = await refund(api, tid)
            assert codes(result) == ["INVALID_INPUT"], tid
            assert result["userErrors"][0]["field"] == ["transactionId"]
        first = await refund(api, charge, amount=10)
        refund_id = first["refund"]["id"]
        assert codes(await refund(api, refund_id)) == ["INVALID_INPUT"]  # a refund is not a charge

    async def test_server_only(self, api, runtime) -> None:  # noqa: ANN001
        charge = await buy(api, runtime, "credit-pack")
        tid = global_id("Transaction", str(charge.id))
        result = (await api.as_user("u1").data(REFUND, {"input": {"transactionId": tid}}))[
            "refundTransaction"]
        assert codes(result) == ["FORBIDDEN"]

    async def test_concurrent_refunds_never_exceed_the_charge(self, api, runtime) -> None:  # noqa: ANN001
        charge = await buy(api, runtime, "credit-pack")
        results = await asyncio.gather(*(refund(api, charge, amount=200) for _ in range(5)))
        done = [r for r in results if not r["userErrors"]]
        assert len(done) == 2
        async with runtime.db.read_session() as session:
            row = await session.get(Transaction, charge.id)
        assert row is not None and row.refunded_amount == 400

    async def test_a_live_charge_needs_stripe(self, api, runtime) -> None:  # noqa: ANN001
        charge = await buy(api, runtime, "credit-pack")
        async with runtime.db.session() as session, session.begin():
            row = await session.get(Transaction, charge.id)
            assert row is not None
            row.test_mode, row.payment_reference = False, "pi_live"
        result = await refund(api, charge, amount=100)
        assert codes(result) == ["PAYMENT_FAILED"]
        async with runtime.db.read_session() as session:
            row = await session.get(Transaction, charge.id)
        assert row is not None and row.refunded_amount == 0  # the reservation was released
