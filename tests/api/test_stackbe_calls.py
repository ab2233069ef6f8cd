"""StackBE's calls, exactly (API.md): ``hasAccess`` without a product (``checkAccess(customerId)``)
across every subscription state, always the same answer as the subscriptions' own
``hasAccess``, and ``currentSubscription`` with two product lines and a history."""

from __future__ import annotations

from typing import Any

import pytest
from test_subscription_lifecycle import (  # noqa: F401 - clock: the stepped test clock fixture
    DAY,
    DECLINED_CARD,
    advance_to,
    buy,
    clock,
    ok,
    set_card,
    settings,
    utc,
)

pytestmark = pytest.mark.usefixtures("example_catalog")

ACCESS = """query ($c: CustomerRef!) { customer(customer: $c) {
  hasAccess subscriptions(first: 100) { edges { node { status hasAccess } } } } }"""
CURRENT = """query ($c: CustomerRef!, $line: String) { customer(customer: $c) {
  currentSubscription(productLineId: $line) {
    status productId priceId product { productId displayName } price { priceId } } } }"""
SWITCH = """mutation ($input: SwitchSubscriptionInput!) {
  switchSubscription(input: $input) { userErrors { code } } }"""
UPSERT_LINE = """mutation { upsertProductLine(input: {productLineId: "support-plans",
  displayName: "Support", customerType: USER}) { userErrors { code } } }"""
UPSERT_SUPPORT = """mutation { upsertProduct(input: {productId: "support", product: {
  displayName: "Support", customerType: USER, productLineId: "support-plans",
  prices: [{priceId: "support-monthly", amounts: [{currency: USD, amount: "5.00"}],
            interval: {unit: MONTH, count: 1}}]}}) { userErrors { code } } }"""


def user(customer_id: str) -> dict[str, str]:
    return {"type": "USER", "customerId": customer_id}


async def access(api: Any, customer_id: str) -> tuple[bool, list[str]]:
    """``hasAccess`` without a product, checked against the subscriptions' own answers."""
    data = (await api.data(ACCESS, {"c": user(customer_id)}))["customer"]
    subs = [edge["node"] for edge in data["subscriptions"]["edges"]]
    assert data["hasAccess"] == any(sub["hasAccess"] for sub in subs), "one rule"
    return data["hasAccess"], [sub["status"] for sub in subs]


async def current(api: Any, customer_id: str, line: str | None = None) -> dict[str, Any] | None:
    data = await api.data(CURRENT, {"c": user(customer_id), "line": line})
    return data["customer"]["currentSubscription"]


async def test_has_access_without_a_product_in_every_state(api: Any, runtime: Any,
                                                           clock: Any) -> None:  # noqa: F811
    assert await access(api, "nobody") == (False, [])  # Free (included) is no subscription
    assert await current(api, "nobody") is None
    await buy(api, runtime, "enterprise", customer=user("trial"))
    assert await access(api, "trial") == (True, ["TRIALING"])
    await buy(api, runtime, "pro", customer=user("active"))
    assert await access(api, "active") == (True, ["ACTIVE"])
    await buy(api, runtime, "pro", customer=user("paused"))
    await ok(api, "pauseSubscription", customer=user("paused"), productId="pro")
    assert await access(api, "paused") == (False, ["PAUSED"])
    assert (await current(api, "paused"))["status"] == "PAUSED"  # paused is still current
    await buy(api, runtime, "pro", customer=user("canceled"))
    await ok(api, "cancelSubscription", customer=user("canceled"), productId="pro",
             immediately=True)
    assert await access(api, "canceled") == (False, ["CANCELED"])
    assert await current(api, "canceled") is None

    await settings(api, gracePeriodDays=2)
    await set_card(api, DECLINED_CARD, customer=user("active"))
    failed_at = utc(2026, 2, 17, 12)  # the monthly renewal of "active" is declined
    await advance_to(api, clock, failed_at)
    assert await access(api, "active") == (True, ["PAST_DUE"]), "inside the grace period"
    await advance_to(api, clock, failed_at + 3 * DAY)  # the first retry fails too
    assert await access(api, "active") == (False, ["PAST_DUE"]), "past the grace period"


async def test_current_subscription_per_line_with_history(api: Any, runtime: Any) -> None:
    assert (await api.data(UPSERT_LINE))["upsertProductLine"]["userErrors"] == []
    assert (await api.data(UPSERT_SUPPORT))["upsertProduct"]["userErrors"] == []
    await buy(api, runtime, "pro", customer=user("u5"))
    switched = await api.data(SWITCH, {"input": {"customer": user("u5"), "fromProductId": "pro",
                                                 "toProductId": "enterprise"}})
    assert switched["switchSubscription"]["userErrors"] == []
    await buy(api, runtime, "support", customer=user("u5"))

    enterprise = await current(api, "u5", "user-plans")
    assert enterprise == {"status": "ACTIVE", "productId": "enterprise",
                          "priceId": "enterprise-monthly",
                          "product": {"productId": "enterprise", "displayName": "Enterprise"},
                          "price": {"priceId": "enterprise-monthly"}}
    assert (await current(api, "u5", "support-plans"))["productId"] == "support"
    assert (await current(api, "u5"))["productId"] == "support", "the newest of any line"
    assert await current(api, "u5", "team-plans") is None
    _, history = await access(api, "u5")
    assert sorted(history) == ["ACTIVE", "ACTIVE", "CANCELED"], "pro was replaced"
