"""Where features meet (issue 12): server-only products, pauses, grants, switches through
checkout and ``switchOptions``, each through the GraphQL API and against the seeds' rules.

Billing time is the stepped test clock of ``test_subscription_lifecycle`` (frozen at ``T0``,
moved only by ``advanceTestClock``); its helpers are reused.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from test_subscription_lifecycle import (
    DECLINED_CARD,
    ENTERPRISE,
    GOOD_CARD,
    PRO,
    T0,
    UPSERT_PRODUCT,
    USER,
    SteppedClock,
    advance_to,
    at,
    buy,
    codes,
    credits,
    has_access,
    invoices,
    lines,
    mutate,
    ok,
    prorated,
    set_card,
    subscription,
    switch,
    transactions,
    utc,
)

pytestmark = pytest.mark.usefixtures("example_catalog")


@pytest.fixture(autouse=True)
def clock(runtime: Any) -> SteppedClock:
    runtime.clock = SteppedClock(T0)
    return runtime.clock


DAY = timedelta(days=1)
PERIOD_END = utc(2026, 2, 17, 12)  # a monthly plan bought at T0 renews here

OWNED = """
query ($customer: CustomerRef!) {
  customer(customer: $customer) {
    products(first: 100) { edges { node { productId type switchOptions { productId } } } }
    subscriptions(first: 100) { edges { node { productId status } } }
  }
}
"""
SUBSCRIPTION_IDS = """
query ($customer: CustomerRef!) {
  customer(customer: $customer) { subscriptions(first: 100) { edges { node { id productId } } } }
}
"""
NODE = "query ($id: ID!) { node(id: $id) { id } }"
GRANT = """
mutation ($input: GrantProductInput!) {
  grantProduct(input: $input) { ownedProduct { productId } userErrors { code message } }
}
"""


async def owned(api: Any, customer: dict[str, str] = USER) -> dict[str, list[str]]:
    """Owned product id -> its switch option ids."""
    data = (await api.data(OWNED, {"customer": customer}))["customer"]
    return {edge["node"]["productId"]: [o["productId"] for o in edge["node"]["switchOptions"]]
            for edge in data["products"]["edges"]}


async def subscribed(api: Any, customer: dict[str, str] = USER) -> list[str | None]:
    data = (await api.data(OWNED, {"customer": customer}))["customer"]
    return [edge["node"]["productId"] for edge in data["subscriptions"]["edges"]]


async def grant(api: Any, product_id: str, **fields: Any) -> None:
    payload = (await api.data(GRANT, {"input": {"customer": USER, "productId": product_id,
                                                **fields}}))["grantProduct"]
    assert payload["userErrors"] == [], payload


async def upsert(api: Any, product_id: str, **product: Any) -> None:
    payload = (await api.data(UPSERT_PRODUCT, {"input": {"productId": product_id, "product": {
        "customerType": "USER", "displayName": product_id, **product}}}))["upsertProduct"]
    assert payload["userErrors"] == [], payload


def usd(amount: str, interval: bool = True) -> dict[str, Any]:
    price: dict[str, Any] = {"priceId": "p", "amounts": [{"currency": "USD", "amount": amount}]}
    if interval:
        price["interval"] = {"unit": "MONTH", "count": 1}
    return price


# 3. Server-only products ----------------------------------------------------------------------


class TestServerOnlyProducts:
    async def test_hidden_from_customer_tokens_while_has_access_still_answers(
            self, api: Any) -> None:
        await upsert(api, "vip", serverOnly=True, prices=[usd("10.00")])
        await grant(api, "internal-grant")
        await grant(api, "vip", priceId="p")

        server_view = await owned(api)
        assert {"internal-grant", "vip", "free"} <= set(server_view)
        assert "vip" in await subscribed(api)

        client = api.as_user("u1")
        client_view = await owned(client)
        assert "internal-grant" not in client_view and "vip" not in client_view, \
            "the seed: server-only products are hidden from client SDK responses"
        assert "free" in client_view
        assert "vip" not in await subscribed(client)
        [vip_id] = [e["node"]["id"] for e in (await api.data(SUBSCRIPTION_IDS, {"customer": USER}))[
            "customer"]["subscriptions"]["edges"] if e["node"]["productId"] == "vip"]
        assert (await client.data(NODE, {"id": vip_id}))["node"] is None
        assert (await api.data(NODE, {"id": vip_id}))["node"] is not None
        assert await has_access(client, "internal-grant") is True
        assert await has_access(client, "vip") is True


# 4. Pause and resume with a declining card ----------------------------------------------------


class TestPauseResumeDeclined:
    async def test_declined_resumes_grant_nothing_and_stay_paused(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await buy(api, runtime, "pro")
        assert await credits(api) == 1_000
        await set_card(api, DECLINED_CARD)
        for cycle in range(3):
            paused = await ok(api, "pauseSubscription", productId="pro") if cycle == 0 else None
            if paused is not None:
                assert (paused["status"], paused["hasAccess"]) == ("PAUSED", False)
            assert await credits(api) == 0, "pausing forfeits the plan's expiring credits"
            assert not await has_access(api, "pro")
            payload = await mutate(api, "resumeSubscription", productId="pro")
            assert codes(payload) == ["PAYMENT_FAILED"], payload
            assert (await subscription(api, "pro"))["status"] == "PAUSED"
            assert await credits(api) == 0, f"cycle {cycle}: a declined resume grants nothing"
            await advance_to(api, clock, clock.now() + DAY)
        assert [i["status"] for i in await invoices(api) if i["amountTotal"] == PRO].count("PAID") \
            == 1, "one payment: the purchase"

        await set_card(api, GOOD_CARD)
        resumed = await ok(api, "resumeSubscription", productId="pro")
        assert (resumed["status"], resumed["hasAccess"]) == ("ACTIVE", True)
        assert await credits(api) == 1_000, "a paid resume grants the plan's items once"


# 5. Granted plans ------------------------------------------------------------------------------


class TestGrantedPlan:
    async def test_switching_away_from_a_granted_plan_credits_nothing(
            self, api: Any, clock: SteppedClock) -> None:
        await grant(api, "pro", priceId="pro-monthly")
        now = T0 + 10 * DAY
        await advance_to(api, clock, now)
        payload = await switch(api, "pro", "enterprise")
        assert payload["userErrors"] == [], payload
        debit = prorated(ENTERPRISE, T0, PERIOD_END, now)
        newest = (await invoices(api))[0]
        assert lines(newest) == [("proration_credit", 0), ("proration_debit", debit)], \
            "nothing was paid for the granted Pro, so nothing of it is credited"
        assert newest["amountTotal"] == debit
        assert [(t["kind"], t["amount"]) for t in await transactions(api)][0] == (
            "proration", debit)

    async def test_a_granted_downgrade_leaves_no_account_credit(
            self, api: Any, clock: SteppedClock) -> None:
        await grant(api, "pro", priceId="pro-yearly")
        await advance_to(api, clock, T0 + 10 * DAY)
        assert (await switch(api, "pro", "pro", priceId="pro-monthly"))["userErrors"] == []
        newest = (await invoices(api))[0]
        assert lines(newest) == [("proration_credit", 0), ("proration_debit", PRO)], \
            "a new monthly period at the full price, nothing credited for the granted year"
        assert all(t["amount"] >= 0 for t in await transactions(api)), \
            "no negative proration: nothing is owed back for a grant"

    async def test_a_granted_subscription_is_never_charged_and_renews_its_items(
            self, api: Any, clock: SteppedClock) -> None:
        await set_card(api, DECLINED_CARD)  # would fail any charge
        await grant(api, "pro", priceId="pro-monthly")
        assert await credits(api) == 1_000
        await advance_to(api, clock, utc(2026, 4, 17, 12))
        sub = await subscription(api, "pro")
        assert (sub["status"], at(sub["currentPeriodStart"])) == ("ACTIVE", utc(2026, 4, 17, 12))
        renewals = [i for i in await invoices(api)]
        assert [(i["status"], i["amountTotal"]) for i in renewals] == [("PAID", 0)] * 3
        assert all(t["amount"] == 0 for t in await transactions(api))
        assert await credits(api) == 1_000, "the plan's credits repeat every month"


# 7. switchOptions -----------------------------------------------------------------------------


class TestSwitchOptions:
    async def test_lists_exactly_what_switch_subscription_accepts(
            self, api: Any, runtime: Any) -> None:
        await upsert(api, "lifetime", productLineId="user-plans", prices=[usd("99.00", False)])
        assert (await owned(api))["free"] == [], "an included plan is left through checkout"
        assert codes(await switch(api, "free", "pro")) == ["NOT_A_SUBSCRIPTION"]

        await buy(api, runtime, "pro")
        options = await owned(api)
        assert options["pro"] == ["enterprise"]
        for target in ("free", "lifetime", "credit-pack", "internal-grant"):
            payload = await switch(api, "pro", target)
            assert payload["userErrors"], f"pro -> {target} must be refused"
        assert (await switch(api, "pro", "enterprise"))["userErrors"] == []
        assert (await owned(api))["enterprise"] == ["pro"]

    async def test_a_one_time_plan_has_no_switch_options(self, api: Any, runtime: Any) -> None:
        await upsert(api, "lifetime", productLineId="user-plans", prices=[usd("99.00", False)])
        await buy(api, runtime, "lifetime")
        assert (await owned(api))["lifetime"] == []
        assert codes(await switch(api, "lifetime", "pro")) == ["NOT_A_SUBSCRIPTION"]


# 6. Changing plan through a checkout ------------------------------------------------------------

CREATE_CHECKOUT = """
mutation ($input: CreateCheckoutUrlInput!) {
  createCheckoutUrl(input: $input) { url userErrors { code message } }
}
"""


async def checkout_path(api: Any, product_id: str, **fields: Any) -> str:
    payload = (await api.data(CREATE_CHECKOUT, {"input": {
        "customer": USER, "productId": product_id, "returnUrl": "https://app.example.com/done",
        **fields}}))["createCheckoutUrl"]
    assert payload["userErrors"] == [], payload
    return "/checkout/" + payload["url"].rsplit("/", 1)[-1]


async def complete(api: Any, path: str) -> None:
    """Press the hosted page's test-mode button."""
    response = await api.client.post(path + "/complete")
    assert response.status_code == 303, response.text


class TestPlanChangeThroughCheckout:
    async def test_an_upgrade_is_prorated_exactly_as_switch_subscription(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await buy(api, runtime, "pro")
        now = T0 + timedelta(days=10, hours=5, seconds=7)
        await advance_to(api, clock, now)
        credit, debit = prorated(PRO, T0, PERIOD_END, now), prorated(ENTERPRISE, T0, PERIOD_END, now)
        path = await checkout_path(api, "enterprise")

        page = (await api.client.get(path)).text
        assert "Unused time on Pro" in page and f"-${credit / 100:.2f}" in page
        assert f"${(debit - credit) / 100:.2f}" in page, "the amount due today"
        assert "free trial" not in page, "a plan change is paid now: no trial"

        await complete(api, path)
        sub = await subscription(api, "enterprise")
        assert (sub["status"], sub["trialEndsAt"]) == ("ACTIVE", None)
        assert (at(sub["currentPeriodStart"]), at(sub["currentPeriodEnd"])) == (T0, PERIOD_END)
        newest = (await invoices(api))[0]
        assert (newest["status"], newest["amountTotal"]) == ("PAID", debit - credit)
        assert lines(newest) == [("proration_credit", -credit), ("proration_debit", debit)]
        assert [(t["kind"], t["amount"]) for t in await transactions(api)][0] == (
            "proration", debit - credit)
        assert (await subscription(api, "pro"))["status"] == "CANCELED"
        assert await credits(api) == 10_000

    async def test_a_downgrade_through_checkout_charges_nothing_and_keeps_credit(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await buy(api, runtime, "enterprise")  # a 14-day trial, then paid from 31 January
        await advance_to(api, clock, utc(2026, 1, 31, 12))
        now = utc(2026, 2, 10, 12)
        await advance_to(api, clock, now)
        start, end = utc(2026, 1, 31, 12), utc(2026, 2, 28, 12)
        credit, debit = prorated(ENTERPRISE, start, end, now), prorated(PRO, start, end, now)
        path = await checkout_path(api, "pro", priceId="pro-monthly")
        assert "$0.00" in (await api.client.get(path)).text.split("Due today")[1]
        await complete(api, path)
        newest = (await invoices(api))[0]
        assert (newest["status"], newest["amountTotal"]) == ("PAID", 0)
        assert [(t["kind"], t["amount"]) for t in await transactions(api)][0] == (
            "proration", debit - credit)

    async def test_a_one_time_plan_is_replaced(self, api: Any, runtime: Any) -> None:
        await upsert(api, "lifetime", productLineId="user-plans", prices=[usd("99.00", False)])
        await buy(api, runtime, "lifetime")
        await complete(api, await checkout_path(api, "pro", priceId="pro-monthly"))
        products = await owned(api)
        assert "lifetime" not in products and "pro" in products, \
            "the seed: when they upgrade, the old plan is replaced"
        assert not await has_access(api, "lifetime")

