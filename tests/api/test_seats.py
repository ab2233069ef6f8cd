"""Seats: ``updateSubscriptionQuantity`` and checkouts with a quantity, walked through the
test clock (issue 28 item 2).

Team (examples/catalog.yaml) costs $49.00 a seat a month and includes 5 seats (the item)
per seat bought, expiring with the plan. Crew (made here) is sold in USD and JPY with at
most 10 seats and includes, per seat, 3 ``seats`` for the plan's life and 100 ``builds``
a month (WHEN_REPEATED). Expected amounts are computed here (``prorated``), independently
of the engine's proration.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from billgate.billing.subscriptions import operations
from billgate.payments.rails import ChargeRequest, ChargeResult, RefundResult
from billgate.payments.test_rails import TestRails
from billgate.types import CustomerRef, CustomerType

sys.path.insert(0, str(Path(__file__).parent))

from test_subscription_lifecycle import (  # noqa: E402
    CREATE_CHECKOUT,
    DECLINED_CARD,
    RETURN_URL,
    T0,
    UPSERT_PRODUCT,
    USER_ERRORS,
    SteppedClock,
    advance_to,
    at,
    buy,
    codes,
    mutate,
    prorated,
    set_card,
    utc,
)

pytestmark = pytest.mark.usefixtures("example_catalog")

TEAM = {"type": "TEAM", "customerId": "t1"}
TEAM_SEAT = 4900  # USD cents a month
CREW_USD, CREW_JPY = 1000, 1500
START, END = T0, utc(2026, 2, 17, 12)  # the first monthly period of a purchase at T0

SUB_FIELDS = "id status productId priceId quantity currentPeriodStart currentPeriodEnd"
UPDATE = f"""
mutation ($input: UpdateSubscriptionQuantityInput!) {{
  updateSubscriptionQuantity(input: $input) {{ subscription {{ {SUB_FIELDS} }} {USER_ERRORS} }}
}}
"""
TEAM_ACCOUNT = f"""
query ($customer: CustomerRef!) {{
  customer(customer: $customer) {{
    subscriptions(first: 100) {{ edges {{ node {{ {SUB_FIELDS} }} }} }}
    invoices(first: 100) {{ edges {{ node {{
      status amountTotal currency lines {{ kind quantity amount }} }} }} }}
    transactions(first: 100) {{ edges {{ node {{ kind amount quantity }} }} }}
    items {{ itemId quantity }}
  }}
}}
"""
UPSERT_ITEM = f"""
mutation ($input: UpsertItemDefinitionInput!) {{
  upsertItemDefinition(input: $input) {{ {USER_ERRORS} }}
}}
"""
CONSUME = f"""
mutation ($input: ChangeItemQuantityInput!) {{
  tryDecreaseItemQuantity(input: $input) {{ success {USER_ERRORS} }}
}}
"""
PRICES = """query { product(productId: "crew") { prices { priceId quantityMax } } }"""


@pytest.fixture(autouse=True)
def clock(runtime: Any) -> SteppedClock:
    runtime.clock = SteppedClock(T0)
    return runtime.clock


async def make_crew(api: Any, **price: Any) -> None:
    item = await api.data(UPSERT_ITEM, {"input": {
        "itemId": "builds", "displayName": "Builds", "customerType": "TEAM"}})
    assert item["upsertItemDefinition"]["userErrors"] == []
    product = await api.data(UPSERT_PRODUCT, {"input": {"productId": "crew", "product": {
        "displayName": "Crew", "customerType": "TEAM",
        "prices": [{"priceId": "crew-monthly", "quantityMax": 10,
                    "amounts": [{"currency": "USD", "amount": "10.00"},
                                {"currency": "JPY", "amount": "1500"}],
                    "interval": {"unit": "MONTH", "count": 1}, **price}],
        "includedItems": [
            {"itemId": "seats", "quantity": 3, "expires": "WHEN_PURCHASE_EXPIRES"},
            {"itemId": "builds", "quantity": 100, "expires": "WHEN_REPEATED",
             "repeat": {"unit": "MONTH", "count": 1}}]}}})
    assert product["upsertProduct"]["userErrors"] == [], product


async def team_account(api: Any) -> dict[str, Any]:
    data = (await api.data(TEAM_ACCOUNT, {"customer": TEAM}))["customer"]
    return {
        "subscriptions": [e["node"] for e in data["subscriptions"]["edges"]],
        "invoices": [e["node"] for e in data["invoices"]["edges"]],  # newest first
        "transactions": [e["node"] for e in data["transactions"]["edges"]],
        "items": {i["itemId"]: i["quantity"] for i in data["items"]},
    }


async def the_sub(api: Any, product_id: str) -> dict[str, Any]:
    [sub] = [s for s in (await team_account(api))["subscriptions"] if s["productId"] == product_id]
    return sub


async def update(api: Any, subscription_id: str, quantity: int,
                 customer: dict[str, str] = TEAM) -> dict[str, Any]:
    body = await api(UPDATE, {"input": {"customer": customer, "subscriptionId": subscription_id,
                                        "quantity": quantity}})
    assert not body.get("errors"), body["errors"]
    return body["data"]["updateSubscriptionQuantity"]


async def seats_to(api: Any, product_id: str, quantity: int) -> dict[str, Any]:
    payload = await update(api, (await the_sub(api, product_id))["id"], quantity)
    assert payload["userErrors"] == [], payload
    return payload["subscription"]


def lines(invoice: dict[str, Any]) -> list[tuple[str, int | None, int]]:
    return [(line["kind"], line["quantity"], line["amount"]) for line in invoice["lines"]]


class TestCheckoutWithQuantity:
    async def test_three_seats_cost_three_times_and_include_three_times_the_items(
            self, api: Any, runtime: Any) -> None:
        await buy(api, runtime, "team", customer=TEAM, quantity=3)
        account = await team_account(api)
        [sub] = account["subscriptions"]
        assert (sub["status"], sub["quantity"]) == ("ACTIVE", 3)
        [invoice] = account["invoices"]
        assert (invoice["amountTotal"], lines(invoice)) == (3 * TEAM_SEAT,
                                                          [("plan", 3, 3 * TEAM_SEAT)])
        assert account["items"]["seats"] == 15, "5 seats x 3"

    async def test_a_quantity_above_the_prices_maximum_is_refused(self, api: Any) -> None:
        await make_crew(api)
        body = await api.data(CREATE_CHECKOUT, {"input": {
            "customer": TEAM, "productId": "crew", "quantity": 11, "returnUrl": RETURN_URL}})
        payload = body["createCheckoutUrl"]
        assert payload["url"] is None
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("INVALID_INPUT", ["quantity"])]
        assert "at most 10" in payload["userErrors"][0]["message"]

    async def test_user_plans_capped_at_one_sell_one(self, api: Any) -> None:
        body = await api.data(CREATE_CHECKOUT, {"input": {
            "customer": {"type": "USER", "customerId": "u1"}, "productId": "pro",
            "priceId": "pro-monthly", "quantity": 2, "returnUrl": RETURN_URL}})
        assert codes(body["createCheckoutUrl"]) == ["INVALID_INPUT"]

    async def test_the_catalog_shows_the_maximum(self, api: Any) -> None:
        await make_crew(api)
        data = await api.data(PRICES)
        assert data["product"]["prices"] == [{"priceId": "crew-monthly", "quantityMax": 10}]


class TestSeatsUp:
    async def test_up_mid_period_charges_the_prorated_difference_in_usd(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await buy(api, runtime, "team", customer=TEAM, quantity=3)
        now = T0 + timedelta(days=10, hours=5, seconds=7)
        await advance_to(api, clock, now)
        credit = prorated(3 * TEAM_SEAT, START, END, now)
        debit = prorated(5 * TEAM_SEAT, START, END, now)

        sub = await seats_to(api, "team", 5)
        assert (sub["quantity"], at(sub["currentPeriodStart"]), at(sub["currentPeriodEnd"])) == (
            5, START, END), "the period is kept"
        account = await team_account(api)
        up = account["invoices"][0]
        assert lines(up) == [("proration_credit", 3, -credit), ("proration_debit", 5, debit)]
        assert (up["status"], up["amountTotal"]) == ("PAID", debit - credit)
        assert debit - credit == 6573, "2 more seats for 20.8 of 31 days"
        assert account["transactions"][0] == {"kind": "proration", "amount": 6573, "quantity": 5}
        assert account["items"]["seats"] == 25, "the 10 more seats are granted now"

        await advance_to(api, clock, END)
        account = await team_account(api)
        renewal = account["invoices"][0]
        assert (renewal["amountTotal"], lines(renewal)) == (5 * TEAM_SEAT,
                                                            [("plan", 5, 5 * TEAM_SEAT)])
        assert account["items"]["seats"] == 25

    async def test_a_declined_card_changes_nothing(self, api: Any, runtime: Any,
                                                   clock: SteppedClock) -> None:
        await buy(api, runtime, "team", customer=TEAM, quantity=2)
        await set_card(api, DECLINED_CARD, customer=TEAM)
        await advance_to(api, clock, T0 + 3 * timedelta(days=1))
        before = await team_account(api)
        payload = await update(api, before["subscriptions"][0]["id"], 4)
        assert codes(payload) == ["PAYMENT_FAILED"] and payload["subscription"] is None
        assert await team_account(api) == before

    async def test_two_clicks_at_once_charge_once(self, api: Any, runtime: Any,
                                                  clock: SteppedClock) -> None:
        await buy(api, runtime, "team", customer=TEAM, quantity=1)
        await advance_to(api, clock, T0 + timedelta(days=4))
        sub_id = (await the_sub(api, "team"))["id"]
        first, second = await asyncio.gather(update(api, sub_id, 2), update(api, sub_id, 2))
        assert sorted(len(p["userErrors"]) for p in (first, second)) == [0, 1]
        refused = first if first["userErrors"] else second
        assert codes(refused) == ["INVALID_INPUT"]
        account = await team_account(api)
        assert [t["kind"] for t in account["transactions"]] == ["proration", "purchase"]
        assert account["items"]["seats"] == 10


class TestSeatsDown:
    async def test_down_credits_the_unused_time_toward_the_next_invoices(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await buy(api, runtime, "team", customer=TEAM, quantity=5)
        now = T0 + timedelta(days=9, hours=3, minutes=25, seconds=17)
        await advance_to(api, clock, now)
        credit = prorated(5 * TEAM_SEAT, START, END, now)
        debit = prorated(2 * TEAM_SEAT, START, END, now)
        owed = credit - debit

        assert (await seats_to(api, "team", 2))["quantity"] == 2
        account = await team_account(api)
        down = account["invoices"][0]
        assert lines(down) == [("proration_credit", 5, -credit), ("proration_debit", 2, debit)]
        assert (down["status"], down["amountTotal"]) == ("PAID", 0), "nothing is charged"
        assert account["transactions"][0]["amount"] == -owed == -10364
        assert account["items"]["seats"] == 10, "the 15 unused seats of the 3 removed go"

        left = owed
        for period_end in (END, utc(2026, 3, 17, 12)):
            await advance_to(api, clock, period_end)
            renewal = (await team_account(api))["invoices"][0]
            used = min(left, 2 * TEAM_SEAT)
            left -= used
            assert lines(renewal) == [("plan", 2, 2 * TEAM_SEAT), ("credit", None, -used)]
            assert renewal["amountTotal"] == 2 * TEAM_SEAT - used
        assert left == 0

    async def test_down_takes_back_only_what_is_unused(self, api: Any, runtime: Any,
                                                       clock: SteppedClock) -> None:
        await buy(api, runtime, "team", customer=TEAM, quantity=5)  # 25 seats
        spent = await api.data(CONSUME, {"input": {"customer": TEAM, "itemId": "seats",
                                                   "amount": 20}})
        assert spent["tryDecreaseItemQuantity"]["success"] is True
        await advance_to(api, clock, T0 + timedelta(days=2))
        await seats_to(api, "team", 1)
        assert (await team_account(api))["items"]["seats"] == 0, \
            "20 seats are in use: of the 20 the removed 4 seats held, only 5 were unused"


class TestYen:
    async def test_up_then_down_in_yen_with_repeating_items(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await make_crew(api)
        await buy(api, runtime, "crew", customer=TEAM, quantity=2, currency="JPY")
        account = await team_account(api)
        assert account["invoices"][0]["amountTotal"] == 2 * CREW_JPY
        assert (account["items"]["seats"], account["items"]["builds"]) == (6, 200)

        up_at = T0 + timedelta(days=7, hours=3, minutes=11, seconds=13)
        await advance_to(api, clock, up_at)
        await seats_to(api, "crew", 7)
        up = (await team_account(api))["invoices"][0]
        credit = prorated(2 * CREW_JPY, START, END, up_at)
        debit = prorated(7 * CREW_JPY, START, END, up_at)
        assert (up["currency"], lines(up)) == (
            "JPY", [("proration_credit", 2, -credit), ("proration_debit", 7, debit)])
        assert up["amountTotal"] == debit - credit == 5774, "yen have no minor unit"
        items = (await team_account(api))["items"]
        assert (items["seats"], items["builds"]) == (21, 700)

        down_at = up_at + timedelta(days=9, hours=17, seconds=41)
        await advance_to(api, clock, down_at)
        await seats_to(api, "crew", 4)
        account = await team_account(api)
        down = account["invoices"][0]
        credit = prorated(7 * CREW_JPY, START, END, down_at)
        debit = prorated(4 * CREW_JPY, START, END, down_at)
        assert lines(down) == [("proration_credit", 7, -credit), ("proration_debit", 4, debit)]
        assert down["amountTotal"] == 0 and credit - debit == 2056
        assert (account["items"]["seats"], account["items"]["builds"]) == (12, 400)

        await advance_to(api, clock, END)
        account = await team_account(api)
        renewal = account["invoices"][0]
        assert (renewal["currency"], lines(renewal)) == (
            "JPY", [("plan", 4, 4 * CREW_JPY), ("credit", None, -2056)])
        assert renewal["amountTotal"] == 4 * CREW_JPY - 2056
        assert account["items"]["builds"] == 400, "the month's builds: 100 x 4 seats"


class TestRefusals:
    @pytest.mark.parametrize(("quantity", "why"), [(0, "from 1 to 10"), (-3, "from 1 to 10"),
                                                   (11, "from 1 to 10"), (2, "already")])
    async def test_bad_quantities_change_nothing(self, api: Any, runtime: Any, quantity: int,
                                                 why: str) -> None:
        await make_crew(api)
        await buy(api, runtime, "crew", customer=TEAM, quantity=2)
        before = await team_account(api)
        payload = await update(api, before["subscriptions"][0]["id"], quantity)
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("INVALID_INPUT", ["quantity"])]
        assert why in payload["userErrors"][0]["message"]
        assert await team_account(api) == before

    async def test_a_plan_capped_at_one(self, api: Any, runtime: Any) -> None:
        user = {"type": "USER", "customerId": "u1"}
        await buy(api, runtime, "pro", customer=user)
        data = await api.data("query($c: CustomerRef!) { customer(customer: $c) { "
                              "subscriptions(first: 5) { edges { node { id } } } } }", {"c": user})
        sub_id = data["customer"]["subscriptions"]["edges"][0]["node"]["id"]
        payload = await update(api, sub_id, 2, customer=user)
        assert codes(payload) == ["INVALID_INPUT"]
        assert "from 1 to 1" in payload["userErrors"][0]["message"]

    async def test_more_seats_than_the_scheduled_plan_holds_are_refused(
            self, api: Any, runtime: Any) -> None:
        """A downgrade scheduled for the period end to a plan of at most 2 seats: going to 3
        now would leave a change that cannot start (it used to be dropped at the period
        end); the refusal says how out, changes nothing, and 2 seats are still fine."""
        await make_crew(api, quantityMax=2)
        moved = await api.data(UPSERT_PRODUCT, {"input": {"productId": "crew", "product": {
            "displayName": "Crew", "customerType": "TEAM", "productLineId": "team-plans",
            "prices": [{"priceId": "crew-monthly", "quantityMax": 2,
                        "amounts": [{"currency": "USD", "amount": "10.00"}],
                        "interval": {"unit": "MONTH", "count": 1}}]}}})
        assert moved["upsertProduct"]["userErrors"] == [], moved
        await buy(api, runtime, "team", customer=TEAM, quantity=1)
        switch = await mutate(api, "switchSubscription", customer=TEAM, fromProductId="team",
                              toProductId="crew", when="PERIOD_END")
        assert switch["userErrors"] == [], switch
        before = await team_account(api)
        payload = await update(api, (await the_sub(api, "team"))["id"], 3)
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("INVALID_INPUT", ["quantity"])]
        assert payload["userErrors"][0]["message"] == (
            "the change to Crew scheduled for the period end allows at most 2 seats; cancel "
            "that change first")
        assert await team_account(api) == before
        assert (await seats_to(api, "team", 2))["quantity"] == 2

    async def test_ended_and_paused_subscriptions(self, api: Any, runtime: Any) -> None:
        await buy(api, runtime, "team", customer=TEAM, quantity=2)
        sub_id = (await the_sub(api, "team"))["id"]
        pause = await api.data("mutation($i: PauseSubscriptionInput!) { pauseSubscription(input: $i)"
                               " { userErrors { code } } }",
                               {"i": {"customer": TEAM, "subscriptionId": sub_id}})
        assert pause["pauseSubscription"]["userErrors"] == []
        paused = await update(api, sub_id, 3)
        assert codes(paused) == ["INVALID_INPUT"] and "paused" in paused["userErrors"][0]["message"]
        cancel = await api.data("mutation($i: CancelSubscriptionInput!) { cancelSubscription(input: $i)"
                                " { userErrors { code } } }",
                                {"i": {"customer": TEAM, "subscriptionId": sub_id,
                                       "immediately": True}})
        assert cancel["cancelSubscription"]["userErrors"] == []
        assert codes(await update(api, sub_id, 3)) == ["SUBSCRIPTION_NOT_FOUND"]
        assert (await the_sub(api, "team"))["quantity"] == 2

    async def test_only_the_customers_admins_change_seats(self, api: Any, runtime: Any) -> None:
        await buy(api, runtime, "team", customer=TEAM, quantity=2)
        sub_id = (await the_sub(api, "team"))["id"]
        member = api.as_user("m1", teams={"t1": "member"})
        assert codes(await update(member, sub_id, 3)) == ["FORBIDDEN"]
        assert codes(await update(api.as_user("u9"), sub_id, 3)) == ["FORBIDDEN"]
        other = {"type": "TEAM", "customerId": "t2"}
        admin_elsewhere = api.as_user("a2", teams={"t2": "admin"})
        assert codes(await update(admin_elsewhere, sub_id, 3, customer=other)) == [
            "SUBSCRIPTION_NOT_FOUND"], "another customer's subscription id is not found"
        admin = api.as_user("a1", teams={"t1": "admin"})
        payload = await update(admin, sub_id, 3)
        assert payload["userErrors"] == [] and payload["subscription"]["quantity"] == 3


class TestFreeChanges:
    async def test_during_a_trial_nothing_is_charged_and_the_first_charge_counts_the_seats(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await make_crew(api, freeTrial={"unit": "DAY", "count": 7})
        await buy(api, runtime, "crew", customer=TEAM, quantity=2)
        assert (await the_sub(api, "crew"))["status"] == "TRIALING"
        await advance_to(api, clock, T0 + timedelta(days=3))
        await seats_to(api, "crew", 6)
        account = await team_account(api)
        assert account["invoices"] == [] and account["transactions"] == [], "a trial is free"
        assert (account["items"]["seats"], account["items"]["builds"]) == (18, 600)

        await advance_to(api, clock, T0 + timedelta(days=7))
        account = await team_account(api)
        [first] = account["invoices"]
        assert (first["amountTotal"], lines(first)) == (6 * CREW_USD, [("plan", 6, 6 * CREW_USD)])
        assert account["items"]["builds"] == 600

    async def test_a_granted_plan_changes_seats_without_an_invoice(
            self, api: Any, runtime: Any) -> None:
        granted = await api.data("""mutation ($input: GrantProductInput!) { grantProduct(input: $input)
            { subscription { id quantity } userErrors { code message } } }""",
                                 {"input": {"customer": TEAM, "productId": "team", "quantity": 2}})
        payload = granted["grantProduct"]
        assert payload["userErrors"] == [] and payload["subscription"]["quantity"] == 2
        await seats_to(api, "team", 4)
        account = await team_account(api)
        assert account["items"]["seats"] == 20
        assert [i for i in account["invoices"] if i["lines"][0]["kind"].startswith("proration")] \
            == [], "a granted plan is never charged or credited"


class CancelDuringCharge(TestRails):
    """Test rails that commit a period-end cancel of the team's plan while they charge (a
    second request landing between the claim and the record)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.refunds: list[tuple[int, str]] = []

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        result = await super().charge(request)
        await operations.cancel(await self.runtime.billing(), CustomerRef(CustomerType.TEAM, "t1"),
                                operations.Selector(product_id="team"), immediately=False)
        return result

    async def refund(self, *, reference: str | None, amount: int, currency: str,
                     idempotency_key: str) -> RefundResult:
        self.refunds.append((amount, idempotency_key))
        return await super().refund(reference=reference, amount=amount, currency=currency,
                                    idempotency_key=idempotency_key)


async def test_more_seats_whose_plan_changed_during_the_charge_are_refunded(
        api: Any, runtime: Any, clock: SteppedClock) -> None:
    await buy(api, runtime, "team", customer=TEAM, quantity=2)
    await advance_to(api, clock, T0 + timedelta(days=6))
    sub_id = (await the_sub(api, "team"))["id"]
    rails = CancelDuringCharge(runtime)
    runtime.test_rails = rails
    payload = await update(api, sub_id, 5)
    assert codes(payload) == ["INVALID_INPUT"] and "refunded" in payload["userErrors"][0]["message"]
    [(amount, key)] = rails.refunds
    assert amount > 0 and key.startswith("billgate:seats:") and key.endswith(":refund")
    account = await team_account(api)
    assert account["subscriptions"][0]["quantity"] == 2 and account["items"]["seats"] == 10
    assert [t["kind"] for t in account["transactions"]] == ["purchase"], "nothing recorded"
