"""Live mode against localstripe: ``payouts`` and the console's Payouts page read Stripe's
payouts and balance; the payment method types of the settings reach Stripe when a card is
saved (localstripe accepts card, sepa_debit and ideal on SetupIntents)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import stripe
from stripe_testing import CREATE_SETUP_INTENT, SECRET_KEY, USER, RecordingHTTPXClient

from billgate.billing import payment_settings

PAYOUTS = """query ($after: String) { payouts(first: 2, after: $after) {
  edges { node { id amount currency status arrivalDate createdAt } }
  pageInfo { hasNextPage endCursor } } }"""
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def make_payouts(client: stripe.StripeClient, amounts: list[int]) -> list[str]:
    ids = []
    for amount in amounts:
        payout = await client.v1.payouts.create_async({"amount": amount, "currency": "eur",
                                                       "status": "paid"})
        ids.append(payout.id)
    return ids


async def test_payouts_are_read_from_stripe_page_by_page(api: Any,
                                                         stripe_client: stripe.StripeClient) -> None:
    created = await make_payouts(stripe_client, [1100, 2200, 3300])
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await api.data(PAYOUTS, {"after": after}))["payouts"]
        seen += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    mine = [p for p in seen if p["amount"] in (1100, 2200, 3300)]
    assert len(mine) >= 3 and {p["currency"] for p in mine} == {"EUR"}
    assert {p["status"] for p in mine} == {"paid"} and all(p["arrivalDate"] for p in mine)
    node = await api.data('query ($id: ID!) { node(id: $id) { ... on Payout { amount } } }',
                          {"id": mine[0]["id"]})
    assert node["node"]["amount"] == mine[0]["amount"]
    assert len(created) == 3


async def test_the_console_shows_stripes_balance_and_payouts(app: Any,
                                                             stripe_client: stripe.StripeClient) -> None:
    await make_payouts(stripe_client, [4321])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
        sign_in = await browser.get("/admin/sign-in")
        await browser.post("/admin/sign-in", data={
            "csrf_token": CSRF.search(sign_in.text).group(1),  # type: ignore[union-attr]
            "secret_key": "sk_test_server_key", "next": "/admin/payouts"})
        page = await browser.get("/admin/payouts")
    assert page.status_code == 200
    assert "EUR available" in page.text and "€20.00" in page.text  # localstripe's balance
    assert "€43.21" in page.text and "Nothing to pay out in test mode" not in page.text


async def test_the_accepted_payment_method_types_reach_stripe(api: Any, runtime: Any,
                                                              rails_calls: RecordingHTTPXClient) -> None:
    await payment_settings.save(runtime.db, payment_method_types=["card", "sepa_debit"])
    data = await api.data(CREATE_SETUP_INTENT, {"input": {"customer": USER}})
    assert data["createPaymentMethodSetupIntent"]["userErrors"] == []
    [call] = rails_calls.find("POST", "/v1/setup_intents")
    assert [v for k, v in sorted(call.params.items()) if k.startswith("payment_method_types")] == [
        "card", "sepa_debit"]
    assert SECRET_KEY  # the live rails are Stripe's (localstripe), not the test rails
