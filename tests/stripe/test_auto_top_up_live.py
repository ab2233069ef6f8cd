"""Auto top-up in live mode, charged through Stripe (localstripe): off-session to the
default card with the crossing's key; a card that fails at charge turns it off."""

from __future__ import annotations

from typing import Any

import pytest
from stripe_testing import DECLINED_AT_CHARGE, USER, VISA, RecordingHTTPXClient
from test_localstripe_flows import (
    count,
    credits,
    move_clock,
    rows,
    save_card,
    set_email,
    stripe_customer,
)

from billgate.db.models import AutoTopUpCrossing, EmailOutbox, Purchase, Transaction

pytestmark = pytest.mark.usefixtures("example_catalog")

SET = """mutation ($input: SetAutoTopUpInput!) { setAutoTopUp(input: $input) {
  autoTopUp { enabled disabledReason } userErrors { code } } }"""
SPEND = """mutation ($c: CustomerRef!, $n: BigInt!) { tryDecreaseItemQuantity(input: {
  customer: $c, itemId: "credits", amount: $n}) { success } }"""
TOP_UP = """query ($c: CustomerRef!) { customer(customer: $c) { item(itemId: "credits") {
  autoTopUp { enabled disabledReason lastTriggeredAt } } } }"""


async def cross(api: Any, runtime: Any) -> None:
    """Set a top-up at 20, spend the Free plan's 100 down to 10, let the scheduler run."""
    done = await api.data(SET, {"input": {"customer": USER, "itemId": "credits", "threshold": 20,
                                          "productId": "credit-pack", "priceId": "once"}})
    assert done["setAutoTopUp"]["userErrors"] == []
    assert (await api.data(SPEND, {"c": USER, "n": 90}))["tryDecreaseItemQuantity"]["success"]
    await move_clock(runtime, 1)


async def test_a_top_up_is_charged_off_session_to_the_default_card(
        api, server, stripe_client, db, runtime, rails_calls: RecordingHTTPXClient) -> None:  # noqa: ANN001
    await save_card(api, stripe_client, VISA)
    rails_calls.calls.clear()
    await cross(api, runtime)

    assert await credits(api) == 510
    [call] = rails_calls.find("POST", "/v1/payment_intents")
    assert call.params["off_session"] == "true" and call.params["confirm"] == "true"
    assert call.params["customer"] == await stripe_customer(db)
    [crossing] = await rows(db, AutoTopUpCrossing)
    assert call.headers["idempotency-key"] == f"billgate:auto_top_up:{crossing.id}"
    [charge] = await rows(db, Transaction, Transaction.kind == "purchase")
    intent = await stripe_client.v1.payment_intents.retrieve_async(charge.payment_reference)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 500, "usd")
    assert await count(db, Purchase, Purchase.origin == "auto_top_up") == 1


async def test_a_card_that_fails_at_charge_turns_it_off(
        api, server, stripe_client, db, runtime) -> None:  # noqa: ANN001
    await set_email(api)
    await save_card(api, stripe_client, DECLINED_AT_CHARGE)
    await cross(api, runtime)

    assert await credits(api) == 10
    top_up = (await api.data(TOP_UP, {"c": USER}))["customer"]["item"]["autoTopUp"]
    assert top_up["enabled"] is False and "declined" in top_up["disabledReason"]
    assert await count(db, Purchase, Purchase.origin == "auto_top_up") == 0
    assert await count(db, Transaction) == 0
    [email] = await rows(db, EmailOutbox, EmailOutbox.template == "payment_failed")
    assert email.context["auto_top_up"] == "credits" and "declined" in email.context["reason"]


async def test_live_mode_without_a_card_turns_it_off(api, server, db, runtime) -> None:  # noqa: ANN001
    await cross(api, runtime)
    top_up = (await api.data(TOP_UP, {"c": USER}))["customer"]["item"]["autoTopUp"]
    assert (top_up["enabled"], top_up["disabledReason"]) == (
        False, "no default payment method to charge")
    assert await count(db, Purchase, Purchase.origin == "auto_top_up") == 0
