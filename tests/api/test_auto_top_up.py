"""Auto top-up through the API (``setAutoTopUp``, ``Item.autoTopUp``) with the test rails
and the test clock: the scheduler's ``auto_top_up.purchase`` job runs through
``advanceTestClock``, as it would a second later in a real server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from billgate.clock import TestClock
from billgate.db.models import (
    AutoTopUpCrossing,
    EmailOutbox,
    Invoice,
    Purchase,
    Transaction,
    WebhookEvent,
)

pytestmark = pytest.mark.usefixtures("example_catalog")

USER = {"type": "USER", "customerId": "topper"}
T0 = datetime(2026, 1, 30, 12, 0, tzinfo=UTC)
ERRORS = "userErrors { code field message }"
TOP_UP = "threshold productId priceId quantity maxPerMonth enabled lastTriggeredAt disabledReason"
SET = f"""mutation ($input: SetAutoTopUpInput!) {{
  setAutoTopUp(input: $input) {{ autoTopUp {{ {TOP_UP} }} {ERRORS} }} }}"""
ITEM = f"""query ($c: CustomerRef!) {{ customer(customer: $c) {{ item(itemId: "credits") {{
  quantity available autoTopUp {{ {TOP_UP} }} }} }} }}"""
SPEND = f"""mutation ($c: CustomerRef!, $n: BigInt!) {{ tryDecreaseItemQuantity(input: {{
  customer: $c, itemId: "credits", amount: $n}}) {{ success item {{ quantity }} {ERRORS} }} }}"""
ADD = f"""mutation ($c: CustomerRef!, $n: BigInt!) {{ increaseItemQuantity(input: {{
  customer: $c, itemId: "credits", amount: $n}}) {{ item {{ quantity }} {ERRORS} }} }}"""
RESERVE = f"""mutation ($c: CustomerRef!, $n: BigInt!) {{ reserveItemQuantity(input: {{
  customer: $c, itemId: "credits", amount: $n}}) {{ success {ERRORS} }} }}"""
ADVANCE = f"""mutation ($s: Int!) {{ advanceTestClock(input: {{seconds: $s}}) {{ now {ERRORS} }} }}"""
CARD = f"""mutation ($c: CustomerRef!, $n: String!) {{ setTestPaymentMethod(input: {{customer: $c,
  cardNumber: $n}}) {{ {ERRORS} }} }}"""
EMAIL = f"""mutation ($c: CustomerRef!) {{ updateCustomer(input: {{customer: $c,
  email: "ada@example.com"}}) {{ {ERRORS} }} }}"""
DAY = 24 * 3600


class SteppedClock(TestClock):
    """Billing time moves only with ``advanceTestClock``."""

    def __init__(self, base: datetime) -> None:
        super().__init__()
        self.base = base

    def now(self) -> datetime:
        return self.base + self.offset


@pytest.fixture(autouse=True)
def clock(runtime: Any) -> SteppedClock:
    runtime.clock = SteppedClock(T0)
    return runtime.clock


def pack(**fields: Any) -> dict[str, Any]:
    return {"customer": USER, "itemId": "credits", "threshold": 20, "productId": "credit-pack",
            "priceId": "once", **fields}


async def set_top_up(api: Any, **fields: Any) -> dict[str, Any]:
    return (await api.data(SET, {"input": pack(**fields)}))["setAutoTopUp"]


async def item(api: Any) -> dict[str, Any]:
    return (await api.data(ITEM, {"c": USER}))["customer"]["item"]


async def spend(api: Any, n: int) -> None:
    done = (await api.data(SPEND, {"c": USER, "n": n}))["tryDecreaseItemQuantity"]
    assert done["success"], done


async def tick(api: Any, seconds: int = 1) -> None:
    """Let the scheduler run (the test clock moves ``seconds``)."""
    assert (await api.data(ADVANCE, {"s": seconds}))["advanceTestClock"]["userErrors"] == []


async def count(db: Any, model: Any, *where: Any) -> int:
    async with db.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where))
                   or 0)


async def packs(db: Any) -> int:
    return await count(db, Purchase, Purchase.product_id == "credit-pack",
                       Purchase.origin == "auto_top_up")


async def events(db: Any, event_type: str) -> list[dict[str, Any]]:
    async with db.read_session() as session:
        return [e.payload for e in await session.scalars(
            select(WebhookEvent).where(WebhookEvent.type == event_type).order_by(WebhookEvent.id))]


class TestSetAutoTopUp:
    async def test_stores_the_settings_with_their_defaults_and_reads_show_them(self, api: Any):
        done = await set_top_up(api)
        expected = {"threshold": 20, "productId": "credit-pack", "priceId": "once",
                    "quantity": 1, "maxPerMonth": 10, "enabled": True, "lastTriggeredAt": None,
                    "disabledReason": None}
        assert done == {"autoTopUp": expected, "userErrors": []}
        assert (await item(api))["autoTopUp"] == expected
        replaced = await set_top_up(api, threshold=5, quantity=2, maxPerMonth=3, enabled=False)
        assert replaced["autoTopUp"] | {} == {**expected, "threshold": 5, "quantity": 2,
                                               "maxPerMonth": 3, "enabled": False}

    @pytest.mark.parametrize(("fields", "code", "field"), [
        ({"itemId": "nope"}, "ITEM_NOT_FOUND", ["itemId"]),
        ({"itemId": "seats"}, "CUSTOMER_TYPE_MISMATCH", ["customer"]),
        ({"productId": "nope"}, "PRODUCT_NOT_FOUND", ["productId"]),
        ({"priceId": "nope"}, "PRICE_NOT_FOUND", ["priceId"]),
        ({"productId": "pro", "priceId": "pro-monthly"}, "INVALID_INPUT", ["priceId"]),
        ({"productId": "free", "priceId": None}, "INVALID_INPUT", ["productId"]),
        ({"threshold": -1}, "INVALID_INPUT", ["threshold"]),
        ({"quantity": 0}, "INVALID_INPUT", ["quantity"]),
        ({"quantity": -3}, "INVALID_INPUT", ["quantity"]),
        ({"maxPerMonth": 0}, "INVALID_INPUT", ["maxPerMonth"]),
        ({"maxPerMonth": -1}, "INVALID_INPUT", ["maxPerMonth"]),
    ])
    async def test_bad_input_is_a_user_error_that_changes_nothing(
            self, api: Any, db: Any, fields: dict[str, Any], code: str, field: list[str]):
        await set_top_up(api, threshold=7)
        before = await item(api)
        done = await set_top_up(api, **fields)
        assert done["autoTopUp"] is None
        assert [(e["code"], e["field"]) for e in done["userErrors"]] == [(code, field)]
        assert await item(api) == before

    async def test_a_product_that_can_be_owned_once_is_refused(self, api: Any, db: Any):
        from billgate.billing import catalog
        from billgate.billing.catalog_spec import parse_product

        await catalog.save(db, catalog.upsert_product, parse_product({
            "productId": "lifetime-pack", "displayName": "Lifetime pack", "customerType": "USER",
            "prices": [{"priceId": "once", "amounts": {"USD": "9.00"}}],
            "includedItems": [{"itemId": "credits", "quantity": 900, "expires": "NEVER"}]}))
        done = await set_top_up(api, productId="lifetime-pack")
        assert [(e["code"], e["field"]) for e in done["userErrors"]] == [
            ("INVALID_INPUT", ["productId"])]
        assert "not stackable" in done["userErrors"][0]["message"]

    async def test_a_bad_first_setting_does_not_even_create_the_customer(self, api: Any, db: Any):
        from billgate.db.models import Customer

        done = await set_top_up(api, productId="nope")
        assert done["userErrors"][0]["code"] == "PRODUCT_NOT_FOUND"
        assert await count(db, Customer) == 0

    async def test_a_customer_token_sets_its_own_and_no_one_elses(self, api: Any):
        own = await api.as_user("topper").data(SET, {"input": pack()})
        assert own["setAutoTopUp"]["userErrors"] == []
        other = await api.as_user("someone-else").data(SET, {"input": pack()})
        assert [e["code"] for e in other["setAutoTopUp"]["userErrors"]] == ["FORBIDDEN"]
        hidden = await api.as_user("topper").data(
            SET, {"input": pack(productId="internal-grant", priceId=None)})
        assert [e["code"] for e in hidden["setAutoTopUp"]["userErrors"]] == ["PRODUCT_NOT_FOUND"]


    async def test_a_team_admin_may_set_the_teams_and_a_member_may_not(self, api: Any):
        team = {"type": "TEAM", "customerId": "t-top"}
        asked = {"input": {"customer": team, "itemId": "seats", "threshold": 1,
                           "productId": "extra-seats"}}
        member = await api.as_user("m", teams={"t-top": "member"}).data(SET, asked)
        assert [e["code"] for e in member["setAutoTopUp"]["userErrors"]] == ["FORBIDDEN"]
        # Past the permission check, the team's only seat product renews: not a top-up.
        admin = await api.as_user("a", teams={"t-top": "admin"}).data(SET, asked)
        assert [(e["code"], e["field"]) for e in admin["setAutoTopUp"]["userErrors"]] == [
            ("INVALID_INPUT", ["priceId"])]


class TestCrossing:
    async def test_a_crossing_buys_once_and_the_balance_rises(self, api: Any, db: Any):
        await set_top_up(api)
        await spend(api, 50)  # 100 -> 50: above the threshold
        await spend(api, 35)  # 50 -> 15: crosses 20
        await spend(api, 5)  # 15 -> 10: still below, not a new crossing
        assert await count(db, AutoTopUpCrossing) == 1
        assert (await item(api))["quantity"] == 10  # the consumer never waits for the charge
        assert await packs(db) == 0

        await tick(api)
        now = (await item(api))
        assert now["quantity"] == 510
        # dated at the crossing that triggered it (the scheduler runs work at its due time)
        assert now["autoTopUp"]["lastTriggeredAt"] == "2026-01-30T12:00:00+00:00"
        assert await packs(db) == 1
        assert await count(db, Transaction, Transaction.amount == 500) == 1
        assert await count(db, Invoice, Invoice.status == "PAID") == 1
        await tick(api)
        assert await packs(db) == 1  # one purchase per crossing, however often it runs

        await spend(api, 480)  # 510 -> 30: above again, nothing
        await tick(api)
        assert await packs(db) == 1
        await spend(api, 10)  # 30 -> 20: at the threshold is a crossing
        await tick(api)
        assert (await packs(db), (await item(api))["quantity"]) == (2, 520)

    async def test_each_balance_is_read_with_its_own_customers_threshold(self, api: Any,
                                                                         db: Any):
        # Another customer's top-up (a lower threshold, set first) must not stand in for
        # this one's in the statement that changes the balance.
        other = {"type": "USER", "customerId": "someone-else"}
        assert (await api.data(SET, {"input": {**pack(threshold=5), "customer": other}}))[
            "setAutoTopUp"]["userErrors"] == []
        await set_top_up(api, threshold=50)
        await spend(api, 60)  # 100 -> 40: crosses this customer's 50, not the other's 5
        assert await count(db, AutoTopUpCrossing) == 1
        await tick(api)
        assert ((await item(api))["quantity"], await packs(db)) == (540, 1)

    async def test_a_hold_that_takes_available_across_buys_too(self, api: Any, db: Any):
        await set_top_up(api)
        reserved = await api.data(RESERVE, {"c": USER, "n": 85})
        assert reserved["reserveItemQuantity"]["success"]
        await tick(api)
        assert (await packs(db), (await item(api))["available"]) == (1, 515)

    async def test_max_per_month_counts_calendar_months_of_the_test_clock(self, api: Any,
                                                                          db: Any):
        await set_top_up(api, maxPerMonth=1)
        await spend(api, 85)  # 100 -> 15: the January top-up
        await tick(api)
        assert await packs(db) == 1
        await spend(api, 500)  # 515 -> 15: a second crossing in January is not bought
        await tick(api)
        assert (await packs(db), (await item(api))["quantity"]) == (1, 15)
        assert await count(db, AutoTopUpCrossing) == 1

        await api.data(ADD, {"c": USER, "n": 100})  # 115
        await tick(api, 2 * DAY)  # 1 February
        await spend(api, 100)  # 115 -> 15: February's first
        await tick(api)
        assert (await packs(db), (await item(api))["quantity"]) == (2, 515)

    async def test_success_sends_auto_top_up_succeeded(self, api: Any, db: Any):
        await set_top_up(api)
        await spend(api, 90)
        await tick(api)
        [event] = await events(db, "auto_top_up.succeeded")
        assert event["customer"] == USER
        data = event["data"]
        assert (data["itemId"], data["autoTopUp"]["threshold"], data["ownedProduct"]["productId"],
                data["invoice"]["status"], data["invoice"]["amountTotal"]) == (
            "credits", 20, "credit-pack", "PAID", 500)
        assert await events(db, "auto_top_up.failed") == []


class TestDecline:
    async def test_a_decline_turns_it_off_with_a_reason_a_webhook_and_an_email(self, api: Any,
                                                                             db: Any):
        await api.data(EMAIL, {"c": USER})
        await api.data(CARD, {"c": USER, "n": "4000000000000002"})
        await set_top_up(api)
        await spend(api, 90)
        await tick(api)
        now = await item(api)
        assert now["quantity"] == 10 and await packs(db) == 0  # nothing bought
        assert (now["autoTopUp"]["enabled"], now["autoTopUp"]["disabledReason"]) == (
            False, "Your card was declined.")
        [event] = await events(db, "auto_top_up.failed")
        assert (event["data"]["itemId"], event["data"]["reason"],
                event["data"]["autoTopUp"]["enabled"]) == ("credits", "Your card was declined.",
                                                           False)
        async with db.read_session() as session:
            [email] = (await session.scalars(select(EmailOutbox).where(
                EmailOutbox.template == "payment_failed"))).all()
        assert (email.to_address, email.context["amount"], email.context["auto_top_up"]) == (
            "ada@example.com", "5.00", "credits")

        # Off: a new crossing is not noted; turned on again (a good card), it buys again.
        await api.data(ADD, {"c": USER, "n": 90})
        await spend(api, 90)
        assert await count(db, AutoTopUpCrossing) == 1
        await api.data(CARD, {"c": USER, "n": "4242424242424242"})
        assert (await set_top_up(api))["autoTopUp"]["disabledReason"] is None
        await api.data(ADD, {"c": USER, "n": 90})
        await spend(api, 90)
        await tick(api)
        assert await packs(db) == 1

    async def test_turned_off_before_the_scheduler_ran_skips_the_crossing(self, api: Any,
                                                                          db: Any):
        await set_top_up(api)
        await spend(api, 90)
        await set_top_up(api, enabled=False)
        await tick(api)
        assert await packs(db) == 0
        async with db.read_session() as session:
            assert [c.status for c in await session.scalars(select(AutoTopUpCrossing))] == [
                "SKIPPED"]


class TestAudit:
    async def test_audit_is_clean_after_top_ups_and_finds_a_crossing_bought_twice(
            self, api: Any, db: Any):
        from sqlalchemy import update

        from billgate.billing import audit

        await set_top_up(api)
        for _ in range(2):
            await spend(api, 495 if await packs(db) else 85)
            await tick(api)
        assert await packs(db) == 2
        async with db.read_session() as session:
            assert [str(v) for v in await audit.run(session)] == []
        async with db.session() as session, session.begin():  # what a double purchase leaves
            first = await session.scalar(select(func.min(AutoTopUpCrossing.id)))
            await session.execute(update(AutoTopUpCrossing).where(AutoTopUpCrossing.id != first)
                                  .values(purchase_id=select(AutoTopUpCrossing.purchase_id)
                                          .where(AutoTopUpCrossing.id == first)
                                          .scalar_subquery()))
        async with db.read_session() as session:
            found = [v for v in await audit.run(session) if v.check == "top-ups"]
        assert found and "named by 2 crossings" in str(found[0])


class TestFailurePaths:
    async def test_a_product_no_longer_sold_turns_it_off_without_charging(self, api: Any,
                                                                         db: Any):
        await api.data(EMAIL, {"c": USER})
        await set_top_up(api)
        archived = await api.data("""mutation { archiveProduct(input: {productId: "credit-pack"})
          { userErrors { code } } }""")
        assert archived["archiveProduct"]["userErrors"] == []
        await spend(api, 90)
        await tick(api)
        top_up = (await item(api))["autoTopUp"]
        assert top_up["enabled"] is False and "credit-pack" in top_up["disabledReason"]
        [event] = await events(db, "auto_top_up.failed")
        assert event["data"]["reason"] == top_up["disabledReason"]
        assert await packs(db) == 0 and await count(db, Transaction) == 0
        assert await count(db, EmailOutbox, EmailOutbox.template == "payment_failed") == 0

    async def test_twins_buying_one_crossing_at_once_buy_once(self, api: Any, db: Any,
                                                              runtime: Any):
        import asyncio

        from billgate.billing.auto_top_up import purchase

        await set_top_up(api)
        await spend(api, 90)
        async with db.read_session() as session:
            [crossing] = (await session.scalars(select(AutoTopUpCrossing))).all()
        billing = await runtime.billing()
        done = await asyncio.gather(*[purchase.buy(billing, crossing.id, crossing.customer_pk,
                                                   now=runtime.clock.now()) for _ in range(4)])
        assert sorted(done) == [0, 0, 0, 1]
        assert (await packs(db), (await item(api))["quantity"]) == (1, 510)

    async def test_a_price_changed_during_the_charge_is_refunded_and_buys_nothing(
            self, api: Any, db: Any, runtime: Any):
        from billgate.billing import catalog, unit_of_work
        from billgate.billing.auto_top_up import purchase
        from billgate.billing.catalog_spec import parse_product
        from billgate.db.models import ChargeClaim
        from billgate.payments.rails import ChargeRequest
        from billgate.types import CustomerRef, CustomerType

        USER_REF = CustomerRef(CustomerType.USER, USER["customerId"])  # noqa: N806

        await set_top_up(api)
        await spend(api, 90)
        async with db.read_session() as session:
            [crossing] = (await session.scalars(select(AutoTopUpCrossing))).all()
        billing = await runtime.billing()
        _, claim = await unit_of_work.run(
            billing, crossing.customer_pk,
            lambda uow: purchase._claim(billing, crossing.id, uow), now=runtime.clock.now())
        assert claim is not None and claim.amount == 500
        await catalog.save(db, catalog.upsert_product, parse_product({  # 5.00 -> 6.00
            "productId": "credit-pack", "displayName": "500 credits", "customerType": "USER",
            "stackable": True, "prices": [{"priceId": "once", "amounts": {"USD": "6.00"}}],
            "includedItems": [{"itemId": "credits", "quantity": 500, "expires": "NEVER"}]}))
        result = await runtime.test_rails.charge(ChargeRequest(
            customer=USER_REF, amount=claim.amount, currency=claim.currency,
            description=claim.description, idempotency_key=claim.idempotency_key))
        outcome = await purchase.settle(billing, claim, result, now=runtime.clock.now())
        assert outcome.name == "COMPENSATED"
        async with db.read_session() as session:
            row = await session.get(ChargeClaim, claim.id)
            again = await session.get(AutoTopUpCrossing, crossing.id)
        assert row is not None and row.status == "COMPENSATED"
        assert again is not None and again.status == "FAILED" and "refunded" in (
            again.failure_message or "")
        assert await packs(db) == 0 and (await item(api))["quantity"] == 10
        assert (await item(api))["autoTopUp"]["enabled"] is True  # the next crossing may buy


class TestHotPath:
    async def test_a_balance_with_a_top_up_keeps_the_direct_path_until_it_crosses(
            self, api: Any, runtime: Any):
        from test_statement_counts import CUSTOMER, TRY_DECREASE, counted, warm

        from billgate.billing import operator_actions

        await warm(api)  # Free's 100, one spent
        done = await api.data(SET, {"input": {**pack(threshold=97), "customer": CUSTOMER}})
        assert done["setAutoTopUp"]["userErrors"] == []
        await operator_actions.flush(runtime.db)
        with counted(runtime) as statements:
            await api.data(TRY_DECREASE, {"c": CUSTOMER})  # 99 -> 98: above the threshold
        assert 0 < len(statements) <= 3, "\n".join(statements)
        assert all(sql.startswith("direct: ") for sql in statements), "\n".join(statements)
        with counted(runtime) as statements:
            await api.data(TRY_DECREASE, {"c": CUSTOMER})  # 98 -> 97: crosses
        assert any(not sql.startswith("direct: ") for sql in statements), (
            "the crossing is noted by the normal path")
        assert any("auto_top_up_crossings" in sql for sql in statements)
