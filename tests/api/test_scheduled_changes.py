"""Plan changes at the period end (``switchSubscription(when: PERIOD_END)``,
``cancelScheduledChange``) walked through the test clock, through the GraphQL API.

Enterprise (99.00 a month, 10,000 credits WHEN_PURCHASE_EXPIRES, a 14-day trial from T0)
down to Pro (19.00, 1,000 credits a month WHEN_REPEATED): the trial ends on 31 January, the
first paid period is 31 January to 28 February."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from test_subscription_lifecycle import (  # noqa: F401 - clock: the stepped test clock fixture
    DECLINED_CARD,
    ENTERPRISE,
    PRO,
    USER,
    SteppedClock,
    account,
    advance_to,
    at,
    buy,
    clock,
    codes,
    credits,
    invoices,
    mutate,
    ok,
    plan_periods,
    set_card,
    subscription,
    transactions,
    utc,
)

from billgate.billing import audit
from billgate.db.models import Purchase, ScheduledChange, WebhookEvent

pytestmark = pytest.mark.usefixtures("example_catalog")

PAID_START, PAID_END = utc(2026, 1, 31, 12), utc(2026, 2, 28, 12)
NEXT_END = utc(2026, 3, 28, 12)
SCHEDULED = "scheduledChange { toProductId toPriceId at }"
SUBS = f"""
query ($customer: CustomerRef!) {{
  customer(customer: $customer) {{
    subscriptions(first: 20) {{ edges {{ node {{ id productId priceId status migratedAt {SCHEDULED} }} }} }}
  }}
}}
"""
CANCEL_SCHEDULED = """
mutation ($input: CancelScheduledChangeInput!) {
  cancelScheduledChange(input: $input) {
    subscription { id productId scheduledChange { toProductId } }
    userErrors { code message field }
  }
}
"""


async def subs(api: Any, customer: dict[str, str] = USER) -> list[dict[str, Any]]:
    data = await api.data(SUBS, {"customer": customer})
    return [edge["node"] for edge in data["customer"]["subscriptions"]["edges"]]


async def scheduled(api: Any, product_id: str) -> dict[str, Any] | None:
    live = [s for s in await subs(api) if s["productId"] == product_id and s["status"] != "CANCELED"]
    assert len(live) == 1, live
    return live[0]["scheduledChange"]


async def later_switch(api: Any, from_product: str, to_product: str,
                       **fields: Any) -> dict[str, Any]:
    if to_product == "pro":
        fields.setdefault("priceId", "pro-monthly")
    return await mutate(api, "switchSubscription", fromProductId=from_product,
                        toProductId=to_product, when="PERIOD_END", **fields)


async def cancel_scheduled(api: Any, subscription_id: str) -> dict[str, Any]:
    body = await api(CANCEL_SCHEDULED, {"input": {"customer": USER,
                                                  "subscriptionId": subscription_id}})
    assert not body.get("errors"), body
    return body["data"]["cancelScheduledChange"]


async def pending_rows(runtime: Any) -> list[ScheduledChange]:
    async with runtime.db.read_session() as session:
        return list(await session.scalars(select(ScheduledChange).where(
            ScheduledChange.status == "PENDING")))


async def no_violations(runtime: Any) -> None:
    async with runtime.db.read_session() as session:
        assert [str(v) for v in await audit.run(session)] == []


async def on_enterprise_paid(api: Any, runtime: Any, clock: SteppedClock) -> None:  # noqa: F811
    """Enterprise bought at T0 and its trial converted: 99.00 paid for 31 Jan - 28 Feb."""
    await buy(api, runtime, "enterprise")
    await advance_to(api, clock, PAID_START + timedelta(hours=1))
    assert (await invoices(api))[0]["amountTotal"] == ENTERPRISE


class TestDowngradeAtPeriodEnd:
    async def test_nothing_now_then_the_renewal_is_of_the_new_plan(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:  # noqa: F811
        await on_enterprise_paid(api, runtime, clock)
        await advance_to(api, clock, PAID_START + timedelta(days=9, hours=3))
        before = (await invoices(api), await transactions(api))

        payload = await later_switch(api, "enterprise", "pro")
        assert payload["userErrors"] == [], payload
        sub = payload["subscription"]
        assert (sub["productId"], sub["status"]) == ("enterprise", "ACTIVE"), \
            "still on Enterprise until the period end"
        assert (await invoices(api), await transactions(api)) == before, \
            "nothing charged or credited now"
        change = await scheduled(api, "enterprise")
        assert change is not None
        assert (change["toProductId"], change["toPriceId"], at(change["at"])) == (
            "pro", "pro-monthly", PAID_END)
        assert await credits(api) == 10_000, "Enterprise's credits stay until the period end"

        await advance_to(api, clock, PAID_END + timedelta(hours=1))
        newest = (await invoices(api))[0]
        assert (newest["status"], newest["amountTotal"]) == ("PAID", PRO), \
            "the renewal charges the new price"
        assert plan_periods([newest]) == [(PAID_END, NEXT_END)]
        old = await subscription(api, "enterprise")
        new = await subscription(api, "pro")
        assert old["status"] == "CANCELED" and at(old["endedAt"]) == PAID_END
        assert (new["status"], new["priceId"]) == ("ACTIVE", "pro-monthly")
        assert (at(new["currentPeriodStart"]), at(new["currentPeriodEnd"])) == (PAID_END, NEXT_END)
        assert new["trialEndsAt"] is None
        assert await credits(api) == 1_000, "Enterprise's credits ended, Pro's granted"
        assert await pending_rows(runtime) == []
        rows = [s for s in await subs(api) if s["productId"] == "pro"]
        assert rows[0]["scheduledChange"] is None and rows[0]["migratedAt"] is None

        await advance_to(api, clock, NEXT_END + timedelta(hours=1))
        newest = (await invoices(api))[0]
        assert (newest["amountTotal"], plan_periods([newest])) == (PRO, [(NEXT_END, utc(2026, 4, 28, 12))])
        assert await credits(api) == 1_000, "Pro's monthly credits repeat"
        await no_violations(runtime)

    async def test_a_trial_changes_at_its_end_without_a_second_trial(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:  # noqa: F811
        await buy(api, runtime, "enterprise")
        assert (await later_switch(api, "enterprise", "pro"))["userErrors"] == []
        assert at((await scheduled(api, "enterprise"))["at"]) == PAID_START  # type: ignore[index]
        await advance_to(api, clock, PAID_START + timedelta(hours=1))
        first = (await invoices(api))[0]
        assert first["amountTotal"] == PRO, "the first charge is of the new plan"
        pro = await subscription(api, "pro")
        assert (pro["status"], pro["trialEndsAt"]) == ("ACTIVE", None)
        await no_violations(runtime)

    async def test_a_declined_renewal_leaves_the_new_plan_past_due(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:  # noqa: F811
        await on_enterprise_paid(api, runtime, clock)
        assert (await later_switch(api, "enterprise", "pro"))["userErrors"] == []
        await set_card(api, DECLINED_CARD)
        await advance_to(api, clock, PAID_END + timedelta(hours=1))
        pro = await subscription(api, "pro")
        assert pro["status"] == "PAST_DUE"
        assert (await invoices(api))[0]["amountTotal"] == PRO
        await no_violations(runtime)

    async def test_an_upgrade_can_wait_for_the_period_end_too(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:  # noqa: F811
        await buy(api, runtime, "pro")
        assert (await later_switch(api, "pro", "enterprise"))["userErrors"] == []
        assert len(await invoices(api)) == 1
        await advance_to(api, clock, utc(2026, 2, 17, 13))
        assert (await invoices(api))[0]["amountTotal"] == ENTERPRISE
        assert (await subscription(api, "enterprise"))["status"] == "ACTIVE"


class TestCancelAndReplace:
    async def test_cancel_scheduled_change_then_the_old_plan_renews(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:  # noqa: F811
        await on_enterprise_paid(api, runtime, clock)
        sub = (await later_switch(api, "enterprise", "pro"))["subscription"]
        payload = await cancel_scheduled(api, sub["id"])
        assert payload["userErrors"] == [] and payload["subscription"]["scheduledChange"] is None
        again = await cancel_scheduled(api, sub["id"])
        assert codes(again) == ["INVALID_INPUT"], "a second click is told there is none"

        await advance_to(api, clock, PAID_END + timedelta(hours=1))
        newest = (await invoices(api))[0]
        assert newest["amountTotal"] == ENTERPRISE
        assert (await subscription(api, "enterprise"))["status"] == "ACTIVE"
        assert [s["productId"] for s in await subs(api)].count("pro") == 0

    async def test_a_new_switch_replaces_the_scheduled_one(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:  # noqa: F811
        await on_enterprise_paid(api, runtime, clock)
        assert (await later_switch(api, "enterprise", "pro"))["userErrors"] == []
        assert (await later_switch(api, "enterprise", "pro", priceId="pro-yearly"))["userErrors"] == []
        change = await scheduled(api, "enterprise")
        assert change is not None and change["toPriceId"] == "pro-yearly"
        assert len(await pending_rows(runtime)) == 1
        await advance_to(api, clock, PAID_END + timedelta(hours=1))
        newest = (await invoices(api))[0]
        assert newest["amountTotal"] == 19000, "the yearly price that replaced the monthly one"
        assert plan_periods([newest]) == [(PAID_END, utc(2027, 2, 28, 12))]

    async def test_an_immediate_switch_or_a_cancel_clears_it(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:  # noqa: F811
        await on_enterprise_paid(api, runtime, clock)
        assert (await later_switch(api, "enterprise", "pro"))["userErrors"] == []
        await ok(api, "cancelSubscription", productId="enterprise")
        assert await scheduled(api, "enterprise") is None, "a cancel clears the scheduled change"
        await ok(api, "uncancelSubscription", productId="enterprise")
        assert await scheduled(api, "enterprise") is None, "an undo does not bring it back"

        assert (await later_switch(api, "enterprise", "pro"))["userErrors"] == []
        payload = await mutate(api, "switchSubscription", fromProductId="enterprise",
                               toProductId="pro", priceId="pro-monthly")
        assert payload["userErrors"] == [], payload
        assert await pending_rows(runtime) == [], "the immediate switch ended the old plan"
        await no_violations(runtime)

    async def test_double_click_leaves_one_scheduled_change(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:  # noqa: F811
        await on_enterprise_paid(api, runtime, clock)
        results = await asyncio.gather(*(later_switch(api, "enterprise", "pro") for _ in range(2)))
        assert [r["userErrors"] for r in results] == [[], []], "the same switch twice is fine"
        assert len(await pending_rows(runtime)) == 1
        await no_violations(runtime)


class TestRefused:
    async def test_bad_requests_change_nothing(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:  # noqa: F811
        await on_enterprise_paid(api, runtime, clock)
        same = await later_switch(api, "enterprise", "enterprise")
        assert codes(same) == ["INVALID_INPUT"]
        assert codes(await later_switch(api, "enterprise", "free")) == ["PRODUCT_NOT_SWITCHABLE"]
        assert codes(await later_switch(api, "enterprise", "credit-pack")) == [
            "NOT_IN_SAME_PRODUCT_LINE"]
        assert codes(await later_switch(api, "pro", "enterprise")) == ["SUBSCRIPTION_NOT_FOUND"]
        await ok(api, "cancelSubscription", productId="enterprise")
        canceled = await later_switch(api, "enterprise", "pro")
        assert codes(canceled) == ["INVALID_INPUT"]
        assert "canceled at its period end" in canceled["userErrors"][0]["message"]
        await ok(api, "cancelSubscription", productId="enterprise", immediately=True)
        assert codes(await later_switch(api, "enterprise", "pro")) == ["SUBSCRIPTION_NOT_FOUND"]
        assert await pending_rows(runtime) == []

    async def test_a_paused_subscription_cannot_schedule_and_a_pause_clears(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:  # noqa: F811
        await on_enterprise_paid(api, runtime, clock)
        assert (await later_switch(api, "enterprise", "pro"))["userErrors"] == []
        await ok(api, "pauseSubscription", productId="enterprise")
        assert await pending_rows(runtime) == []
        assert codes(await later_switch(api, "enterprise", "pro")) == ["INVALID_INPUT"]

    async def test_another_customer_cannot_cancel_it(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:  # noqa: F811
        await on_enterprise_paid(api, runtime, clock)
        sub = (await later_switch(api, "enterprise", "pro"))["subscription"]
        body = await api(CANCEL_SCHEDULED, {"input": {
            "customer": {"type": "USER", "customerId": "someone-else"}, "subscriptionId": sub["id"]}})
        assert codes(body["data"]["cancelScheduledChange"]) == ["SUBSCRIPTION_NOT_FOUND"]
        assert len(await pending_rows(runtime)) == 1


async def test_webhooks_carry_the_scheduled_change(api: Any, runtime: Any,
                                                   clock: SteppedClock) -> None:  # noqa: F811
    await on_enterprise_paid(api, runtime, clock)
    assert (await later_switch(api, "enterprise", "pro"))["userErrors"] == []
    async with runtime.db.read_session() as session:
        events = list(await session.scalars(select(WebhookEvent).where(
            WebhookEvent.type == "subscription.updated").order_by(WebhookEvent.id)))
    data = events[-1].payload["data"]["subscription"]
    assert data["scheduledChange"] == {"toProductId": "pro", "toPriceId": "pro-monthly",
                                       "at": PAID_END.isoformat()}
    assert data["quantity"] == 1
    assert (await account(api))["subscriptions"][0]["productId"] == "enterprise"



PREVIEW = """
mutation ($input: SwitchSubscriptionInput!) {
  previewSwitchSubscription(input: $input) {
    preview { amountDueNow creditToAccount lines { kind amount } }
    userErrors { code }
  }
}
"""


async def test_a_period_end_preview_has_nothing_due_now(
        api: Any, runtime: Any, clock: SteppedClock) -> None:  # noqa: F811
    await on_enterprise_paid(api, runtime, clock)
    fields = {"customer": USER, "fromProductId": "enterprise", "toProductId": "pro",
              "priceId": "pro-monthly"}
    now = (await api.data(PREVIEW, {"input": fields}))["previewSwitchSubscription"]["preview"]
    assert now["creditToAccount"] > 0, "the immediate downgrade credits"
    later = (await api.data(PREVIEW, {"input": {**fields, "when": "PERIOD_END"}}))
    assert later["previewSwitchSubscription"]["preview"] == {
        "amountDueNow": 0, "creditToAccount": 0, "lines": []}


async def test_the_audit_finds_a_change_left_on_an_ended_subscription(
        api: Any, runtime: Any, clock: SteppedClock) -> None:  # noqa: F811
    await on_enterprise_paid(api, runtime, clock)
    assert (await later_switch(api, "enterprise", "pro"))["userErrors"] == []
    [change] = await pending_rows(runtime)
    async with runtime.db.session() as session, session.begin():  # as a bug would leave it
        sub = await session.get(Purchase, change.purchase_id)
        assert sub is not None
        sub.status = "CANCELED"
    async with runtime.db.read_session() as session:
        found = [v.check for v in await audit.run(session)]
    assert found == ["scheduled-change-live"]
