"""Subscriptions walked through time with ``advanceTestClock``, through the GraphQL API only
(checkouts are completed through the billing service the hosted page calls).

Billing time is a test clock on a frozen base (``T0``), so every renewal, retry and proration
instant is known to the second. Expected amounts are computed here, independently of
``billing/subscriptions/proration.py``: exact fractions of the seconds, rounded half up.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest

from billgate.billing.purchases import service
from billgate.clock import TestClock
from billgate.graphql.ids import global_id

pytestmark = pytest.mark.usefixtures("example_catalog")

USER = {"type": "USER", "customerId": "u1"}
OTHER_USER = {"type": "USER", "customerId": "u2"}
TEAM = {"type": "TEAM", "customerId": "t1"}
RETURN_URL = "https://app.example.com/billing/done"
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"

T0 = datetime(2026, 1, 17, 12, 0, tzinfo=UTC)  # a 14-day trial from here ends on 31 January
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)

PRO, ENTERPRISE = 1900, 9900  # USD cents, monthly (examples/catalog.yaml)
PRO_JPY, PRO_YEARLY_JPY = 2900, 29000


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def prorated(amount: int, start: datetime, end: datetime, at: datetime) -> int:
    """``amount`` times the share of [start, end) still ahead at ``at``, to the nearest minor
    unit, halves rounded up."""
    us = timedelta(microseconds=1)
    share = Fraction(amount) * Fraction((end - at) // us, (end - start) // us)
    return math.floor(share + Fraction(1, 2))


class SteppedClock(TestClock):
    """The test clock on a frozen base: billing time moves only with ``advanceTestClock``."""

    def __init__(self, base: datetime) -> None:
        super().__init__()
        self.base = base

    def now(self) -> datetime:
        return self.base + self.offset


@pytest.fixture(autouse=True)
def clock(runtime: Any) -> SteppedClock:
    runtime.clock = SteppedClock(T0)
    return runtime.clock


# GraphQL -----------------------------------------------------------------------------------

USER_ERRORS = "userErrors { code message field }"
SUBSCRIPTION = """
  id status productId priceId quantity cancelAtPeriodEnd hasAccess
  currentPeriodStart currentPeriodEnd canceledAt endedAt trialEndsAt createdAt
  dunning { inDunning daysPastDue gracePeriodDays gracePeriodEndsAt hasAccess nextRetryAt }
"""
INVOICE = """
  id status amountTotal currency createdAt paidAt hostedInvoiceUrl
  lines { kind description quantity amount periodStart periodEnd }
"""
TRANSACTION = "id kind amount currency quantity productId createdAt testMode refundedAmount"

ACCOUNT = f"""
query ($customer: CustomerRef!) {{
  customer(customer: $customer) {{
    subscriptions(first: 100) {{ edges {{ node {{ {SUBSCRIPTION} }} }} }}
    invoices(first: 100) {{ edges {{ node {{ {INVOICE} }} }} }}
  }}
}}
"""
TRANSACTIONS = f"""
query ($customer: CustomerRef!) {{
  customer(customer: $customer) {{ transactions(first: 100) {{ edges {{ node {{ {TRANSACTION} }} }} }} }}
}}
"""
CREDITS = """
query ($customer: CustomerRef!) {
  customer(customer: $customer) {
    item(itemId: "credits") {
      quantity
      changes(first: 100) { edges { node { delta reason createdAt } } }
    }
  }
}
"""
HAS_ACCESS = """
query ($customer: CustomerRef!, $productId: String!) {
  customer(customer: $customer) { hasAccess(productId: $productId) }
}
"""
CREATE_CHECKOUT = f"""
mutation ($input: CreateCheckoutUrlInput!) {{ createCheckoutUrl(input: $input) {{ url {USER_ERRORS} }} }}
"""
ADVANCE = f"""
mutation ($input: AdvanceTestClockInput!) {{ advanceTestClock(input: $input) {{ now {USER_ERRORS} }} }}
"""
SET_CARD = f"""
mutation ($input: SetTestPaymentMethodInput!) {{
  setTestPaymentMethod(input: $input) {{ customer {{ customerId }} {USER_ERRORS} }}
}}
"""
SETTINGS = f"""
mutation ($input: UpdatePaymentSettingsInput!) {{
  updatePaymentSettings(input: $input) {{ settings {{ testMode gracePeriodDays }} {USER_ERRORS} }}
}}
"""
TRY_DECREASE = f"""
mutation ($input: ChangeItemQuantityInput!) {{
  tryDecreaseItemQuantity(input: $input) {{ success {USER_ERRORS} }}
}}
"""
UPSERT_LINE = f"""
mutation ($input: UpsertProductLineInput!) {{
  upsertProductLine(input: $input) {{ productLine {{ productLineId }} {USER_ERRORS} }}
}}
"""
UPSERT_PRODUCT = f"""
mutation ($input: UpsertProductInput!) {{
  upsertProduct(input: $input) {{ product {{ productId }} {USER_ERRORS} }}
}}
"""


def at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["userErrors"]]


async def buy(api: Any, runtime: Any, product_id: str, *, customer: dict[str, str] = USER,
              **fields: Any) -> None:
    """Create a checkout link (server key) and complete it as the hosted page does. Pro is
    bought monthly unless a price is given."""
    if product_id == "pro":
        fields.setdefault("priceId", "pro-monthly")
    data = await api.data(CREATE_CHECKOUT, {"input": {
        "customer": customer, "productId": product_id, "returnUrl": RETURN_URL, **fields}})
    payload = data["createCheckoutUrl"]
    assert payload["userErrors"] == [], payload
    await service.complete_checkout(runtime.db, payload["url"].rsplit("/", 1)[-1],
                                    rails=runtime.test_rails, clock=runtime.clock,
                                    test_mode=True, bus=runtime.bus)


async def advance_to(api: Any, clock: SteppedClock, when: datetime) -> None:
    seconds = (when - clock.now()) / SECOND
    assert seconds >= 1 and seconds == int(seconds), f"cannot advance to {when}"
    payload = (await api.data(ADVANCE, {"input": {"seconds": int(seconds)}}))["advanceTestClock"]
    assert payload["userErrors"] == [], payload
    assert at(payload["now"]) == when


async def account(api: Any, customer: dict[str, str] = USER) -> dict[str, list[dict[str, Any]]]:
    """The customer's subscriptions and invoices, both newest first."""
    data = (await api.data(ACCOUNT, {"customer": customer}))["customer"]
    return {name: [edge["node"] for edge in data[name]["edges"]]
            for name in ("subscriptions", "invoices")}


async def subscription(api: Any, product_id: str,
                       customer: dict[str, str] = USER) -> dict[str, Any]:
    """The customer's newest subscription of ``product_id``."""
    subs = [s for s in (await account(api, customer))["subscriptions"]
            if s["productId"] == product_id]
    assert subs, f"{customer} has no {product_id} subscription"
    return subs[0]


async def invoices(api: Any, customer: dict[str, str] = USER) -> list[dict[str, Any]]:
    return (await account(api, customer))["invoices"]


async def transactions(api: Any, customer: dict[str, str] = USER) -> list[dict[str, Any]]:
    data = await api.data(TRANSACTIONS, {"customer": customer})
    return [edge["node"] for edge in data["customer"]["transactions"]["edges"]]


async def credits(api: Any) -> int:
    return (await api.data(CREDITS, {"customer": USER}))["customer"]["item"]["quantity"]


async def credit_changes(api: Any) -> list[tuple[int, str, datetime | None]]:
    """(delta, reason, at) of the credits ledger, oldest first."""
    item = (await api.data(CREDITS, {"customer": USER}))["customer"]["item"]
    return [(n["delta"], n["reason"], at(n["createdAt"]))
            for n in reversed([edge["node"] for edge in item["changes"]["edges"]])]


async def has_access(api: Any, product_id: str, customer: dict[str, str] = USER) -> bool:
    data = await api.data(HAS_ACCESS, {"customer": customer, "productId": product_id})
    return data["customer"]["hasAccess"]


async def set_card(api: Any, number: str, customer: dict[str, str] = USER) -> None:
    payload = (await api.data(SET_CARD, {"input": {"customer": customer, "cardNumber": number}}))
    assert payload["setTestPaymentMethod"]["userErrors"] == [], payload


async def settings(api: Any, **changes: Any) -> None:
    payload = (await api.data(SETTINGS, {"input": changes}))["updatePaymentSettings"]
    assert payload["userErrors"] == [], payload


async def mutate(api: Any, name: str, **fields: Any) -> dict[str, Any]:
    """A subscription mutation (``cancelSubscription``, ...) for ``USER`` unless a customer is
    given; its payload."""
    input_type = name[0].upper() + name[1:] + "Input"
    document = (f"mutation ($input: {input_type}!) {{ {name}(input: $input) "
                f"{{ subscription {{ {SUBSCRIPTION} }} {USER_ERRORS} }} }}")
    body = await api(document, {"input": {"customer": USER, **fields}})
    assert not body.get("errors"), body["errors"]
    return body["data"][name]


async def ok(api: Any, name: str, **fields: Any) -> dict[str, Any]:
    """The subscription a mutation returns; it must have succeeded."""
    payload = await mutate(api, name, **fields)
    assert payload["userErrors"] == [], payload
    return payload["subscription"]


def plan_periods(invoice_list: list[dict[str, Any]]) -> list[tuple[datetime | None, datetime | None]]:
    """The (start, end) of each invoice's plan line, oldest invoice first."""
    periods = []
    for invoice in reversed(invoice_list):
        [plan] = [line for line in invoice["lines"] if line["kind"] == "plan"]
        periods.append((at(plan["periodStart"]), at(plan["periodEnd"])))
    return periods


def lines(invoice: dict[str, Any]) -> list[tuple[str, int]]:
    return [(line["kind"], line["amount"]) for line in invoice["lines"]]


# Trials and renewals -------------------------------------------------------------------------


class TestTrialAndRenewals:
    async def test_trial_then_first_charge_then_three_renewals_on_the_calendar(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await buy(api, runtime, "enterprise")
        sub = await subscription(api, "enterprise")
        assert sub["status"] == "TRIALING"
        assert at(sub["trialEndsAt"]) == utc(2026, 1, 31, 12), "a 14-day trial"
        assert (at(sub["currentPeriodStart"]), at(sub["currentPeriodEnd"])) == (
            T0, utc(2026, 1, 31, 12)), "the trial is the first period"
        assert sub["hasAccess"] is True
        assert await invoices(api) == [], "a trial start writes no invoice"
        assert await credits(api) == 10_000, "Free's credits stepped aside for Enterprise's"

        period_ends = [utc(2026, 2, 28, 12), utc(2026, 3, 31, 12), utc(2026, 4, 30, 12),
                       utc(2026, 5, 31, 12)]
        charge_times = [utc(2026, 1, 31, 12), *period_ends[:-1]]
        for n, (charged_at, end) in enumerate(zip(charge_times, period_ends, strict=True)):
            await advance_to(api, clock, charged_at)
            state = await account(api)
            sub = state["subscriptions"][0]
            assert sub["status"] == "ACTIVE", f"after charge {n}"
            assert (at(sub["currentPeriodStart"]), at(sub["currentPeriodEnd"])) == (
                charged_at, end), f"period {n} runs on the calendar from the trial's end"
            assert len(state["invoices"]) == n + 1, "one invoice per charge"
            newest = state["invoices"][0]
            assert newest["status"] == "PAID"
            assert (newest["amountTotal"], newest["currency"]) == (ENTERPRISE, "USD")
            assert at(newest["paidAt"]) == charged_at and at(newest["createdAt"]) == charged_at
            assert lines(newest) == [("plan", ENTERPRISE)]
            assert newest["lines"][0]["quantity"] == 1
            # 10,000 credits at the start and on the 17th of each month (anchored on the
            # purchase); WHEN_PURCHASE_EXPIRES grants add up.
            assert await credits(api) == 10_000 * (n + 1), f"credits after charge {n}"

        assert sub["trialEndsAt"] is not None, "trialEndsAt stays as a record of the trial"
        periods = plan_periods(state["invoices"])
        assert periods == list(zip(charge_times, period_ends, strict=True))
        assert all(a[1] == b[0] for a, b in zip(periods, periods[1:], strict=False)), \
            "periods are contiguous"
        kinds = [(t["kind"], t["amount"]) for t in await transactions(api)]
        assert kinds == [("renewal", ENTERPRISE)] * 3 + [("purchase", ENTERPRISE)], \
            "the first charge after a trial is the purchase"

    async def test_one_long_jump_does_the_same_work_in_time_order(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await buy(api, runtime, "enterprise")
        await advance_to(api, clock, utc(2026, 5, 1, 12))
        state = await account(api)
        assert [i["status"] for i in state["invoices"]] == ["PAID"] * 4
        assert [at(i["paidAt"]) for i in reversed(state["invoices"])] == [
            utc(2026, 1, 31, 12), utc(2026, 2, 28, 12), utc(2026, 3, 31, 12),
            utc(2026, 4, 30, 12)], "each charge dated when it was due, not when the clock stopped"
        assert at(state["subscriptions"][0]["currentPeriodEnd"]) == utc(2026, 5, 31, 12)
        repeats = [(d, when) for d, reason, when in await credit_changes(api) if reason == "repeat"]
        assert repeats == [(10_000, utc(2026, month, 17, 12)) for month in (2, 3, 4)]

    async def test_when_repeated_credits_are_topped_up_each_month(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await buy(api, runtime, "pro")
        [first] = await invoices(api)
        assert (first["status"], first["amountTotal"], lines(first)) == (
            "PAID", PRO, [("plan", PRO)]), "the first paid purchase writes a PAID invoice"
        assert await credits(api) == 1_000
        spent = (await api.data(TRY_DECREASE, {"input": {
            "customer": USER, "itemId": "credits", "amount": 300}}))["tryDecreaseItemQuantity"]
        assert spent["success"] is True

        for month in (2, 3, 4):
            await advance_to(api, clock, utc(2026, month, 17, 12))
            assert await credits(api) == 1_000, "the unused rest expired as the next grant came"
            newest = (await invoices(api))[0]
            assert (newest["status"], newest["amountTotal"]) == ("PAID", PRO)
        assert plan_periods((await invoices(api))[:3]) == [
            (utc(2026, m, 17, 12), utc(2026, m + 1, 17, 12)) for m in (2, 3, 4)]
        changes = await credit_changes(api)
        assert (-700, "expire", utc(2026, 2, 17, 12)) in changes

    async def test_a_month_end_anchor_renews_on_the_last_day_of_shorter_months(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await advance_to(api, clock, utc(2026, 1, 31, 12))
        await buy(api, runtime, "pro")
        await advance_to(api, clock, utc(2026, 4, 1, 12))
        sub = await subscription(api, "pro")
        assert (at(sub["currentPeriodStart"]), at(sub["currentPeriodEnd"])) == (
            utc(2026, 3, 31, 12), utc(2026, 4, 30, 12)), "Jan 31 -> Feb 28 -> Mar 31 -> Apr 30"
        assert plan_periods((await invoices(api))[:2]) == [
            (utc(2026, 2, 28, 12), utc(2026, 3, 31, 12)),
            (utc(2026, 3, 31, 12), utc(2026, 4, 30, 12))]


# Dunning ------------------------------------------------------------------------------------


class TestDunning:
    async def test_failed_renewal_keeps_access_in_grace_then_a_good_card_recovers(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await buy(api, runtime, "pro")
        await set_card(api, DECLINED_CARD)
        failed_at = utc(2026, 2, 17, 12)
        await advance_to(api, clock, failed_at)

        sub = await subscription(api, "pro")
        assert sub["status"] == "PAST_DUE"
        assert sub["hasAccess"] is True and await has_access(api, "pro"), "inside the grace period"
        assert sub["dunning"] == {
            "inDunning": True, "daysPastDue": 0, "gracePeriodDays": 7,
            "gracePeriodEndsAt": (failed_at + 7 * DAY).isoformat(), "hasAccess": True,
            "nextRetryAt": (failed_at + 3 * DAY).isoformat()}
        open_invoice = (await invoices(api))[0]
        assert (open_invoice["status"], open_invoice["amountTotal"], open_invoice["paidAt"]) == (
            "OPEN", PRO, None)
        assert plan_periods([open_invoice]) == [(failed_at, utc(2026, 3, 17, 12))]

        await advance_to(api, clock, failed_at + 3 * DAY)  # the first retry fails too
        sub = await subscription(api, "pro")
        assert (sub["status"], sub["dunning"]["daysPastDue"]) == ("PAST_DUE", 3)
        assert at(sub["dunning"]["nextRetryAt"]) == failed_at + 5 * DAY, "retries at 3, 5, 7 days"

        await advance_to(api, clock, failed_at + 4 * DAY)
        await set_card(api, GOOD_CARD)  # retries at once
        sub = await subscription(api, "pro")
        assert sub["status"] == "ACTIVE" and sub["hasAccess"] is True
        assert sub["dunning"] == {
            "inDunning": False, "daysPastDue": 0, "gracePeriodDays": 7, "gracePeriodEndsAt": None,
            "hasAccess": True, "nextRetryAt": None}
        assert (at(sub["currentPeriodStart"]), at(sub["currentPeriodEnd"])) == (
            failed_at, utc(2026, 3, 17, 12)), "the billing anchor is kept"
        state = await account(api)
        assert len(state["invoices"]) == 2, "the retry paid the open invoice: no new one"
        paid = state["invoices"][0]
        assert (paid["id"], paid["status"], at(paid["paidAt"])) == (
            open_invoice["id"], "PAID", failed_at + 4 * DAY)

        await advance_to(api, clock, utc(2026, 3, 17, 12))
        newest = (await invoices(api))[0]
        assert (newest["status"], newest["amountTotal"]) == ("PAID", PRO), "renews on the good card"
        assert [t["kind"] for t in await transactions(api)] == ["renewal", "renewal", "purchase"]

    async def test_exhausted_retries_cancel_and_expire_the_plan_items(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await buy(api, runtime, "enterprise")
        await set_card(api, DECLINED_CARD)
        trial_end = utc(2026, 1, 31, 12)
        await advance_to(api, clock, trial_end)
        sub = await subscription(api, "enterprise")
        assert sub["status"] == "PAST_DUE", "the first charge after the trial failed"
        assert at(sub["dunning"]["nextRetryAt"]) == trial_end + 3 * DAY

        for retry, following in ((3, 5), (5, 7)):
            await advance_to(api, clock, trial_end + retry * DAY)
            sub = await subscription(api, "enterprise")
            assert sub["status"] == "PAST_DUE" and sub["hasAccess"] is True, f"day {retry}"
            assert sub["dunning"]["daysPastDue"] == retry
            assert at(sub["dunning"]["nextRetryAt"]) == trial_end + following * DAY
        assert await credits(api) == 10_000

        await advance_to(api, clock, trial_end + 7 * DAY)  # the last retry fails
        sub = await subscription(api, "enterprise")
        assert sub["status"] == "CANCELED"
        assert at(sub["endedAt"]) == trial_end + 7 * DAY
        assert sub["hasAccess"] is False and not await has_access(api, "enterprise")
        assert sub["dunning"]["inDunning"] is False and sub["dunning"]["nextRetryAt"] is None
        [invoice] = await invoices(api)
        assert (invoice["status"], invoice["amountTotal"], invoice["paidAt"]) == (
            "UNCOLLECTIBLE", ENTERPRISE, None)
        assert (-10_000, "expire", trial_end + 7 * DAY) in await credit_changes(api), \
            "WHEN_PURCHASE_EXPIRES credits expire with the subscription"
        assert await credits(api) == 100, "only the returning Free plan's credits are left"
        assert await has_access(api, "free")
        assert await transactions(api) == [], "nothing was charged"

        await advance_to(api, clock, utc(2026, 4, 1, 12))
        assert len(await invoices(api)) == 1, "a canceled subscription is never charged again"

    async def test_access_ends_with_the_grace_period_while_still_past_due(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await settings(api, gracePeriodDays=4)
        await buy(api, runtime, "pro")
        await set_card(api, DECLINED_CARD)
        failed_at = utc(2026, 2, 17, 12)
        await advance_to(api, clock, failed_at + 4 * DAY - SECOND)
        sub = await subscription(api, "pro")
        assert (sub["status"], sub["hasAccess"]) == ("PAST_DUE", True)
        assert at(sub["dunning"]["gracePeriodEndsAt"]) == failed_at + 4 * DAY

        await advance_to(api, clock, failed_at + 4 * DAY)
        sub = await subscription(api, "pro")
        assert sub["status"] == "PAST_DUE", "retries go on (day 5 and 7) after the grace period"
        assert sub["hasAccess"] is False and sub["dunning"]["hasAccess"] is False
        assert not await has_access(api, "pro")

        await set_card(api, GOOD_CARD)
        sub = await subscription(api, "pro")
        assert (sub["status"], sub["hasAccess"]) == ("ACTIVE", True), "paying restores access"


# Cancel -------------------------------------------------------------------------------------


class TestCancel:
    async def test_cancel_at_period_end_keeps_access_until_then_and_can_be_undone(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await buy(api, runtime, "pro")
        await advance_to(api, clock, T0 + 3 * DAY)
        sub = await ok(api, "cancelSubscription", productId="pro")
        assert (sub["status"], sub["cancelAtPeriodEnd"], at(sub["canceledAt"])) == (
            "ACTIVE", True, T0 + 3 * DAY)
        assert sub["hasAccess"] is True

        sub = await ok(api, "uncancelSubscription", subscriptionId=sub["id"])
        assert (sub["cancelAtPeriodEnd"], sub["canceledAt"]) == (False, None)
        again = await mutate(api, "uncancelSubscription", productId="pro")
        assert codes(again) == ["INVALID_INPUT"], "nothing to undo"

        await advance_to(api, clock, T0 + 4 * DAY)
        await ok(api, "cancelSubscription", productId="pro")
        period_end = utc(2026, 2, 17, 12)
        await advance_to(api, clock, period_end - SECOND)
        sub = await subscription(api, "pro")
        assert (sub["status"], sub["hasAccess"]) == ("ACTIVE", True), "access until the period end"

        await advance_to(api, clock, period_end)
        sub = await subscription(api, "pro")
        assert (sub["status"], at(sub["endedAt"]), at(sub["canceledAt"])) == (
            "CANCELED", period_end, T0 + 4 * DAY)
        assert sub["hasAccess"] is False and not await has_access(api, "pro")
        assert len(await invoices(api)) == 1, "no renewal charge"
        assert await credits(api) == 100, "Pro's credits expired; Free's returned"
        grants = [(d, r) for d, r, when in await credit_changes(api) if when == period_end and d > 0]
        assert grants == [(100, "purchase")], "no Pro repeat is granted as the plan ends"
        assert codes(await mutate(api, "uncancelSubscription", productId="pro")) == [
            "SUBSCRIPTION_NOT_FOUND"]

    async def test_cancel_during_the_trial_ends_it_without_a_charge(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await buy(api, runtime, "enterprise")
        sub = await ok(api, "cancelSubscription", productId="enterprise")
        assert (sub["status"], sub["cancelAtPeriodEnd"]) == ("TRIALING", True)
        await advance_to(api, clock, utc(2026, 2, 1, 12))
        sub = await subscription(api, "enterprise")
        assert (sub["status"], at(sub["endedAt"])) == ("CANCELED", utc(2026, 1, 31, 12))
        assert await invoices(api) == [] and await transactions(api) == []

    async def test_cancel_immediately(self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await buy(api, runtime, "enterprise")
        await advance_to(api, clock, utc(2026, 2, 3, 12))
        sub = await ok(api, "cancelSubscription", productId="enterprise", immediately=True)
        assert (sub["status"], at(sub["endedAt"]), at(sub["canceledAt"])) == (
            "CANCELED", utc(2026, 2, 3, 12), utc(2026, 2, 3, 12))
        assert sub["hasAccess"] is False and sub["cancelAtPeriodEnd"] is False
        assert await credits(api) == 100
        await advance_to(api, clock, utc(2026, 3, 3, 12))
        assert len(await invoices(api)) == 1, "only the first charge"

    async def test_canceling_while_past_due_voids_the_invoice_and_gives_its_credit_back(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await buy(api, runtime, "enterprise")
        start, end = utc(2026, 1, 31, 12), utc(2026, 2, 28, 12)
        switched_at = utc(2026, 2, 25, 12)
        await advance_to(api, clock, switched_at)
        assert (await switch(api, "enterprise", "pro"))["userErrors"] == []
        owed = (prorated(ENTERPRISE, start, end, switched_at)
                - prorated(PRO, start, end, switched_at))
        assert 0 < owed < PRO

        await set_card(api, DECLINED_CARD)
        await advance_to(api, clock, end)
        open_invoice = (await invoices(api))[0]
        assert (open_invoice["status"], lines(open_invoice)) == (
            "OPEN", [("plan", PRO), ("credit", -owed)]), "the credit was applied, then the charge failed"
        sub = await ok(api, "cancelSubscription", productId="pro")
        assert sub["status"] == "CANCELED", "a past-due subscription is canceled at once"
        assert (await invoices(api))[0]["status"] == "VOID"

        await buy(api, runtime, "pro")  # again, at the same instant
        await set_card(api, GOOD_CARD)
        await advance_to(api, clock, utc(2026, 3, 28, 12))
        renewal = (await invoices(api))[0]
        assert lines(renewal) == [("plan", PRO), ("credit", -owed)], \
            "the credit spent on the voided invoice was given back and used now"
        assert (renewal["status"], renewal["amountTotal"]) == ("PAID", PRO - owed)

    async def test_a_one_time_or_included_product_is_not_a_subscription(
            self, api: Any, runtime: Any) -> None:
        await buy(api, runtime, "credit-pack")
        for name in ("cancelSubscription", "pauseSubscription"):
            for product_id in ("credit-pack", "free"):
                payload = await mutate(api, name, productId=product_id)
                assert codes(payload) == ["NOT_A_SUBSCRIPTION"], (name, product_id, payload)
                assert payload["subscription"] is None

    async def test_unknown_subscriptions(self, api: Any, runtime: Any) -> None:
        await buy(api, runtime, "pro", customer=OTHER_USER)
        others = await subscription(api, "pro", OTHER_USER)
        for selector in ({"productId": "enterprise"}, {"productId": "no-such-product"},
                         {"subscriptionId": global_id("CustomerSubscription", "999999")},
                         {"subscriptionId": others["id"]}):  # another customer's
            payload = await mutate(api, "cancelSubscription", **selector)
            assert codes(payload) == ["SUBSCRIPTION_NOT_FOUND"], (selector, payload)
        assert (await subscription(api, "pro", OTHER_USER))["cancelAtPeriodEnd"] is False
        both = await mutate(api, "cancelSubscription", productId="pro", subscriptionId=others["id"])
        assert codes(both) == ["INVALID_INPUT"], "one of productId and subscriptionId"
        wrong_type = await mutate(api, "cancelSubscription",
                                  subscriptionId=global_id("Product", "pro"))
        assert codes(wrong_type) == ["INVALID_INPUT"]


# Pause and resume ------------------------------------------------------------------------------


class TestPause:
    async def test_pause_stops_billing_and_access_then_resumes_automatically(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await buy(api, runtime, "pro")
        await advance_to(api, clock, T0 + 10 * DAY)
        resumes_at = utc(2026, 3, 3, 12)
        sub = await ok(api, "pauseSubscription", productId="pro", resumesAt=resumes_at.isoformat())
        assert (sub["status"], sub["hasAccess"]) == ("PAUSED", False)
        assert not await has_access(api, "pro")

        await advance_to(api, clock, resumes_at - SECOND)
        sub = await subscription(api, "pro")
        assert sub["status"] == "PAUSED"
        assert len(await invoices(api)) == 1, "no renewal while paused"
        assert [r for _, r, when in await credit_changes(api) if r == "repeat"] == [], \
            "no credit repeats while paused"

        await advance_to(api, clock, resumes_at)
        sub = await subscription(api, "pro")
        assert (sub["status"], sub["hasAccess"]) == ("ACTIVE", True)
        assert (at(sub["currentPeriodStart"]), at(sub["currentPeriodEnd"])) == (
            resumes_at, utc(2026, 4, 3, 12)), "a new period from the resume"
        newest = (await invoices(api))[0]
        assert (newest["status"], newest["amountTotal"], at(newest["paidAt"])) == (
            "PAID", PRO, resumes_at), "charged at the resume"
        assert await credits(api) == 1_000, "the plan's credits are granted again"

        await advance_to(api, clock, utc(2026, 4, 3, 12))
        state = await account(api)
        assert len(state["invoices"]) == 3
        assert plan_periods(state["invoices"][:2]) == [
            (resumes_at, utc(2026, 4, 3, 12)), (utc(2026, 4, 3, 12), utc(2026, 5, 3, 12))]

    async def test_pause_without_a_date_waits_for_a_manual_resume(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await buy(api, runtime, "pro")
        sub = await ok(api, "pauseSubscription", productId="pro")
        assert sub["status"] == "PAUSED"
        await advance_to(api, clock, T0 + 90 * DAY)
        assert (await subscription(api, "pro"))["status"] == "PAUSED"
        assert len(await invoices(api)) == 1

        sub = await ok(api, "resumeSubscription", subscriptionId=sub["id"])
        assert (sub["status"], sub["hasAccess"]) == ("ACTIVE", True)
        assert (at(sub["currentPeriodStart"]), at(sub["currentPeriodEnd"])) == (
            T0 + 90 * DAY, utc(2026, 5, 17, 12))
        newest = (await invoices(api))[0]
        assert (newest["status"], newest["amountTotal"]) == ("PAID", PRO), "charged now"

    async def test_pause_and_resume_refusals(self, api: Any, runtime: Any) -> None:
        await buy(api, runtime, "pro")
        past = await mutate(api, "pauseSubscription", productId="pro",
                            resumesAt=(T0 - DAY).isoformat())
        assert codes(past) == ["INVALID_INPUT"], "resumesAt must be in the future"
        assert codes(await mutate(api, "resumeSubscription", productId="pro")) == ["INVALID_INPUT"]
        await ok(api, "pauseSubscription", productId="pro")
        assert codes(await mutate(api, "pauseSubscription", productId="pro")) == ["INVALID_INPUT"]


# Switching plans ----------------------------------------------------------------------------


async def switch(api: Any, from_product: str, to_product: str, *,
                 customer: dict[str, str] = USER, **fields: Any) -> dict[str, Any]:
    """switchSubscription's payload; to Pro monthly unless a price is given."""
    if to_product == "pro":
        fields.setdefault("priceId", "pro-monthly")
    return await mutate(api, "switchSubscription", customer=customer, fromProductId=from_product,
                        toProductId=to_product, **fields)


async def jpy_line(api: Any) -> None:
    """A line of two yen-priced plans (¥980 and ¥2,980 a month)."""
    line = await api.data(UPSERT_LINE, {"input": {
        "productLineId": "jp-plans", "displayName": "JP plans", "customerType": "USER"}})
    assert line["upsertProductLine"]["userErrors"] == []
    for product_id, yen in (("jp-basic", "980"), ("jp-premium", "2980")):
        product = await api.data(UPSERT_PRODUCT, {"input": {"productId": product_id, "product": {
            "displayName": product_id, "customerType": "USER", "productLineId": "jp-plans",
            "prices": [{"priceId": f"{product_id}-monthly",
                        "amounts": [{"currency": "JPY", "amount": yen}],
                        "interval": {"unit": "MONTH", "count": 1}}]}}})
        assert product["upsertProduct"]["userErrors"] == [], product


class TestSwitch:
    async def test_upgrade_mid_period_charges_the_prorated_difference(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await buy(api, runtime, "pro")
        start, end = T0, utc(2026, 2, 17, 12)
        now = T0 + timedelta(days=10, hours=5, seconds=7)
        await advance_to(api, clock, now)
        credit, debit = prorated(PRO, start, end, now), prorated(ENTERPRISE, start, end, now)

        payload = await switch(api, "pro", "enterprise")
        assert payload["userErrors"] == [], payload
        sub = payload["subscription"]
        assert (sub["productId"], sub["status"], sub["trialEndsAt"]) == (
            "enterprise", "ACTIVE", None), "a switch is paid now: no second trial"
        assert (at(sub["currentPeriodStart"]), at(sub["currentPeriodEnd"])) == (start, end), \
            "the same interval keeps the period"
        newest = (await invoices(api))[0]
        assert newest["status"] == "PAID" and at(newest["paidAt"]) == now
        assert lines(newest) == [("proration_credit", -credit), ("proration_debit", debit)], \
            f"credit {credit}, debit {debit}"
        assert newest["amountTotal"] == debit - credit == 5366
        assert [(t["kind"], t["amount"]) for t in await transactions(api)][0] == (
            "proration", debit - credit)
        assert (await subscription(api, "pro"))["status"] == "CANCELED"
        assert await credits(api) == 10_000, "Pro's credits expired, Enterprise's were granted"

        await advance_to(api, clock, end)
        newest = (await invoices(api))[0]
        assert (newest["status"], newest["amountTotal"]) == ("PAID", ENTERPRISE), \
            "the next renewal is at the new price"
        assert plan_periods([newest]) == [(end, utc(2026, 3, 17, 12))]

    async def test_downgrade_credit_is_spent_on_the_next_renewals(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await buy(api, runtime, "enterprise")
        start, end = utc(2026, 1, 31, 12), utc(2026, 2, 28, 12)
        now = start + timedelta(days=9, hours=3, minutes=25, seconds=17)
        await advance_to(api, clock, now)
        credit, debit = prorated(ENTERPRISE, start, end, now), prorated(PRO, start, end, now)
        owed = credit - debit

        payload = await switch(api, "enterprise", "pro")
        assert payload["userErrors"] == [], payload
        assert (at(payload["subscription"]["currentPeriodStart"]),
                at(payload["subscription"]["currentPeriodEnd"])) == (start, end)
        newest = (await invoices(api))[0]
        assert (newest["status"], newest["amountTotal"]) == ("PAID", 0), "nothing is charged"
        assert lines(newest) == [("proration_credit", -credit), ("proration_debit", debit)]
        assert [(t["kind"], t["amount"]) for t in await transactions(api)][0] == (
            "proration", -owed)

        left = owed
        for period_end in (end, utc(2026, 3, 31, 12), utc(2026, 4, 30, 12)):
            await advance_to(api, clock, period_end)
            renewal = (await invoices(api))[0]
            used = min(left, PRO)
            left -= used
            expected = [("plan", PRO), ("credit", -used)] if used else [("plan", PRO)]
            assert lines(renewal) == expected, f"renewal at {period_end}, {left} credit left"
            assert (renewal["status"], renewal["amountTotal"]) == ("PAID", PRO - used)
        assert left == 0 and owed == 5387, "the credit was spent in full over three renewals"

    async def test_yen_upgrade_then_downgrade(self, api: Any, runtime: Any,
                                              clock: SteppedClock) -> None:
        await jpy_line(api)
        await buy(api, runtime, "jp-basic", currency="JPY")
        [first] = await invoices(api)
        assert (first["amountTotal"], first["currency"]) == (980, "JPY")
        start, end = T0, utc(2026, 2, 17, 12)

        up_at = T0 + timedelta(days=7, hours=3, minutes=11, seconds=13)
        await advance_to(api, clock, up_at)
        assert (await switch(api, "jp-basic", "jp-premium"))["userErrors"] == []
        up = (await invoices(api))[0]
        credit, debit = prorated(980, start, end, up_at), prorated(2980, start, end, up_at)
        assert (up["currency"], lines(up)) == (
            "JPY", [("proration_credit", -credit), ("proration_debit", debit)])
        assert up["amountTotal"] == debit - credit == 1539, "yen have no minor unit"

        down_at = up_at + timedelta(days=9, hours=17, seconds=41)
        await advance_to(api, clock, down_at)
        assert (await switch(api, "jp-premium", "jp-basic"))["userErrors"] == []
        down = (await invoices(api))[0]
        credit, debit = prorated(2980, start, end, down_at), prorated(980, start, end, down_at)
        assert lines(down) == [("proration_credit", -credit), ("proration_debit", debit)]
        assert down["amountTotal"] == 0
        owed = credit - debit

        await advance_to(api, clock, end)
        renewal = (await invoices(api))[0]
        assert (renewal["currency"], lines(renewal)) == (
            "JPY", [("plan", 980), ("credit", -min(owed, 980))])
        assert renewal["amountTotal"] == 980 - min(owed, 980)

    async def test_a_new_interval_credits_the_old_and_charges_a_full_new_period(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await buy(api, runtime, "pro", priceId="pro-monthly", currency="JPY")
        now = T0 + timedelta(days=12, hours=7, minutes=3, seconds=5)
        await advance_to(api, clock, now)
        payload = await switch(api, "pro", "pro", priceId="pro-yearly")
        assert payload["userErrors"] == [], payload
        sub = payload["subscription"]
        assert (sub["priceId"], at(sub["currentPeriodStart"]), at(sub["currentPeriodEnd"])) == (
            "pro-yearly", now, utc(2027, 1, 29, 19, 3, 5)), "a yearly period from now"
        credit = prorated(PRO_JPY, T0, utc(2026, 2, 17, 12), now)
        newest = (await invoices(api))[0]
        assert lines(newest) == [("proration_credit", -credit),
                                 ("proration_debit", PRO_YEARLY_JPY)]
        assert (newest["currency"], newest["amountTotal"]) == ("JPY", PRO_YEARLY_JPY - credit)

    async def test_switching_during_a_trial_pays_a_full_period_from_now(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await buy(api, runtime, "enterprise")
        now = T0 + 7 * DAY
        await advance_to(api, clock, now)
        payload = await switch(api, "enterprise", "pro")
        assert payload["userErrors"] == [], payload
        sub = payload["subscription"]
        assert (sub["status"], at(sub["currentPeriodStart"]), at(sub["currentPeriodEnd"])) == (
            "ACTIVE", now, utc(2026, 2, 24, 12))
        [invoice] = await invoices(api)
        assert (invoice["status"], invoice["amountTotal"]) == ("PAID", PRO), \
            "the trial was free: nothing to credit, and the new period is paid in full"
        await advance_to(api, clock, utc(2026, 2, 24, 12))
        assert (await invoices(api))[0]["amountTotal"] == PRO

    async def test_switch_refusals(self, api: Any, runtime: Any) -> None:
        await upsert_add_on(api)
        await buy(api, runtime, "pro")
        await buy(api, runtime, "team", customer=TEAM)
        before = await invoices(api)
        refusals = [
            ("pro", "credit-pack", USER, "NOT_IN_SAME_PRODUCT_LINE"),
            ("pro", "free", USER, "PRODUCT_NOT_SWITCHABLE"),  # include-by-default
            ("pro", "pro-boost", USER, "PRODUCT_NOT_SWITCHABLE"),  # an add-on of the line
            ("team", "extra-seats", TEAM, "PRODUCT_NOT_SWITCHABLE"),  # an add-on
            ("pro", "pro", USER, "INVALID_INPUT"),  # already on it
            ("enterprise", "pro", USER, "SUBSCRIPTION_NOT_FOUND"),
            ("pro", "no-such-product", USER, "PRODUCT_NOT_FOUND"),
        ]
        for from_product, to_product, customer, code in refusals:
            payload = await switch(api, from_product, to_product, customer=customer)
            assert codes(payload) == [code], (from_product, to_product, payload)
        assert await invoices(api) == before, "a refused switch writes nothing"
        assert (await subscription(api, "pro"))["status"] == "ACTIVE"


async def upsert_add_on(api: Any) -> None:
    """``pro-boost``: a monthly add-on to Pro inside the user-plans line."""
    data = await api.data(UPSERT_PRODUCT, {"input": {"productId": "pro-boost", "product": {
        "displayName": "Pro boost", "customerType": "USER", "productLineId": "user-plans",
        "isAddOnTo": ["pro"], "prices": [{"priceId": "boost-monthly",
                                          "amounts": [{"currency": "USD", "amount": "5.00"}],
                                          "interval": {"unit": "MONTH", "count": 1}}]}}})
    assert data["upsertProduct"]["userErrors"] == [], data


# Who may do what ------------------------------------------------------------------------------


class TestPermissions:
    async def test_a_user_manages_its_own_subscription_only(self, api: Any, runtime: Any) -> None:
        await buy(api, runtime, "pro")
        own = await mutate(api.as_user("u1"), "cancelSubscription", productId="pro")
        assert own["userErrors"] == [] and own["subscription"]["cancelAtPeriodEnd"] is True
        other = await mutate(api.as_user("u2"), "uncancelSubscription", productId="pro")
        assert codes(other) == ["FORBIDDEN"] and other["subscription"] is None
        assert (await subscription(api, "pro"))["cancelAtPeriodEnd"] is True, "unchanged"
        for name in ("pauseSubscription", "cancelSubscription"):
            assert codes(await mutate(api.as_user("u2"), name, productId="pro")) == ["FORBIDDEN"]
        switched = await switch(api.as_user("u2"), "pro", "enterprise")
        assert codes(switched) == ["FORBIDDEN"]
        assert codes(await mutate(api.as_user("u1"), "uncancelSubscription", productId="pro")) == []

    async def test_team_admins_manage_team_subscriptions_members_do_not(
            self, api: Any, runtime: Any) -> None:
        await buy(api, runtime, "team", customer=TEAM)
        member = api.as_user("m1", teams={"t1": "member"})
        admin = api.as_user("a1", teams={"t1": "admin"})
        refused = await mutate(member, "cancelSubscription", customer=TEAM, productId="team")
        assert codes(refused) == ["FORBIDDEN"]
        assert (await subscription(member, "team", TEAM))["cancelAtPeriodEnd"] is False, \
            "members read the team's subscriptions but cannot change them"
        done = await mutate(admin, "cancelSubscription", customer=TEAM, productId="team")
        assert done["userErrors"] == [] and done["subscription"]["cancelAtPeriodEnd"] is True
        assert codes(await mutate(member, "uncancelSubscription", customer=TEAM,
                                  productId="team")) == ["FORBIDDEN"]
        assert codes(await mutate(admin, "uncancelSubscription", customer=TEAM,
                                  productId="team")) == []

    async def test_the_test_clock_is_for_server_callers_in_test_mode(self, api: Any) -> None:
        async def advance(caller: Any, seconds: int) -> list[str]:
            body = await caller(ADVANCE, {"input": {"seconds": seconds}})
            assert not body.get("errors"), body
            return codes(body["data"]["advanceTestClock"])

        assert await advance(api.as_user("u1"), 60) == ["FORBIDDEN"]
        assert await advance(api, 0) == ["INVALID_INPUT"]
        assert await advance(api, -60) == ["INVALID_INPUT"]
        await settings(api, testMode=False)
        assert await advance(api, 60) == ["TEST_MODE_ONLY"]
        card = await api(SET_CARD, {"input": {"customer": USER, "cardNumber": GOOD_CARD}})
        assert codes(card["data"]["setTestPaymentMethod"]) == ["TEST_MODE_ONLY"]
