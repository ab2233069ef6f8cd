"""Billing changes reach the app as signed webhook events, in order, with the documented
payloads: a purchase, a declined renewal, a cancellation, a refund."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import POLICY
from receiver import Receiver

sys.path.insert(0, str(Path(__file__).parents[1] / "api"))

from test_subscription_lifecycle import (  # noqa: E402
    CREATE_CHECKOUT,
    DECLINED_CARD,
    PRO,
    RETURN_URL,
    T0,
    TRANSACTIONS,
    SteppedClock,
    advance_to,
    buy,
    ok,
    set_card,
    utc,
)

from billgate.billing.purchases import service  # noqa: E402
from billgate.errors import PaymentFailed  # noqa: E402
from billgate.notifications.webhooks import delivery  # noqa: E402

pytestmark = pytest.mark.usefixtures("example_catalog")
USER = {"type": "USER", "customerId": "u1"}
CREATE = """mutation($url: String!) { createWebhookEndpoint(input: {url: $url}) {
  signingSecret userErrors { code } } }"""
REFUND = """mutation($id: ID!) { refundTransaction(input: {transactionId: $id}) {
  userErrors { code message } } }"""


@pytest.fixture(autouse=True)
def clock(runtime: Any) -> SteppedClock:
    runtime.clock = SteppedClock(T0)
    return runtime.clock


@pytest.fixture
async def hooked(api: Any, receiver: Receiver) -> Receiver:
    data = await api.data(CREATE, {"url": receiver.url("/billing")})
    receiver.secrets["/billing"] = [data["createWebhookEndpoint"]["signingSecret"]]
    return receiver


async def received(runtime: Any, receiver: Receiver) -> list[dict[str, Any]]:
    """Deliver what is due (as the scheduler does) and return every verified payload."""
    while await delivery.deliver_due(runtime.db, now=runtime.clock.now(), policy=POLICY,
                                     base_url=runtime.settings.base_url):
        pass
    got = receiver.at("/billing")
    assert all(r.verified_with for r in got), "every delivery verifies with standardwebhooks"
    return [r.payload for r in got if r.payload is not None]


async def test_a_purchase_sends_checkout_subscription_and_invoice_events(
        api: Any, runtime: Any, hooked: Receiver) -> None:
    await buy(api, runtime, "pro")
    events = await received(runtime, hooked)
    assert [e["type"] for e in events] == ["customer.created", "checkout.completed",
                                           "subscription.created", "invoice.paid"]
    assert all(e["customer"] == USER and e["testMode"] is True for e in events)
    customer, checkout, created, paid = (e["data"] for e in events)
    assert (customer["customer"]["type"], customer["customer"]["customerId"]) == ("USER", "u1")
    assert checkout["ownedProduct"]["productId"] == "pro"
    assert checkout["checkout"]["priceId"] == "pro-monthly"
    assert checkout["subscription"]["id"] == created["subscription"]["id"]
    sub = created["subscription"]
    assert (sub["status"], sub["productId"], sub["priceId"], sub["quantity"]) == (
        "ACTIVE", "pro", "pro-monthly", 1)
    assert sub["currentPeriodStart"] == T0.isoformat()
    invoice = paid["invoice"]
    assert (invoice["status"], invoice["amountTotal"], invoice["currency"]) == ("PAID", PRO, "USD")
    assert invoice["hostedInvoiceUrl"].startswith(runtime.settings.base_url + "/invoices/")
    assert invoice["lines"][0]["amount"] == PRO
    assert invoice["subscriptionId"] == sub["id"]


async def test_a_declined_renewal_sends_payment_failed_and_past_due(
        api: Any, runtime: Any, clock: SteppedClock, hooked: Receiver) -> None:
    await buy(api, runtime, "pro")
    await set_card(api, DECLINED_CARD)
    await advance_to(api, clock, utc(2026, 2, 17, 12))
    events = await received(runtime, hooked)
    assert [e["type"] for e in events][4:] == ["invoice.payment_failed", "subscription.updated"]
    failed, updated = events[4]["data"], events[5]["data"]
    assert (failed["invoice"]["status"], failed["invoice"]["amountTotal"]) == ("OPEN", PRO)
    assert failed["failureMessage"] and failed["nextRetryAt"] == utc(2026, 2, 20, 12).isoformat()
    assert (updated["subscription"]["status"], updated["previousStatus"]) == ("PAST_DUE", "ACTIVE")


async def test_cancel_and_refund(api: Any, runtime: Any, hooked: Receiver) -> None:
    await buy(api, runtime, "pro")
    await ok(api, "cancelSubscription", productId="pro", immediately=True)
    data = await api.data(TRANSACTIONS, {"customer": USER})
    [transaction] = [e["node"] for e in data["customer"]["transactions"]["edges"]]
    body = await api.data(REFUND, {"id": transaction["id"]})
    assert body["refundTransaction"]["userErrors"] == []
    events = await received(runtime, hooked)
    assert [e["type"] for e in events][4:] == ["subscription.canceled", "transaction.refunded"]
    canceled, refunded = events[4]["data"], events[5]["data"]
    assert (canceled["subscription"]["status"], canceled["previousStatus"]) == ("CANCELED", "ACTIVE")
    assert canceled["subscription"]["endedAt"] is not None or canceled["subscription"]["canceledAt"]
    assert (refunded["amount"], refunded["currency"]) == (PRO, "USD")
    assert refunded["transaction"]["id"] == transaction["id"]
    assert refunded["transaction"]["refundedAmount"] == PRO


async def test_manual_changes_send_subscription_updated(api: Any, runtime: Any,
                                                        hooked: Receiver) -> None:
    await buy(api, runtime, "pro")
    await ok(api, "cancelSubscription", productId="pro")  # at period end
    await ok(api, "uncancelSubscription", productId="pro")
    await ok(api, "pauseSubscription", productId="pro")
    await ok(api, "resumeSubscription", productId="pro")
    events = (await received(runtime, hooked))[4:]
    changes = [(e["type"], e["data"]["subscription"]["status"],
                e["data"]["subscription"]["cancelAtPeriodEnd"], e["data"].get("previousStatus"))
               for e in events if e["type"].startswith("subscription.")]
    assert changes == [
        ("subscription.updated", "ACTIVE", True, "ACTIVE"),
        ("subscription.updated", "ACTIVE", False, "ACTIVE"),
        ("subscription.updated", "PAUSED", False, "ACTIVE"),
        # A resume is paid first, then recorded at once: one update, PAUSED -> ACTIVE.
        ("subscription.updated", "ACTIVE", False, "PAUSED"),
    ]
    assert [e["type"] for e in events][-2:] == ["invoice.paid", "subscription.updated"]


SWITCH = """mutation($input: SwitchSubscriptionInput!) { switchSubscription(input: $input) {
  subscription { id } userErrors { code message } } }"""


async def test_a_switch_replaces_the_subscription(api: Any, runtime: Any, hooked: Receiver) -> None:
    await buy(api, runtime, "pro")
    data = await api.data(SWITCH, {"input": {"customer": USER, "fromProductId": "pro",
                                             "toProductId": "enterprise"}})
    payload = data["switchSubscription"]
    assert payload["userErrors"] == []
    events = (await received(runtime, hooked))[4:]
    assert [e["type"] for e in events] == ["subscription.canceled", "subscription.created",
                                           "invoice.paid"]
    assert events[0]["data"]["subscription"]["productId"] == "pro"
    assert events[1]["data"]["subscription"]["id"] == payload["subscription"]["id"]
    assert events[1]["data"]["subscription"]["productId"] == "enterprise"
    assert events[2]["data"]["invoice"]["amountTotal"] > 0


GRANT = """mutation($input: GrantProductInput!) { grantProduct(input: $input) {
  subscription { id } userErrors { code message } } }"""


async def test_a_granted_plan_and_a_replacing_purchase(api: Any, runtime: Any,
                                                       hooked: Receiver) -> None:
    data = await api.data(GRANT, {"input": {"customer": USER, "productId": "pro",
                                            "priceId": "pro-monthly"}})
    granted = data["grantProduct"]["subscription"]["id"]
    await buy(api, runtime, "enterprise")
    events = await received(runtime, hooked)
    summary = [(e["type"], (e["data"].get("subscription") or {}).get("productId")) for e in events]
    # A checkout for another plan of the line is a switch (prorated, no trial): the switch's
    # events, then the checkout's.
    assert summary == [("customer.created", None), ("subscription.created", "pro"),
                       ("subscription.canceled", "pro"), ("subscription.created", "enterprise"),
                       ("invoice.paid", None), ("checkout.completed", "enterprise")]
    assert events[1]["data"]["subscription"]["id"] == granted
    assert events[2]["data"]["subscription"]["status"] == "CANCELED"
    assert events[3]["data"]["subscription"]["status"] == "ACTIVE"


async def test_a_checkout_whose_recording_rolls_back_emits_nothing(
        api: Any, runtime: Any, hooked: Receiver) -> None:
    data = await api.data(CREATE_CHECKOUT, {"input": {
        "customer": USER, "productId": "pro", "priceId": "pro-monthly", "returnUrl": RETURN_URL}})
    code = data["createCheckoutUrl"]["url"].rsplit("/", 1)[-1]
    claim = await service.claim_checkout(runtime.db, code, clock=runtime.clock)
    with pytest.raises(PaymentFailed):  # the processor reports another amount: nothing recorded
        await service.record_checkout(runtime.db, claim.checkout_id, reference="pi_x",
                                      paid=(1, "usd"), test_mode=True, clock=runtime.clock)
    events = await received(runtime, hooked)
    assert [e["type"] for e in events] == ["customer.created"]  # from createCheckoutUrl only
