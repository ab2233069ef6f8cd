"""The portal's Update card in live mode, against localstripe: the page carries Stripe's
Payment Element on a SetupIntent of this customer (the hosted checkout's script and policy),
and the return address makes the confirmed intent's card the default, read from Stripe;
another customer's intent is refused and saves nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import stripe
from stripe_testing import BILLING, CREATE_SETUP_INTENT, USER, VISA, card

from billgate.types import CustomerRef, CustomerType
from billgate.web.portal import links

BACK = "https://app.example.com/account"
SECRET = re.compile(r'data-client-secret="([^"]+)"')


@pytest.fixture
async def browser(app: Any, runtime: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client holding a portal session of ``USER``."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        link = urlsplit(links.mint(runtime, CustomerRef(CustomerType.USER, USER["customerId"]),
                                   BACK).url)
        assert (await client.get(f"{link.path}?{link.query}")).status_code == 303
        yield client


async def test_update_card_with_the_payment_element(browser: httpx.AsyncClient, api: Any,
                                                    stripe_client: stripe.StripeClient) -> None:
    page = await browser.get("/portal/card")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "https://js.stripe.com" in policy and "frame-src https://js.stripe.com" in policy
    assert 'data-kind="setup"' in page.text and "js.stripe.com/v3" in page.text
    secret = SECRET.search(page.text)
    assert secret, page.text
    intent_id = secret.group(1).split("_secret_")[0]

    # What Stripe.js does in the browser, then where it sends the browser back.
    await stripe_client.v1.setup_intents.confirm_async(
        intent_id, {"payment_method": await card(stripe_client, VISA)})
    back = await browser.get("/portal/card/return", params={"setup_intent": intent_id})
    assert back.status_code == 303 and back.headers["location"].startswith("/portal?flash=")
    portal = await browser.get(back.headers["location"])
    assert "Your card ending 4242 is saved." in portal.text and "Visa ending 4242" in portal.text
    billing = (await api.data(BILLING, {"customer": USER}))["customer"]["billing"]
    assert billing["defaultPaymentMethod"]["last4"] == "4242"


async def test_another_customers_intent_is_refused(browser: httpx.AsyncClient, api: Any,
                                                   stripe_client: stripe.StripeClient) -> None:
    other = (await api.data(CREATE_SETUP_INTENT, {"input": {
        "customer": {"type": "USER", "customerId": "someone-else"}}}))["createPaymentMethodSetupIntent"]
    await stripe_client.v1.setup_intents.confirm_async(
        other["setupIntentId"], {"payment_method": await card(stripe_client, VISA)})
    await browser.get("/portal/card")  # USER's own Stripe customer exists from here
    back = await browser.get("/portal/card/return", params={"setup_intent": other["setupIntentId"]})
    assert back.status_code == 303
    portal = await browser.get(back.headers["location"])
    assert "does not belong" in portal.text and "No card saved." in portal.text
    billing = (await api.data(BILLING, {"customer": USER}))["customer"]["billing"]
    assert billing["defaultPaymentMethod"] is None
