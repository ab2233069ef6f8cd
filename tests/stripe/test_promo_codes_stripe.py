"""Promo codes on the Stripe path (live mode against localstripe): the page's PaymentIntent
is for the discounted amount, the server-side confirmation charges it, and a payment made in
the browser for a code that was used up meanwhile is refunded, not recorded at the
discounted price (``billing/promo_codes.py``: applied when paid, under the code's lock)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from stripe_testing import CREATE_CHECKOUT, OTHER_USER, RETURN_URL, USER, VISA, card, eventually

from billgate.db.models import CheckoutSession, Invoice, PromoCode, StripeEvent, Transaction

pytestmark = pytest.mark.usefixtures("example_catalog")
CREATE_CODE = """mutation ($input: CreatePromoCodeInput!) {
  createPromoCode(input: $input) { promoCode { code } userErrors { code message } } }"""


async def open_checkout(api: Any, customer: dict[str, str], promo: str) -> str:
    data = await api.data(CREATE_CHECKOUT, {"input": {
        "customer": customer, "productId": "credit-pack", "returnUrl": RETURN_URL,
        "promoCode": promo}})
    payload = data["createCheckoutUrl"]
    assert payload["userErrors"] == [], payload
    return str(payload["url"]).rsplit("/", 1)[1]


async def rows(db: Any, model: Any, *where: Any) -> list[Any]:
    async with db.read_session() as session:
        return list((await session.scalars(select(model).where(*where).order_by(model.id))).all())


async def test_the_page_and_the_confirmation_charge_the_discounted_amount(
        api: Any, server: Any, stripe_client: Any, db: Any) -> None:
    made = await api.data(CREATE_CODE, {"input": {"code": "STRIPE20", "percentOff": "20",
                                                  "duration": "ONCE"}})
    assert made["createPromoCode"]["userErrors"] == []
    code = await open_checkout(api, USER, "stripe20")
    page = await server.client.get(f"/checkout/{code}")
    assert page.status_code == 200 and "Promo code STRIPE20 (20% off)" in page.text
    [checkout] = await rows(db, CheckoutSession)
    intent = await stripe_client.v1.payment_intents.retrieve_async(checkout.payment_reference)
    assert intent.amount == 400, "the page's intent is for the discounted price"

    response = await server.client.post(f"/checkout/{code}/confirm",
                                        json={"paymentMethodId": await card(stripe_client, VISA)})
    assert response.status_code == 200, response.text
    [transaction] = await rows(db, Transaction, Transaction.kind == "purchase")
    assert transaction.amount == 400
    [invoice] = await rows(db, Invoice)
    assert [(line["kind"], line["amount"]) for line in invoice.lines] == [
        ("plan", 500), ("discount", -100)]
    [promo] = await rows(db, PromoCode)
    assert promo.times_redeemed == 1


async def test_a_browser_payment_for_a_code_used_up_meanwhile_is_refunded(
        api: Any, server: Any, stripe_client: Any, db: Any) -> None:
    made = await api.data(CREATE_CODE, {"input": {"code": "LASTONE", "percentOff": "20",
                                                  "duration": "ONCE", "maxRedemptions": 1}})
    assert made["createPromoCode"]["userErrors"] == []
    mine = await open_checkout(api, USER, "lastone")
    await server.client.get(f"/checkout/{mine}")  # the page makes its intent (400)
    [checkout] = await rows(db, CheckoutSession)
    theirs = await open_checkout(api, OTHER_USER, "lastone")
    taken = await server.client.post(f"/checkout/{theirs}/confirm",
                                     json={"paymentMethodId": await card(stripe_client, VISA)})
    assert taken.status_code == 200, taken.text

    # The browser still pays the intent it was shown, for the discounted price.
    await stripe_client.v1.payment_intents.update_async(
        checkout.payment_reference, {"payment_method": await card(stripe_client, VISA)})
    paid = await stripe_client.v1.payment_intents.confirm_async(checkout.payment_reference)
    assert paid.status == "succeeded" and paid.amount == 400

    async def refunded() -> bool:
        intent = await stripe_client.v1.payment_intents.retrieve_async(
            checkout.payment_reference, {"expand": ["latest_charge"]})
        charge = intent.latest_charge
        return bool(charge and getattr(charge, "amount_refunded", 0) == 400)

    await eventually(refunded, what="the payment to be refunded")
    assert len(await rows(db, StripeEvent, StripeEvent.type == "payment_intent.succeeded")) >= 1
    amounts = [t.amount for t in await rows(db, Transaction, Transaction.kind == "purchase")]
    assert amounts == [400], "only the other customer's discounted purchase is recorded"
    [promo] = await rows(db, PromoCode)
    assert promo.times_redeemed == 1
    [again] = await rows(db, CheckoutSession, CheckoutSession.code == mine)
    assert again.status == "OPEN", "the link reopens"
