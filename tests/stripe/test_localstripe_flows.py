"""The Stripe path end to end against localstripe: saved cards, hosted checkout (browser and
server-side confirmation), declines, renewals on the test clock, dunning, refunds, and
webhooks as localstripe signs and delivers them."""

from __future__ import annotations

import re
from typing import Any

import pytest
import stripe
from sqlalchemy import func, select
from stripe_testing import (
    BILLING,
    CREATE_CHECKOUT,
    CREATE_SETUP_INTENT,
    DECLINED,
    DECLINED_AT_CHARGE,
    ITEM,
    OTHER_USER,
    PUBLISHABLE_KEY,
    REFUND,
    RETURN_URL,
    SET_DEFAULT,
    SUBSCRIPTIONS,
    UPDATE_CUSTOMER,
    USER,
    VISA,
    LiveServer,
    RecordingHTTPXClient,
    card,
    event_body,
    eventually,
    sign,
)

from billgate.billing import payment_settings, test_clock
from billgate.db.models import (
    CheckoutSession,
    Customer,
    EmailOutbox,
    Invoice,
    Product,
    Purchase,
    StripeEvent,
    Transaction,
)
from billgate.graphql.ids import global_id
from billgate.notifications.sender import render
from billgate.scheduler.runner import run_due

pytestmark = pytest.mark.usefixtures("example_catalog")
DAY = 24 * 3600


def back_url(code: str) -> str:
    """Where a completed checkout sends the browser: the return URL, told what happened."""
    return f"{RETURN_URL}?checkout_status=complete&checkout_id={code}"


# Helpers -----------------------------------------------------------------------------------


async def setup_intent(api: Any, customer: dict[str, str] = USER) -> dict[str, Any]:
    data = await api.data(CREATE_SETUP_INTENT, {"input": {"customer": customer}})
    return dict(data["createPaymentMethodSetupIntent"])


async def set_default(api: Any, setup_intent_id: str,
                      customer: dict[str, str] = USER) -> dict[str, Any]:
    data = await api.data(SET_DEFAULT, {"input": {"customer": customer,
                                                  "setupIntentId": setup_intent_id}})
    return dict(data["setDefaultPaymentMethodFromSetupIntent"])


async def save_card(api: Any, client: stripe.StripeClient, number: str,
                    customer: dict[str, str] = USER) -> dict[str, Any]:
    """Save a card as the browser would: a SetupIntent from billgate, confirmed with Stripe,
    then made the default through billgate."""
    created = await setup_intent(api, customer)
    assert created["userErrors"] == [] and created["clientSecret"].startswith(created["setupIntentId"])
    await client.v1.setup_intents.confirm_async(
        created["setupIntentId"], {"payment_method": await card(client, number)})
    result = await set_default(api, created["setupIntentId"], customer)
    assert result["userErrors"] == [], result
    return dict(result["paymentMethod"])


async def open_checkout(api: Any, product_id: str = "credit-pack", **extra: Any) -> str:
    data = await api.data(CREATE_CHECKOUT, {"input": {
        "customer": USER, "productId": product_id, "returnUrl": RETURN_URL, **extra}})
    payload = data["createCheckoutUrl"]
    assert payload["userErrors"] == [], payload
    return str(payload["url"]).rsplit("/", 1)[1]


async def credits(api: Any) -> int:
    data = await api.data(ITEM, {"customer": USER, "itemId": "credits"})
    return int(data["customer"]["item"]["quantity"])


async def set_email(api: Any, email: str = "u1@example.com") -> None:
    data = await api.data(UPDATE_CUSTOMER, {"input": {"customer": USER, "email": email}})
    assert data["updateCustomer"]["userErrors"] == []


async def count(db: Any, model: Any, *where: Any) -> int:
    async with db.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def pay_in_browser(api: Any, server: Any, stripe_client: Any, db: Any) -> tuple[str, Any, int]:
    """What Stripe.js does on the hosted page: open a checkout, load the page (which creates
    its PaymentIntent) and confirm that intent with a good card. Returns the code, the
    checkout row and the credits before."""
    code = await open_checkout(api)
    before = await credits(api)
    await server.client.get(f"/checkout/{code}")
    [checkout] = await rows(db, CheckoutSession)
    await stripe_client.v1.payment_intents.update_async(
        checkout.payment_reference, {"payment_method": await card(stripe_client, VISA)})
    await stripe_client.v1.payment_intents.confirm_async(checkout.payment_reference)
    return code, checkout, before


async def rows(db: Any, model: Any, *where: Any) -> list[Any]:
    async with db.read_session() as session:
        return list((await session.scalars(select(model).where(*where).order_by(model.id))).all())


async def confirm(server: LiveServer, code: str, payment_method: str) -> Any:
    return await server.client.post(f"/checkout/{code}/confirm",
                                    json={"paymentMethodId": payment_method})


async def stripe_customer(db: Any) -> str:
    [row] = await rows(db, Customer, Customer.customer_id == "u1")
    assert row.stripe_customer_id
    return str(row.stripe_customer_id)


async def buy_with_card(api: Any, server: LiveServer, client: stripe.StripeClient,
                        product_id: str, number: str = VISA, **extra: Any) -> str:
    code = await open_checkout(api, product_id, **extra)
    response = await confirm(server, code, await card(client, number))
    assert response.status_code == 200, response.text
    return code


def charge_id(intent: Any) -> str:
    """The intent's latest charge id (localstripe sends the charge expanded)."""
    charge = intent.latest_charge
    return str(charge if isinstance(charge, str) else charge.id)


async def move_clock(runtime: Any, seconds: int) -> None:
    """The test clock is an API of test mode only; live-mode tests move the stored offset
    and run due work directly, as the scheduler would."""
    async with runtime.db.session() as session, session.begin():
        await test_clock.advance(session, seconds)
    await runtime.sync_test_clock()
    await run_due(await runtime.billing(), runtime.clock.now())


# Saved cards -------------------------------------------------------------------------------


async def test_save_card_through_setup_intent_and_see_it_in_billing(
        api, server, stripe_client, db) -> None:  # noqa: ANN001
    before = (await api.data(BILLING, {"customer": USER}))["customer"]["billing"]
    assert before == {"hasCustomer": False, "defaultPaymentMethod": None}

    saved = await save_card(api, stripe_client, VISA)
    assert saved["brand"] == "visa" and saved["last4"] == "4242"
    assert (saved["expMonth"], saved["expYear"]) == (12, 2034)

    billing = (await api.data(BILLING, {"customer": USER}))["customer"]["billing"]
    assert billing == {"hasCustomer": True, "defaultPaymentMethod": saved}
    # The Stripe customer was created once and remembered; the card is attached to it and
    # is its default at Stripe too.
    customer_id = await stripe_customer(db)
    pm = await stripe_client.v1.payment_methods.retrieve_async(saved["id"])
    assert pm.customer == customer_id
    at_stripe = await stripe_client.v1.customers.retrieve_async(customer_id)
    assert at_stripe.invoice_settings.default_payment_method == saved["id"]
    second = await save_card(api, stripe_client, "5555555555554444")
    assert second["last4"] == "4444"
    assert await stripe_customer(db) == customer_id


async def test_setup_intent_must_have_succeeded_and_belong_to_the_customer(
        api, server, stripe_client) -> None:  # noqa: ANN001
    other = await setup_intent(api, OTHER_USER)
    await stripe_client.v1.setup_intents.confirm_async(
        other["setupIntentId"], {"payment_method": await card(stripe_client, VISA)})
    mine = await setup_intent(api)

    stolen = await set_default(api, other["setupIntentId"])
    assert [e["code"] for e in stolen["userErrors"]] == ["FORBIDDEN"]
    unconfirmed = await set_default(api, mine["setupIntentId"])
    assert [e["code"] for e in unconfirmed["userErrors"]] == ["INVALID_INPUT"]
    unknown = await set_default(api, "seti_doesnotexist")
    assert [e["code"] for e in unknown["userErrors"]] == ["INVALID_INPUT"]
    billing = (await api.data(BILLING, {"customer": USER}))["customer"]["billing"]
    assert billing["defaultPaymentMethod"] is None


async def test_a_card_declined_when_saved_is_a_payment_failure(api, server, stripe_client) -> None:  # noqa: ANN001
    created = await setup_intent(api)
    with pytest.raises(stripe.CardError):  # the browser sees the decline at once
        await stripe_client.v1.setup_intents.confirm_async(
            created["setupIntentId"], {"payment_method": await card(stripe_client, DECLINED)})
    result = await set_default(api, created["setupIntentId"])
    assert [e["code"] for e in result["userErrors"]] == ["INVALID_INPUT"]


# Hosted checkout ---------------------------------------------------------------------------


async def test_page_loads_stripe_js_for_a_payment_intent_of_the_right_amount(
        api, server, stripe_client, db) -> None:  # noqa: ANN001
    code = await open_checkout(api, "credit-pack", currency="JPY")
    page = await server.client.get(f"/checkout/{code}")
    assert page.status_code == 200, page.text
    html = page.text
    assert '<script src="https://js.stripe.com/v3/"></script>' in html
    assert f'data-publishable-key="{PUBLISHABLE_KEY}"' in html
    secret = re.search(r'data-client-secret="([^"]+)"', html)
    assert secret is not None
    policy = page.headers["content-security-policy"]
    assert "script-src 'self' https://js.stripe.com 'sha256-" in policy
    assert "frame-src https://js.stripe.com" in policy
    assert "connect-src 'self' https://api.stripe.com" in policy
    [checkout] = await rows(db, CheckoutSession)
    intent = await stripe_client.v1.payment_intents.retrieve_async(checkout.payment_reference)
    # JPY has no minor unit: ¥750 is sent as 750.
    assert (intent.amount, intent.currency, intent.client_secret) == (750, "jpy", secret.group(1))
    assert intent.customer == await stripe_customer(db)
    assert intent.metadata["billgate_checkout"] == code
    # A reload shows the same intent; nothing is granted before Stripe says it is paid.
    again = await server.client.get(f"/checkout/{code}")
    assert secret.group(1) in again.text
    assert await count(db, Purchase, Purchase.product_id == "credit-pack") == 0


async def test_buy_with_4242_is_granted_after_the_webhook(
        api, server, stripe_client, db) -> None:  # noqa: ANN001
    code = await open_checkout(api)
    before = await credits(api)
    assert (await server.client.get(f"/checkout/{code}")).status_code == 200
    [checkout] = await rows(db, CheckoutSession)
    intent_id = checkout.payment_reference
    # The browser pays Stripe directly (Stripe.js confirms the intent with the card).
    await stripe_client.v1.payment_intents.update_async(
        intent_id, {"payment_method": await card(stripe_client, VISA)})
    paid = await stripe_client.v1.payment_intents.confirm_async(intent_id)
    assert paid.status == "succeeded"
    assert await credits(api) == before  # nothing yet: only Stripe's word counts

    async def granted() -> bool:
        return await credits(api) == before + 500

    await eventually(granted, what="payment_intent.succeeded to grant the credits")
    [transaction] = await rows(db, Transaction, Transaction.kind == "purchase")
    assert (transaction.amount, transaction.currency) == (500, "USD")
    assert transaction.payment_reference == intent_id
    assert transaction.test_mode is False
    [invoice] = await rows(db, Invoice)
    assert invoice.status == "PAID"
    assert await count(db, StripeEvent, StripeEvent.type == "payment_intent.succeeded") == 1
    # The card is remembered as the default for later charges.
    billing = (await api.data(BILLING, {"customer": USER}))["customer"]["billing"]
    assert billing["defaultPaymentMethod"]["last4"] == "4242"
    # The browser comes back to the return address: sent on to the app, nothing twice.
    back = await server.client.get(f"/checkout/{code}/return?payment_intent={intent_id}")
    assert back.status_code == 303 and back.headers["location"] == back_url(code)
    assert await credits(api) == before + 500


async def test_return_address_completes_from_stripe_before_the_webhook(
        api, server, stripe_client, db) -> None:  # noqa: ANN001
    code, checkout, before = await pay_in_browser(api, server, stripe_client, db)
    back = await server.client.get(f"/checkout/{code}/return")
    assert back.status_code == 303 and back.headers["location"] == back_url(code)
    assert await credits(api) == before + 500

    async def webhook_seen() -> bool:
        return await count(db, StripeEvent, StripeEvent.type == "payment_intent.succeeded") == 1

    await eventually(webhook_seen, what="the webhook")
    assert await count(db, Transaction, Transaction.kind == "purchase") == 1
    assert await credits(api) == before + 500


async def test_return_address_with_an_unpaid_intent_grants_nothing(api, server, db) -> None:  # noqa: ANN001
    code = await open_checkout(api)
    before = await credits(api)
    await server.client.get(f"/checkout/{code}")
    back = await server.client.get(f"/checkout/{code}/return?payment_intent=pi_forged"
                                   "&redirect_status=succeeded")
    assert back.status_code == 200 and "did not complete" in back.text
    assert await credits(api) == before


async def test_server_side_confirmation_with_4242(api, server, stripe_client, db) -> None:  # noqa: ANN001
    code = await open_checkout(api)
    before = await credits(api)
    response = await confirm(server, code, await card(stripe_client, VISA))
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "COMPLETED", "returnUrl": back_url(code),
                               "alreadyCompleted": False}
    assert await credits(api) == before + 500
    [transaction] = await rows(db, Transaction, Transaction.kind == "purchase")
    intent = await stripe_client.v1.payment_intents.retrieve_async(transaction.payment_reference)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 500, "usd")

    async def webhook_seen() -> bool:
        return await count(db, StripeEvent, StripeEvent.type == "payment_intent.succeeded") == 1

    await eventually(webhook_seen, what="the webhook")
    assert await count(db, Transaction, Transaction.kind == "purchase") == 1
    assert await credits(api) == before + 500
    again = await confirm(server, code, await card(stripe_client, VISA))
    assert again.status_code == 410


async def test_declined_card_grants_nothing_and_emails_payment_failed(
        api, server, stripe_client, db) -> None:  # noqa: ANN001
    await set_email(api)
    code = await open_checkout(api)
    before = await credits(api)
    response = await confirm(server, code, await card(stripe_client, DECLINED))
    assert response.status_code == 402, response.text
    assert response.json()["error"]["code"] == "PAYMENT_FAILED"
    assert "declined" in response.json()["error"]["message"]
    assert await credits(api) == before
    assert await count(db, Purchase, Purchase.product_id == "credit-pack") == 0
    assert await count(db, Transaction, Transaction.kind == "purchase") == 0
    [checkout] = await rows(db, CheckoutSession)
    assert checkout.status == "OPEN"  # released: the customer can try another card
    [email] = await rows(db, EmailOutbox)
    assert (email.to_address, email.template) == ("u1@example.com", "checkout_payment_failed")
    assert email.context["amount"] == "5.00" and "declined" in email.context["reason"]
    rendered = render(email.template, email.context)
    assert rendered.subject == "Payment of 5.00 USD for 500 credits failed"
    assert f"/checkout/{code}" in rendered.text
    # Another card then goes through on the same link.
    assert (await confirm(server, code, await card(stripe_client, VISA))).status_code == 200
    assert await credits(api) == before + 500


async def test_decline_at_charge_is_emailed_once_whoever_reports_it(
        api, server, stripe_client, db) -> None:  # noqa: ANN001
    await set_email(api)
    code = await open_checkout(api)
    response = await confirm(server, code, await card(stripe_client, DECLINED_AT_CHARGE))
    assert response.status_code == 402
    assert await count(db, EmailOutbox) == 1

    async def webhook_seen() -> bool:
        return await count(db, StripeEvent, StripeEvent.type == "payment_intent.payment_failed") == 1

    await eventually(webhook_seen, what="payment_intent.payment_failed")
    assert await count(db, EmailOutbox) == 1  # the webhook reported the same attempt
    assert await count(db, Purchase, Purchase.product_id == "credit-pack") == 0


async def test_browser_decline_is_emailed_from_the_webhook(api, server, stripe_client, db) -> None:  # noqa: ANN001
    await set_email(api)
    code = await open_checkout(api)
    await server.client.get(f"/checkout/{code}")
    [checkout] = await rows(db, CheckoutSession)
    pm = await card(stripe_client, DECLINED_AT_CHARGE)
    await stripe_client.v1.payment_methods.attach_async(pm, {"customer": await stripe_customer(db)})
    await stripe_client.v1.payment_intents.update_async(checkout.payment_reference, {"payment_method": pm})
    with pytest.raises(stripe.CardError):
        await stripe_client.v1.payment_intents.confirm_async(checkout.payment_reference)

    async def emailed() -> bool:
        return await count(db, EmailOutbox, EmailOutbox.template == "checkout_payment_failed") == 1

    await eventually(emailed, what="the payment-failed email")
    assert await count(db, Purchase, Purchase.product_id == "credit-pack") == 0
    assert (await server.client.get(f"/checkout/{code}")).status_code == 200


async def test_free_trial_checkout_saves_the_card_and_charges_nothing(
        api, server, stripe_client, db, rails_calls: RecordingHTTPXClient) -> None:  # noqa: ANN001
    code = await open_checkout(api, "enterprise")
    page = await server.client.get(f"/checkout/{code}")
    assert page.status_code == 200 and "Save card and start the trial" in page.text
    [checkout] = await rows(db, CheckoutSession)
    assert checkout.payment_reference.startswith("seti_")
    response = await confirm(server, code, await card(stripe_client, VISA))
    assert response.status_code == 200, response.text
    data = await api.data(SUBSCRIPTIONS, {"customer": USER})
    assert [e["node"]["status"] for e in data["customer"]["subscriptions"]["edges"]] == ["TRIALING"]
    assert rails_calls.find("POST", "/v1/payment_intents") == []
    billing = (await api.data(BILLING, {"customer": USER}))["customer"]["billing"]
    assert billing["defaultPaymentMethod"]["last4"] == "4242"


async def test_a_payment_of_the_shown_price_is_honoured_after_a_price_change(
        api, server, stripe_client, db) -> None:  # noqa: ANN001
    """The page's snapshot is the deal: a price raised after the page was shown changes
    neither what is charged nor what is granted."""
    code = await open_checkout(api)
    before = await credits(api)
    await server.client.get(f"/checkout/{code}")
    [checkout] = await rows(db, CheckoutSession)
    intent_id = checkout.payment_reference
    await set_credit_pack_usd(db, 600)
    await stripe_client.v1.payment_intents.update_async(
        intent_id, {"payment_method": await card(stripe_client, VISA)})
    await stripe_client.v1.payment_intents.confirm_async(intent_id)
    back = await server.client.get(f"/checkout/{code}/return")
    assert back.status_code == 303
    assert back.headers["location"].startswith(f"{RETURN_URL}?checkout_status=complete")
    assert await credits(api) == before + 500
    refunds = await stripe_client.v1.refunds.list_async({"payment_intent": intent_id})
    assert refunds.data == []
    [checkout] = await rows(db, CheckoutSession)
    assert checkout.status == "COMPLETED"


async def test_a_price_change_before_paying_keeps_the_shown_price(
        api, server, stripe_client, db) -> None:  # noqa: ANN001
    code = await open_checkout(api)
    await server.client.get(f"/checkout/{code}")
    [checkout] = await rows(db, CheckoutSession)
    first = checkout.payment_reference
    await set_credit_pack_usd(db, 700)
    page = await server.client.get(f"/checkout/{code}")
    assert page.status_code == 200 and "Pay $5.00" in page.text and "$7.00" not in page.text
    [checkout] = await rows(db, CheckoutSession)
    assert checkout.payment_reference == first
    current = await stripe_client.v1.payment_intents.retrieve_async(first)
    assert current.amount == 500


async def set_credit_pack_usd(db: Any, amount: int) -> None:
    async with db.session() as session, session.begin():
        product = await session.scalar(select(Product).where(Product.product_id == "credit-pack"))
        product.prices = [{**product.prices[0],
                           "amounts": {**product.prices[0]["amounts"], "USD": amount}}]


async def test_a_free_checkout_needs_no_card(api, server, db, rails_calls) -> None:  # noqa: ANN001
    data = await api.data(CREATE_CHECKOUT, {"input": {
        "customer": USER, "returnUrl": RETURN_URL, "product": {
            "displayName": "Welcome gift", "customerType": "USER",
            "prices": [{"priceId": "free", "amounts": [{"currency": "USD", "amount": "0"}]}],
            "includedItems": [{"itemId": "credits", "quantity": 50, "expires": "NEVER"}]}}})
    assert data["createCheckoutUrl"]["userErrors"] == [], data
    code = data["createCheckoutUrl"]["url"].rsplit("/", 1)[1]
    before = await credits(api)
    page = await server.client.get(f"/checkout/{code}")
    assert "Complete purchase" in page.text and "js.stripe.com" not in page.text
    done = await server.client.post(f"/checkout/{code}/complete")
    assert done.status_code == 303 and done.headers["location"] == back_url(code)
    assert await credits(api) == before + 50
    assert rails_calls.find("POST", "/v1/payment_intents") == []


async def test_a_paid_checkout_cannot_be_completed_without_a_card(api, server, db) -> None:  # noqa: ANN001
    code = await open_checkout(api)
    before = await credits(api)
    refused = await server.client.post(f"/checkout/{code}/complete")
    assert refused.status_code == 409 and "Pay with a card" in refused.text
    assert await credits(api) == before


# Renewals and dunning ----------------------------------------------------------------------


async def test_renewal_on_the_test_clock_charges_off_session(
        api, server, stripe_client, db, runtime, rails_calls: RecordingHTTPXClient) -> None:  # noqa: ANN001
    await buy_with_card(api, server, stripe_client, "pro", priceId="pro-monthly")
    rails_calls.calls.clear()

    await move_clock(runtime, 31 * DAY)

    renewals = await rows(db, Transaction, Transaction.kind == "renewal")
    assert [(t.amount, t.currency) for t in renewals] == [(1900, "USD")]
    [invoice] = await rows(db, Invoice, Invoice.payment_reference == renewals[0].payment_reference)
    assert invoice.status == "PAID"
    [call] = rails_calls.find("POST", "/v1/payment_intents")
    assert call.params["off_session"] == "true" and call.params["confirm"] == "true"
    assert call.params["customer"] == await stripe_customer(db)
    assert call.headers["idempotency-key"] == f"billgate:invoice:{invoice.public_id}:1"
    intent = await stripe_client.v1.payment_intents.retrieve_async(renewals[0].payment_reference)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 1900, "usd")
    data = await api.data(SUBSCRIPTIONS, {"customer": USER})
    assert [e["node"]["status"] for e in data["customer"]["subscriptions"]["edges"]] == ["ACTIVE"]


async def test_renewal_with_a_declining_card_goes_past_due_until_a_new_card(
        api, server, stripe_client, db, runtime) -> None:  # noqa: ANN001
    await set_email(api)
    await buy_with_card(api, server, stripe_client, "pro", priceId="pro-monthly")
    await save_card(api, stripe_client, DECLINED_AT_CHARGE)

    await move_clock(runtime, 31 * DAY)

    data = await api.data(SUBSCRIPTIONS, {"customer": USER})
    [sub] = [e["node"] for e in data["customer"]["subscriptions"]["edges"]]
    assert sub["status"] == "PAST_DUE" and sub["dunning"]["inDunning"] is True
    assert await count(db, Transaction, Transaction.kind == "renewal") == 0
    [email] = await rows(db, EmailOutbox, EmailOutbox.template == "payment_failed")
    assert "declined" in email.context["reason"]
    # A new default card retries at once.
    await save_card(api, stripe_client, VISA)
    data = await api.data(SUBSCRIPTIONS, {"customer": USER})
    assert [e["node"]["status"] for e in data["customer"]["subscriptions"]["edges"]] == ["ACTIVE"]
    assert await count(db, Transaction, Transaction.kind == "renewal") == 1


# Refunds ------------------------------------------------------------------------------------


async def test_partial_then_full_refund_through_stripe(api, server, stripe_client, db) -> None:  # noqa: ANN001
    await buy_with_card(api, server, stripe_client, "credit-pack")
    [charge] = await rows(db, Transaction, Transaction.kind == "purchase")
    transaction_id = global_id("Transaction", str(charge.id))
    before = await credits(api)

    partial = (await api.data(REFUND, {"input": {"transactionId": transaction_id, "amount": 200}}))[
        "refundTransaction"]
    assert partial["userErrors"] == []
    assert partial["transaction"]["refundedAmount"] == 200
    assert (partial["refund"]["kind"], partial["refund"]["amount"]) == ("refund", -200)
    refunds = await stripe_client.v1.refunds.list_async({"payment_intent": charge.payment_reference})
    assert [r.amount for r in refunds.data] == [200]
    assert await credits(api) == before  # no revoke asked

    too_much = (await api.data(REFUND, {"input": {"transactionId": transaction_id, "amount": 301}}))[
        "refundTransaction"]
    assert [e["code"] for e in too_much["userErrors"]] == ["INVALID_INPUT"]

    rest = (await api.data(REFUND, {"input": {"transactionId": str(charge.id), "revokeGrants": True}}))[
        "refundTransaction"]
    assert rest["userErrors"] == [] and rest["transaction"]["refundedAmount"] == 500
    assert rest["refund"]["amount"] == -300
    at_stripe = await stripe_client.v1.charges.retrieve_async(
        charge_id(await stripe_client.v1.payment_intents.retrieve_async(charge.payment_reference)))
    assert at_stripe.amount_refunded == 500
    assert await credits(api) == before - 500  # the pack's credits are taken back
    [purchase] = await rows(db, Purchase, Purchase.product_id == "credit-pack")
    assert purchase.status == "REFUNDED"
    assert [t.amount for t in await rows(db, Transaction, Transaction.kind == "refund")] == [-200, -300]


async def test_refund_made_in_the_dashboard_is_recorded_from_charge_refunded(
        api, server, stripe_client, db) -> None:  # noqa: ANN001
    await buy_with_card(api, server, stripe_client, "credit-pack")
    [charge] = await rows(db, Transaction, Transaction.kind == "purchase")
    intent = await stripe_client.v1.payment_intents.retrieve_async(charge.payment_reference)
    refund = await stripe_client.v1.refunds.create_async(
        {"payment_intent": charge.payment_reference, "amount": 125})
    # localstripe sends no charge.refunded: deliver it as Stripe would (signed, with a stale
    # copy of the charge: billgate reads the charge again from Stripe).
    body = event_body("charge.refunded", {"id": charge_id(intent), "object": "charge",
                                          "amount_refunded": 0})
    response = await server.client.post("/webhooks/stripe", content=body,
                                        headers={"Stripe-Signature": sign(body)})
    assert response.status_code == 200
    [recorded] = await rows(db, Transaction, Transaction.kind == "refund")
    assert (recorded.amount, recorded.payment_reference) == (-125, refund.id)
    [charge] = await rows(db, Transaction, Transaction.kind == "purchase")
    assert charge.refunded_amount == 125
    # The same refund reported again (a new event) is not recorded twice.
    body = event_body("charge.refunded", {"id": charge_id(intent), "object": "charge"},
                      event_id="evt_second_report")
    await server.client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": sign(body)})
    assert await count(db, Transaction, Transaction.kind == "refund") == 1


# Webhooks -----------------------------------------------------------------------------------


async def test_webhook_with_a_bad_signature_is_refused_and_a_replay_changes_nothing(
        api, server, stripe_client, db) -> None:  # noqa: ANN001
    code, checkout, before = await pay_in_browser(api, server, stripe_client, db)

    async def granted() -> bool:
        return await credits(api) == before + 500

    await eventually(granted, what="the webhook")
    [seen] = await rows(db, StripeEvent, StripeEvent.object_id == checkout.payment_reference,
                        StripeEvent.type == "payment_intent.succeeded")
    event = await stripe_client.v1.events.retrieve_async(seen.event_id)
    body = _raw(event)  # the event localstripe delivered, again (same id)
    taken = StripeEvent.event_id == event.id

    async def footprint() -> tuple[int, int, int]:
        return await credits(api), await count(db, Transaction), await count(db, StripeEvent, taken)

    before_replay = await footprint()
    assert before_replay[2] == 1

    forged = await server.client.post("/webhooks/stripe", content=body,
                                      headers={"Stripe-Signature": sign(body, "whsec_wrong")})
    assert forged.status_code == 400
    missing = await server.client.post("/webhooks/stripe", content=body)
    assert missing.status_code == 400
    replay = await server.client.post("/webhooks/stripe", content=body,
                                      headers={"Stripe-Signature": sign(body)})
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    assert await footprint() == before_replay


async def test_stale_failure_event_cannot_undo_a_payment(api, server, stripe_client, db) -> None:  # noqa: ANN001
    await set_email(api)
    code = await open_checkout(api)
    response = await confirm(server, code, await card(stripe_client, VISA))
    assert response.status_code == 200
    [charge] = await rows(db, Transaction, Transaction.kind == "purchase")
    body = event_body("payment_intent.payment_failed", {
        "id": charge.payment_reference, "object": "payment_intent", "status": "requires_payment_method",
        "metadata": {"billgate_checkout": code},
        "last_payment_error": {"code": "card_declined", "message": "Your card was declined."}})
    result = await server.client.post("/webhooks/stripe", content=body,
                                      headers={"Stripe-Signature": sign(body)})
    assert result.status_code == 200
    assert await count(db, EmailOutbox, EmailOutbox.template == "checkout_payment_failed") == 0
    [purchase] = await rows(db, Purchase, Purchase.product_id == "credit-pack")
    assert purchase.status == "ACTIVE"


def _raw(event: Any) -> bytes:
    import json

    return json.dumps(event.to_dict(), sort_keys=True).encode()


async def test_unknown_event_types_are_acknowledged(server, db) -> None:  # noqa: ANN001
    body = event_body("customer.tax_id.created", {"id": "txi_x", "object": "tax_id"},
                      event_id="evt_unknown_type")
    response = await server.client.post("/webhooks/stripe", content=body,
                                        headers={"Stripe-Signature": sign(body)})
    assert response.status_code == 200
    [row] = await rows(db, StripeEvent, StripeEvent.event_id == "evt_unknown_type")
    assert row.type == "customer.tax_id.created" and row.processed_at is not None


async def test_switch_charges_the_difference_off_session(
        api, server, stripe_client, db, runtime) -> None:  # noqa: ANN001
    await buy_with_card(api, server, stripe_client, "pro", priceId="pro-monthly")
    await move_clock(runtime, 10 * DAY)
    data = await api.data("""
      mutation ($input: SwitchSubscriptionInput!) {
        switchSubscription(input: $input) { subscription { productId status } userErrors { code } }
      }""", {"input": {"customer": USER, "fromProductId": "pro", "toProductId": "enterprise"}})
    assert data["switchSubscription"]["userErrors"] == []
    [proration] = await rows(db, Transaction, Transaction.kind == "proration")
    assert proration.amount > 0 and proration.payment_reference.startswith("pi_")
    intent = await stripe_client.v1.payment_intents.retrieve_async(proration.payment_reference)
    assert intent.status == "succeeded" and intent.amount == proration.amount



async def test_refund_webhook_interrupted_by_kill_9_is_recorded_once_on_redelivery(
        api, server, stripe_client, db, settings, tmp_path) -> None:  # noqa: ANN001
    """A ``billgate serve`` receiving ``charge.refunded`` is killed (-9) while it waits on
    Stripe (a stalled Stripe: it accepts and never answers). Stripe's redelivery is then
    handled by another process and records the refund once."""
    import asyncio
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    import httpx

    from billgate.db.models import StripeEvent

    await buy_with_card(api, server, stripe_client, "credit-pack")
    [charge] = await rows(db, Transaction, Transaction.kind == "purchase")
    intent = await stripe_client.v1.payment_intents.retrieve_async(charge.payment_reference)
    refund = await stripe_client.v1.refunds.create_async(
        {"payment_intent": charge.payment_reference, "amount": 125})
    body = event_body("charge.refunded", {"id": charge_id(intent), "object": "charge"},
                      event_id="evt_interrupted_refund")
    THIS = StripeEvent.event_id == "evt_interrupted_refund"  # noqa: N806

    held: list[asyncio.StreamWriter] = []

    async def stall(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accept, never answer

    stalled = await asyncio.start_server(stall, "127.0.0.1", 0)
    stalled_port = stalled.sockets[0].getsockname()[1]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLGATE_")}
    env.update({"BILLGATE_DATABASE_URL": settings.database_url, "BILLGATE_SCHEDULER": "false",
                "BILLGATE_SECRET_KEYS": "sk_test_kill", "BILLGATE_PORT": str(port),
                "BILLGATE_STRIPE_SECRET_KEY": settings.stripe_secret_key,
                "BILLGATE_STRIPE_WEBHOOK_SECRET": settings.stripe_webhook_secret,
                "BILLGATE_STRIPE_API_BASE": f"http://127.0.0.1:{stalled_port}"})
    log = (tmp_path / "victim.log").open("wb")
    victim = subprocess.Popen([str(Path(sys.executable).parent / "billgate"), "serve",  # noqa: ASYNC220
                               "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            for _ in range(600):
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            delivery = asyncio.create_task(client.post(
                "/webhooks/stripe", content=body, headers={"Stripe-Signature": sign(body)},
                timeout=120))
            for _ in range(600):  # the victim has taken the event and now waits on Stripe
                if held and await count(db, StripeEvent, THIS):
                    break
                await asyncio.sleep(0.05)
            assert held, (tmp_path / "victim.log").read_text()
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)
            with pytest.raises(httpx.TransportError):
                await delivery
    finally:
        if victim.poll() is None:
            victim.kill()
        log.close()
        for writer in held:
            writer.close()
        stalled.close()
    [stored] = await rows(db, StripeEvent, THIS)
    assert stored.processed_at is None
    assert await count(db, Transaction, Transaction.kind == "refund") == 0

    # Redelivered while the dead handler's lease still runs: "come back later" (a non-2xx,
    # so Stripe does), never "duplicate".
    early = await server.client.post("/webhooks/stripe", content=body,
                                     headers={"Stripe-Signature": sign(body)})
    assert early.status_code == 409
    # The lease runs on real time (60 s); move it instead of waiting.
    async with db.session() as session, session.begin():
        row = await session.scalar(select(StripeEvent).where(THIS))
        row.lease_until = row.received_at.replace(year=2000)
    redelivered = await server.client.post("/webhooks/stripe", content=body,
                                           headers={"Stripe-Signature": sign(body)})
    assert redelivered.status_code == 200 and redelivered.json() == {"received": True}
    [recorded] = await rows(db, Transaction, Transaction.kind == "refund")
    assert (recorded.amount, recorded.payment_reference) == (-125, refund.id)
    again = await server.client.post("/webhooks/stripe", content=body,
                                     headers={"Stripe-Signature": sign(body)})
    assert again.json() == {"received": True, "duplicate": True}
    assert await count(db, Transaction, Transaction.kind == "refund") == 1


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


TEST_ACCOUNT_ID = "acct_localstripe_test"  # localstripe_server.TEST_ACCOUNT_ID (not importable here)
SETUP_WITH_ACCOUNT = """mutation ($input: CreatePaymentMethodSetupIntentInput!) {
  createPaymentMethodSetupIntent(input: $input) {
    setupIntentId clientSecret stripeAccountId userErrors { code } } }"""


async def test_setup_intent_names_the_stripe_account_read_once(
        api, server, rails_calls, runtime) -> None:  # noqa: ANN001
    """Live mode: the account of the configured key, from ``GET /v1/account`` (a test-only
    route of tests/stripe/localstripe_server.py: localstripe has none), read once per
    process. Test mode: null."""
    for customer_id in ("u1", "u2"):
        data = await api.data(SETUP_WITH_ACCOUNT, {"input": {"customer": {
            "type": "USER", "customerId": customer_id}}})
        payload = data["createPaymentMethodSetupIntent"]
        assert payload["userErrors"] == [] and payload["setupIntentId"].startswith("seti_")
        assert payload["stripeAccountId"] == TEST_ACCOUNT_ID
    assert len(rails_calls.find("GET", "/v1/account")) == 1, "read once, then kept"

    async with runtime.db.session() as session, session.begin():
        await payment_settings.update(session, test_mode=True)
    data = await api.data(SETUP_WITH_ACCOUNT, {"input": {"customer": USER}})
    payload = data["createPaymentMethodSetupIntent"]
    assert payload["stripeAccountId"] is None and payload["setupIntentId"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["LIVE_MODE_ONLY"]
