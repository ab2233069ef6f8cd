"""Seat changes reach the app as ``subscription.updated`` with the new ``quantity`` and the
``previousQuantity``; more seats also send ``invoice.paid`` for the prorated charge, fewer
seats send none (nothing is charged)."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from receiver import Receiver

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "api"))

from test_billing_events import hooked, received  # noqa: E402, F401 - the fixture
from test_subscription_lifecycle import T0, SteppedClock, advance_to, buy  # noqa: E402

pytestmark = pytest.mark.usefixtures("example_catalog")
TEAM = {"type": "TEAM", "customerId": "t1"}
UPDATE = """mutation ($input: UpdateSubscriptionQuantityInput!) {
  updateSubscriptionQuantity(input: $input) { subscription { id quantity } userErrors { code } } }"""
SUBS = """query ($c: CustomerRef!) { customer(customer: $c) {
  subscriptions(first: 5) { edges { node { id } } } } }"""


@pytest.fixture(autouse=True)
def clock(runtime: Any) -> SteppedClock:
    runtime.clock = SteppedClock(T0)
    return runtime.clock


async def seats_to(api: Any, quantity: int) -> None:
    data = await api.data(SUBS, {"c": TEAM})
    sub_id = data["customer"]["subscriptions"]["edges"][0]["node"]["id"]
    payload = (await api.data(UPDATE, {"input": {"customer": TEAM, "subscriptionId": sub_id,
                                                 "quantity": quantity}}))
    assert payload["updateSubscriptionQuantity"]["userErrors"] == [], payload


async def test_seats_up_and_down_send_subscription_updated(
        api: Any, runtime: Any, clock: SteppedClock, hooked: Receiver) -> None:  # noqa: F811
    await buy(api, runtime, "team", customer=TEAM, quantity=2)
    await advance_to(api, clock, T0 + timedelta(days=5))
    await seats_to(api, 4)
    await advance_to(api, clock, T0 + timedelta(days=9))
    await seats_to(api, 3)
    events = (await received(runtime, hooked))[4:]  # after the purchase's four
    assert [e["type"] for e in events] == ["subscription.updated", "invoice.paid",
                                           "subscription.updated"]
    up, paid, down = (e["data"] for e in events)
    assert (up["subscription"]["quantity"], up["previousQuantity"]) == (4, 2)
    assert up["previousStatus"] == "ACTIVE" and up["subscription"]["status"] == "ACTIVE"
    assert [line["kind"] for line in paid["invoice"]["lines"]] == ["proration_credit",
                                                                   "proration_debit"]
    assert paid["invoice"]["amountTotal"] > 0
    assert (down["subscription"]["quantity"], down["previousQuantity"]) == (3, 4)
    assert all(e["customer"] == TEAM for e in events)
