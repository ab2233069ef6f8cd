"""Repeating item grants of purchases (``fulfil.run_due_repeats``): the calendar they follow,
their expiry rules, catching up, stopping when the purchase ends, and running once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from recording_bus import RecordingBus
from sqlalchemy import select

from billgate.billing import balances, items
from billgate.billing.catalog import upsert_product
from billgate.billing.catalog_spec import parse_product
from billgate.billing.purchases import fulfil, service
from billgate.clock import FrozenClock
from billgate.db.engine import Database
from billgate.db.models import Customer, ItemSchedule, Purchase
from billgate.types import CustomerRef, CustomerType

pytestmark = pytest.mark.usefixtures("example_catalog")

USER = CustomerRef(CustomerType.USER, "u1")
TEAM = CustomerRef(CustomerType.TEAM, "t1")
JAN_31 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
FEB_28 = datetime(2026, 2, 28, 12, 0, tzinfo=UTC)
MAR_31 = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
APR_30 = datetime(2026, 4, 30, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


async def add_products(db: Database, *products: dict[str, Any]) -> None:
    """Upsert products beside the example catalog (items and lines as in the example)."""
    async with db.session() as session, session.begin():
        for product in products:
            await upsert_product(session, parse_product(product))


async def run_repeats(db: Database, now: datetime) -> list[items.ChangeEvent]:
    async with db.session() as session, session.begin():
        return await fulfil.run_due_repeats(session, now=now)


async def run_billing(db: Database, now: datetime) -> list[items.ChangeEvent]:
    """The scheduler's billing work up to ``now`` in time order (renewals, then repeats):
    a subscription's repeats are granted only for periods its renewals paid
    (``subscriptions/paid_credits.py``); these are granted subscriptions, renewed free."""
    from billgate.billing.context import Billing
    from billgate.billing.payment_settings import PaymentSettings
    from billgate.payments.test_rails import TestRails
    from billgate.scheduler.runner import run_due

    bus = RecordingBus()
    billing = Billing(db=db, rails=TestRails(), test_mode=True, settings=PaymentSettings(),
                      base_url="http://billgate.test", bus=bus)
    await run_due(billing, now)
    return bus.item_events


async def credits(db: Database, clock: FrozenClock, customer: CustomerRef = USER) -> int:
    return (await items.get_balance(db, customer, "credits", clock=clock)).quantity


async def ledger(db: Database, clock: FrozenClock) -> list[tuple[str, int, datetime]]:
    """(reason, delta, at), oldest first."""
    rows = await items.list_changes(db, USER, "credits", limit=100, clock=clock)
    return [(r.reason, r.delta, r.created_at) for r in reversed(rows)]


async def grant(db: Database, clock: FrozenClock, product_id: str, **fields: Any) -> Purchase:
    return await service.grant_product(db, USER, product_id=product_id, inline=None,
                                       price_id=fields.pop("price_id", None),
                                       currency=None, quantity=fields.pop("quantity", 1),
                                       clock=clock)


async def end(db: Database, product_id: str, now: datetime) -> None:
    async with db.session() as session, session.begin():
        purchase = await session.scalar(select(Purchase).where(
            Purchase.product_id == product_id, Purchase.ended_at.is_(None)))
        assert purchase is not None
        customer = await session.get(Customer, purchase.customer_pk)
        assert customer is not None
        await fulfil.end(session, customer, purchase, now=now, status="CANCELED")


class TestCalendar:
    async def test_a_month_from_january_31(self, db, clock) -> None:
        assert clock.now() == JAN_31
        await service.owned_purchases(db, USER, clock=clock)  # free: 100 credits, monthly

        for at in (FEB_28, MAR_31, APR_30):
            assert await run_repeats(db, at - SECOND) == []
            events = await run_repeats(db, at)
            assert [e.delta for e in events if e.reason == "repeat"] == [100]

        clock.at = APR_30 + SECOND
        repeats = [at for reason, _, at in await ledger(db, clock) if reason == "repeat"]
        assert repeats == [FEB_28, MAR_31, APR_30], "anchored on Jan 31, not on Feb 28"

    async def test_the_schedule_says_when_next(self, db, clock) -> None:
        await service.owned_purchases(db, USER, clock=clock)
        await run_repeats(db, MAR_31)
        async with db.read_session() as session:
            schedule = await session.scalar(select(ItemSchedule))
        assert schedule is not None
        assert (schedule.anchor_at, schedule.next_at, schedule.repeat_count) == (
            JAN_31, APR_30, 3)

    async def test_a_yearly_plan_bought_on_february_29(self, db) -> None:
        clock = FrozenClock(datetime(2028, 2, 29, 9, 0, tzinfo=UTC))
        await add_products(db, {
            "productId": "leap", "displayName": "Leap", "customerType": "TEAM",
            "includedItems": [{"itemId": "seats", "quantity": 7,
                               "repeat": {"unit": "YEAR", "count": 1}, "expires": "NEVER"}]})
        await service.grant_product(db, TEAM, product_id="leap", inline=None, price_id=None,
                                    currency=None, quantity=1, clock=clock)

        assert await run_repeats(db, datetime(2029, 2, 28, 8, 59, tzinfo=UTC)) == []
        assert len(await run_repeats(db, datetime(2029, 2, 28, 9, 0, tzinfo=UTC))) == 1
        assert len(await run_repeats(db, datetime(2032, 2, 29, 9, 0, tzinfo=UTC))) == 3
        rows = await items.list_changes(db, TEAM, "seats", limit=100)
        assert [r.created_at.date().isoformat() for r in reversed(rows)] == [
            "2028-02-29", "2029-02-28", "2030-02-28", "2031-02-28", "2032-02-29"]


class TestExpiryRules:
    async def test_when_repeated_the_previous_grant_expires_as_the_next_arrives(
            self, db, clock) -> None:
        await service.owned_purchases(db, USER, clock=clock)
        await run_repeats(db, FEB_28)

        clock.at = FEB_28 + SECOND
        assert await credits(db, clock) == 100
        changes = await ledger(db, clock)
        assert sorted(changes) == sorted([
            ("purchase", 100, JAN_31), ("repeat", 100, FEB_28), ("expire", -100, FEB_28)])
        rows = await items.list_changes(db, USER, "credits", limit=100)
        assert max(r.quantity_after for r in rows) == 100, "never both grants at once"

    async def test_at_the_instant_of_the_repeat_only_the_new_grant_counts(self, db,
                                                                          clock) -> None:
        await service.owned_purchases(db, USER, clock=clock)
        await run_repeats(db, FEB_28)

        clock.at = FEB_28
        assert await credits(db, clock) == 100

    async def test_when_repeated_only_the_unused_remainder_expires(self, db, clock) -> None:
        await service.owned_purchases(db, USER, clock=clock)
        assert (await balances.try_decrease(db, USER, "credits", amount=30, clock=clock)).success
        await run_repeats(db, FEB_28)

        clock.at = FEB_28 + SECOND
        assert await credits(db, clock) == 100
        assert ("expire", -70, FEB_28) in await ledger(db, clock)

    async def test_a_late_run_catches_up_each_repeat_at_its_own_time(self, db, clock) -> None:
        await service.owned_purchases(db, USER, clock=clock)
        late = APR_30 + timedelta(days=3)
        events = await run_repeats(db, late)

        assert [e.reason for e in events].count("repeat") == 3
        clock.at = late
        assert await credits(db, clock) == 100
        assert [(r, at) for r, _, at in await ledger(db, clock) if r == "repeat"] == [
            ("repeat", FEB_28), ("repeat", MAR_31), ("repeat", APR_30)]

    async def test_never_expiring_repeats_add_up(self, db, clock) -> None:
        await add_products(db, {
            "productId": "drip", "displayName": "Daily drip", "customerType": "USER",
            "includedItems": [{"itemId": "credits", "quantity": 10,
                               "repeat": {"unit": "DAY", "count": 1}, "expires": "NEVER"}]})
        await grant(db, clock, "drip")
        await run_repeats(db, JAN_31 + timedelta(days=3))

        clock.at = JAN_31 + timedelta(days=3)
        assert await credits(db, clock) == 100 + 4 * 10

    async def test_when_purchase_expires_repeats_add_up_until_the_end(self, db, clock) -> None:
        await grant(db, clock, "enterprise")  # 10,000 monthly, WHEN_PURCHASE_EXPIRES
        await run_billing(db, MAR_31)
        clock.at = MAR_31
        assert await credits(db, clock) == 3 * 10_000

        await end(db, "enterprise", MAR_31 + SECOND)
        clock.at = MAR_31 + 2 * SECOND
        assert await credits(db, clock) == 100, "every enterprise grant expired; free is back"

    async def test_the_purchase_quantity_multiplies_each_repeat(self, db, clock) -> None:
        await add_products(db, {
            "productId": "seat-bundle", "displayName": "Bundle", "customerType": "USER",
            "stackable": True,
            "includedItems": [{"itemId": "credits", "quantity": 5,
                               "repeat": {"unit": "WEEK", "count": 1}, "expires": "NEVER"}]})
        await grant(db, clock, "seat-bundle", quantity=3)
        events = await run_repeats(db, JAN_31 + timedelta(weeks=1))

        assert [e.delta for e in events] == [15]


class TestStopsAndSnapshots:
    async def test_an_ended_purchase_repeats_no_more(self, db, clock) -> None:
        await grant(db, clock, "pro", price_id="pro-monthly")
        await end(db, "pro", JAN_31 + timedelta(days=10))

        events = await run_repeats(db, APR_30)
        clock.at = APR_30

        # only the returned free plan repeats, anchored on its return (Feb 10 -> Mar 10 -> Apr 10)
        assert [e.delta for e in events if e.reason == "repeat"] == [100, 100]
        assert await credits(db, clock) == 100

    async def test_a_stepped_aside_plan_repeats_no_more(self, db, clock) -> None:
        await service.owned_purchases(db, USER, clock=clock)
        clock.at = JAN_31 + timedelta(days=5)
        await grant(db, clock, "pro", price_id="pro-monthly")

        events = await run_billing(db, MAR_31)
        # free stepped aside on Feb 5 (no Feb 28 repeat); pro repeats on Mar 5
        assert [e.delta for e in events if e.reason == "repeat"] == [1000]
        clock.at = MAR_31
        assert await credits(db, clock) == 1000

    async def test_a_repeat_grants_what_was_sold_after_the_catalog_changes(self, db,
                                                                           clock) -> None:
        await grant(db, clock, "pro", price_id="pro-monthly")
        await add_products(db, {
            "productId": "pro", "displayName": "Pro", "customerType": "USER",
            "productLineId": "user-plans",
            "prices": [{"priceId": "pro-monthly", "amounts": {"USD": "19.00"},
                        "interval": {"unit": "MONTH", "count": 1}}],
            "includedItems": [{"itemId": "credits", "quantity": 5,
                               "repeat": {"unit": "MONTH", "count": 1},
                               "expires": "WHEN_REPEATED"}]})

        events = await run_billing(db, FEB_28)
        assert [e.delta for e in events if e.reason == "repeat"] == [1000]


class TestRunsOnce:
    async def test_a_second_run_finds_nothing_due(self, db, clock) -> None:
        await service.owned_purchases(db, USER, clock=clock)
        assert await run_repeats(db, FEB_28) != []
        assert await run_repeats(db, FEB_28) == []

    async def test_concurrent_runs_grant_each_repeat_once(self, db, clock) -> None:
        for n in range(5):
            await service.owned_purchases(db, CustomerRef(CustomerType.USER, f"u{n}"),
                                          clock=clock)

        results = await asyncio.gather(*(run_repeats(db, MAR_31) for _ in range(6)))

        repeats = [e for events in results for e in events if e.reason == "repeat"]
        assert len(repeats) == 5 * 2
        clock.at = MAR_31 + SECOND
        for n in range(5):
            assert await credits(db, clock, CustomerRef(CustomerType.USER, f"u{n}")) == 100

