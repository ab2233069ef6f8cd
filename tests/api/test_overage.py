"""Overage (issue 27 item 4): a plan's ``overage`` lets ``tryDecreaseItemQuantity`` take the
item down to ``-limit`` while the plan is owned; the debt is billed at each renewal (and at
the plan's end) as an ``overage`` invoice line, and an ``overage_billed`` ledger change
brings the balance back to 0 before the new period's grant. Walked through time with
``advanceTestClock`` through the GraphQL API (helpers of ``test_subscription_lifecycle``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from test_subscription_lifecycle import (
    DAY,
    DECLINED_CARD,
    GOOD_CARD,
    SECOND,
    T0,
    TRY_DECREASE,
    USER,
    SteppedClock,
    advance_to,
    buy,
    credit_changes,
    credits,
    invoices,
    ok,
    set_card,
    subscription,
    utc,
)

from billgate.billing import audit

pytestmark = [pytest.mark.usefixtures("example_catalog"), pytest.mark.timeout(120)]

UPSERT = """
mutation ($input: UpsertProductInput!) {
  upsertProduct(input: $input) {
    product { productId overage { itemId limit unitAmounts { currency amount minorUnits } } }
    userErrors { code message field }
  }
}"""
PRODUCT = """query { product(productId: "metered") { productId } }"""
USD_UNIT, JPY_UNIT, LIMIT = 2, 3, 50   # 0.02 USD and 3 JPY per credit of debt
PLAN_USD, PLAN_JPY = 1000, 1500
RENEWAL = utc(2026, 2, 17, 12)        # a month after T0


def metered(**changes: Any) -> dict[str, Any]:
    """A monthly plan of the user line: 100 credits a month, up to 50 more on overage."""
    product = {
        "displayName": "Metered", "customerType": "USER", "productLineId": "user-plans",
        "prices": [{"priceId": "metered-monthly", "interval": {"unit": "MONTH", "count": 1},
                    "amounts": [{"currency": "USD", "amount": "10.00"},
                                {"currency": "JPY", "amount": "1500"}]}],
        "includedItems": [{"itemId": "credits", "quantity": 100,
                           "repeat": {"unit": "MONTH", "count": 1}, "expires": "WHEN_REPEATED"}],
        "overage": [{"itemId": "credits", "limit": LIMIT,
                     "unitAmounts": [{"currency": "USD", "amount": "0.02"},
                                     {"currency": "JPY", "amount": "3"}]}],
    }
    product.update(changes)
    return product


@pytest.fixture(autouse=True)
def clock(runtime: Any) -> SteppedClock:
    runtime.clock = SteppedClock(T0)
    return runtime.clock


async def upsert(api: Any, product: dict[str, Any]) -> dict[str, Any]:
    return (await api.data(UPSERT, {"input": {"productId": "metered",
                                              "product": product}}))["upsertProduct"]


async def spend(api: Any, amount: int) -> dict[str, Any]:
    return (await api.data(TRY_DECREASE, {"input": {
        "customer": USER, "itemId": "credits", "amount": amount}}))["tryDecreaseItemQuantity"]


async def subscribe(api: Any, runtime: Any, currency: str = "USD") -> None:
    assert (await upsert(api, metered()))["userErrors"] == []
    await buy(api, runtime, "metered", priceId="metered-monthly", currency=currency)
    assert await credits(api) == 100


async def audit_is_clean(runtime: Any) -> None:
    async with runtime.db.read_session() as session:
        found = await audit.run(session)
    assert found == [], "\n".join(map(str, found))


def overage_lines(invoice: dict[str, Any]) -> list[tuple[int | None, int]]:
    return [(x["quantity"], x["amount"]) for x in invoice["lines"] if x["kind"] == "overage"]


class TestCatalog:
    async def test_a_plan_shows_its_overage_per_currency(self, api: Any) -> None:
        payload = await upsert(api, metered())
        assert payload["userErrors"] == []
        [terms] = payload["product"]["overage"]
        assert terms["itemId"] == "credits" and terms["limit"] == LIMIT
        assert {(m["currency"], m["amount"], m["minorUnits"]) for m in terms["unitAmounts"]} == {
            ("USD", "0.02", 2), ("JPY", "3", 3)}

    @pytest.mark.parametrize(("overage", "field"), [
        ([{"itemId": "nope", "limit": 5, "unitAmounts": [
            {"currency": "USD", "amount": "0.02"}, {"currency": "JPY", "amount": "3"}]}],
         "itemId"),
        ([{"itemId": "credits", "limit": 0, "unitAmounts": [
            {"currency": "USD", "amount": "0.02"}, {"currency": "JPY", "amount": "3"}]}],
         "limit"),
        ([{"itemId": "credits", "limit": 5, "unitAmounts": [
            {"currency": "USD", "amount": "0.02"}]}], "unitAmounts"),
        ([{"itemId": "credits", "limit": 5, "unitAmounts": [
            {"currency": "USD", "amount": "0.02"}, {"currency": "JPY", "amount": "3"},
            {"currency": "EUR", "amount": "0.02"}]}], "EUR"),
        ([{"itemId": "credits", "limit": 5, "unitAmounts": [
            {"currency": "USD", "amount": "0.02"}, {"currency": "JPY", "amount": "0.5"}]}],
         "JPY"),
        ([{"itemId": "seats", "limit": 5, "unitAmounts": [
            {"currency": "USD", "amount": "0.02"}, {"currency": "JPY", "amount": "3"}]}],
         "itemId"),
    ], ids=["unknown-item", "limit-0", "missing-currency", "extra-currency", "jpy-decimals",
            "other-customer-type"])
    async def test_bad_overage_is_a_user_error_and_changes_nothing(
            self, api: Any, overage: list[dict[str, Any]], field: str) -> None:
        payload = await upsert(api, metered(overage=overage))
        [error] = payload["userErrors"]
        assert error["code"] == "INVALID_INPUT", error
        assert field in error["field"], error
        assert payload["product"] is None
        assert (await api.data(PRODUCT))["product"] is None

    async def test_overage_needs_a_recurring_price(self, api: Any) -> None:
        payload = await upsert(api, metered(prices=[{
            "priceId": "once", "amounts": [{"currency": "USD", "amount": "10.00"},
                                           {"currency": "JPY", "amount": "1500"}]}]))
        assert [e["field"] for e in payload["userErrors"]] == [["overage"]]


class TestConsumption:
    async def test_down_to_minus_limit_and_not_one_past(self, api: Any, runtime: Any) -> None:
        await subscribe(api, runtime)
        assert (await spend(api, 100 + LIMIT + 1))["success"] is False
        assert (await spend(api, 100))["success"] is True
        assert (await spend(api, LIMIT - 1))["success"] is True
        assert await credits(api) == -(LIMIT - 1)
        refused = await spend(api, 2)
        assert refused["success"] is False
        assert [e["code"] for e in refused["userErrors"]] == ["INSUFFICIENT_QUANTITY"]
        assert await credits(api) == -(LIMIT - 1), "a refusal changes nothing"
        assert (await spend(api, 1))["success"] is True
        assert await credits(api) == -LIMIT
        assert (await spend(api, 1))["success"] is False
        await audit_is_clean(runtime)

    async def test_concurrent_spends_never_pass_the_limit(self, api: Any, runtime: Any) -> None:
        """40 consumers of 5 at once against 100 credits and a limit of 50: exactly 30
        succeed (the last 10 of them into overage), the balance ends at -50."""
        await subscribe(api, runtime)
        results = await asyncio.gather(*(spend(api, 5) for _ in range(40)))
        assert sum(r["success"] for r in results) == 30
        assert {e["code"] for r in results for e in r["userErrors"]} == {"INSUFFICIENT_QUANTITY"}
        assert await credits(api) == -LIMIT
        await audit_is_clean(runtime)

    async def test_without_the_plan_a_balance_never_goes_below_zero(
            self, api: Any, runtime: Any) -> None:
        assert (await upsert(api, metered()))["userErrors"] == []
        assert await credits(api) == 100, "Free's 100 credits"
        assert (await spend(api, 101))["success"] is False
        assert (await spend(api, 100))["success"] is True
        assert (await spend(api, 1))["success"] is False


class TestRenewal:
    @pytest.mark.parametrize(("currency", "unit", "plan"), [("USD", USD_UNIT, PLAN_USD),
                                                            ("JPY", JPY_UNIT, PLAN_JPY)])
    async def test_renewal_bills_the_exact_units_then_grants_the_new_period(
            self, api: Any, runtime: Any, clock: SteppedClock, currency: str, unit: int,
            plan: int) -> None:
        await subscribe(api, runtime, currency)
        assert (await spend(api, 137))["success"] is True
        await set_card(api, GOOD_CARD)
        await advance_to(api, clock, RENEWAL)

        renewal = (await invoices(api))[0]
        assert renewal["status"] == "PAID" and renewal["currency"] == currency
        assert overage_lines(renewal) == [(37, 37 * unit)]
        assert renewal["amountTotal"] == plan + 37 * unit
        assert await credits(api) == 100
        ledger = [(d, r) for d, r, _ in await credit_changes(api)]
        assert ledger[-2:] == [(37, "overage_billed"), (100, "repeat")], ledger
        await audit_is_clean(runtime)

        await advance_to(api, clock, utc(2026, 3, 17, 12))  # no debt: no overage line
        assert overage_lines((await invoices(api))[0]) == []
        await audit_is_clean(runtime)

    async def test_a_declined_renewal_keeps_the_debt_on_its_open_invoice_billed_once(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await subscribe(api, runtime)
        assert (await spend(api, 120))["success"] is True
        await set_card(api, DECLINED_CARD)
        await advance_to(api, clock, RENEWAL)
        assert (await subscription(api, "metered"))["status"] == "PAST_DUE"
        [open_invoice] = [i for i in await invoices(api) if i["status"] == "OPEN"]
        assert overage_lines(open_invoice) == [(20, 20 * USD_UNIT)]
        assert await credits(api) == 0, "billed: back to 0; the new period waits for payment"

        # Still owned while PAST_DUE: more overage, which belongs to the new period.
        assert (await spend(api, 5))["success"] is True
        await advance_to(api, clock, RENEWAL + 3 * DAY)  # the retry is declined too
        assert [i["status"] for i in await invoices(api)].count("OPEN") == 1
        await set_card(api, GOOD_CARD)  # paid now

        assert (await subscription(api, "metered"))["status"] == "ACTIVE"
        paid = [i for i in await invoices(api) if overage_lines(i)]
        assert [(i["status"], overage_lines(i)) for i in paid] == [("PAID", [(20, 40)])]
        assert paid[0]["amountTotal"] == PLAN_USD + 40
        # The new period's grant pays the 5 used after the renewal first (a grant pays debt).
        assert await credits(api) == 95
        billed = [d for d, r, _ in await credit_changes(api) if r == "overage_billed"]
        assert billed == [20]
        await audit_is_clean(runtime)


class TestPlanEnd:
    async def test_cancel_at_period_end_bills_the_debt_on_a_final_invoice(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await subscribe(api, runtime)
        assert (await spend(api, 110))["success"] is True
        await ok(api, "cancelSubscription", productId="metered")
        await advance_to(api, clock, RENEWAL)
        assert (await subscription(api, "metered"))["status"] == "CANCELED"
        final = (await invoices(api))[0]
        assert final["status"] == "PAID", "charged by the scheduler after the end"
        assert overage_lines(final) == [(10, 10 * USD_UNIT)]
        assert final["amountTotal"] == 10 * USD_UNIT
        ledger = [(d, r) for d, r, _ in await credit_changes(api)]
        assert (10, "overage_billed") in ledger
        assert await credits(api) == 100, "billed to 0, then Free's 100 credits return"
        assert (await spend(api, 101))["success"] is False, "no overage without the plan"
        await audit_is_clean(runtime)

    async def test_an_immediate_cancel_of_a_past_due_plan_carries_its_billed_debt_over(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await subscribe(api, runtime)
        assert (await spend(api, 130))["success"] is True
        await set_card(api, DECLINED_CARD)
        await advance_to(api, clock, RENEWAL)
        assert (await spend(api, 7))["success"] is True   # new debt while PAST_DUE
        await advance_to(api, clock, RENEWAL + SECOND)
        await ok(api, "cancelSubscription", productId="metered", immediately=True)

        standing = [i for i in await invoices(api) if i["status"] != "VOID"]
        final = standing[0]
        assert final["status"] == "OPEN"
        assert overage_lines(final) == [(30, 30 * USD_UNIT), (7, 7 * USD_UNIT)]
        assert sum(q for i in standing for q, _ in overage_lines(i)) == 37, "billed once"
        billed = [d for d, r, _ in await credit_changes(api) if r == "overage_billed"]
        assert billed == [30, 7]
        await audit_is_clean(runtime)

    async def test_a_pause_and_resume_keeps_the_billed_debt_of_the_voided_invoice(
            self, api: Any, runtime: Any, clock: SteppedClock) -> None:
        await subscribe(api, runtime)
        assert (await spend(api, 125))["success"] is True
        await set_card(api, DECLINED_CARD)
        await advance_to(api, clock, RENEWAL)  # PAST_DUE: 25 billed on the OPEN invoice
        await ok(api, "pauseSubscription", productId="metered")
        await set_card(api, GOOD_CARD)
        await advance_to(api, clock, RENEWAL + DAY)
        await ok(api, "resumeSubscription", productId="metered")

        assert (await subscription(api, "metered"))["status"] == "ACTIVE"
        standing = [i for i in await invoices(api) if i["status"] != "VOID"]
        kept = [i for i in standing if overage_lines(i)]
        assert [(i["status"], overage_lines(i)) for i in kept] == [("OPEN", [(25, 50)])]
        await audit_is_clean(runtime)


class TestStatements:
    """The hot path keeps its statements (``test_statement_counts`` counts the common case);
    a refusal already went to the normal path, which now reads the customer's plans once
    more (4 statements before overage, 5 now), and a consumption into overage is the normal
    path's too."""

    async def test_a_refusal_reads_the_plans_once_and_a_covered_spend_stays_direct(
            self, api: Any, runtime: Any) -> None:
        from test_statement_counts import counted

        from billgate.billing import operator_actions

        await subscribe(api, runtime)
        assert (await spend(api, 100 + LIMIT + 1))["success"] is False  # warm
        await operator_actions.flush(runtime.db)
        with counted(runtime) as statements:
            assert (await spend(api, 100 + LIMIT + 1))["success"] is False
        assert len(statements) == 5, "\n".join(statements)
        assert sum("FROM purchases" in sql for sql in statements) == 1
        await operator_actions.flush(runtime.db)
        with counted(runtime) as statements:
            assert (await spend(api, 1))["success"] is True
        assert len(statements) <= 3 and all(s.startswith("direct: ") for s in statements), \
            "\n".join(statements)
