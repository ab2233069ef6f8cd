"""Item ledger service: one class per public function; failures assert that nothing was written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from recording_bus import RecordingBus
from sqlalchemy import func, select, update

from billgate.billing import balances, catalog, items
from billgate.billing import customers as customer_service
from billgate.billing.catalog_spec import ItemSpec
from billgate.billing.items.ledger import BALANCE_MAX, BALANCE_MIN
from billgate.clock import FrozenClock
from billgate.db.engine import Database
from billgate.db.models import Customer, ItemBalance, ItemChange, ItemDefinition, ItemGrant
from billgate.errors import (
    CustomerTypeMismatch,
    IdempotencyKeyReused,
    InsufficientQuantity,
    InvalidInput,
    ItemNotFound,
)
from billgate.types import CustomerRef, CustomerType

USER = CustomerRef(CustomerType.USER, "user-1")
OTHER = CustomerRef(CustomerType.USER, "user-2")
TEAM = CustomerRef(CustomerType.TEAM, "team-1")
HOUR = timedelta(hours=1)
US = timedelta(microseconds=1)


@pytest.fixture
async def credits(db: Database) -> AsyncIterator[str]:
    """Live items: USER ``credits`` and ``seats``, TEAM ``team-seats``, archived ``old``."""
    async with db.session() as session, session.begin():
        for item_id, customer_type in (("credits", CustomerType.USER), ("seats", CustomerType.USER),
                                       ("team-seats", CustomerType.TEAM),
                                       ("old", CustomerType.USER)):
            await catalog.upsert_item(session, ItemSpec(item_id, item_id.title(), customer_type))
        old = await catalog.get_item_definition(session, "old")
        assert old is not None
        old.archived_at = datetime(2026, 1, 1, tzinfo=old.created_at.tzinfo)
    yield "credits"


async def db_state(db: Database) -> tuple[Any, ...]:
    """Everything a ledger operation may write."""
    async with db.read_session() as s:
        balances = (await s.execute(select(
            ItemBalance.id, ItemBalance.quantity, ItemBalance.tracked_remaining,
            ItemBalance.version, ItemBalance.next_expiry_at).order_by(ItemBalance.id))).all()
        grants = (await s.execute(select(ItemGrant.id, ItemGrant.remaining, ItemGrant.expired_at)
                                  .order_by(ItemGrant.id))).all()
        n_changes = await s.scalar(select(func.count()).select_from(ItemChange))
        n_customers = await s.scalar(select(func.count()).select_from(Customer))
    return balances, grants, n_changes, n_customers


async def ledger_rows(db: Database, ref: CustomerRef = USER,
                      item_id: str = "credits") -> list[ItemChange]:
    return list(reversed(await items.list_changes(db, ref, item_id, limit=1000)))


async def stored_balance(db: Database, ref: CustomerRef = USER,
                         item_id: str = "credits") -> ItemBalance:
    async with db.read_session() as s:
        row = await s.scalar(
            select(ItemBalance).join(Customer, Customer.id == ItemBalance.customer_pk)
            .join(ItemDefinition, ItemDefinition.id == ItemBalance.item_pk)
            .where(Customer.customer_id == ref.customer_id, ItemDefinition.item_id == item_id))
    assert row is not None
    return row


async def active_grants(db: Database) -> list[tuple[int, int, datetime | None]]:
    async with db.read_session() as s:
        rows = await s.execute(select(ItemGrant.quantity, ItemGrant.remaining, ItemGrant.expires_at)
                               .where(ItemGrant.expired_at.is_(None)).order_by(ItemGrant.id))
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def quantity(db: Database, clock: FrozenClock, ref: CustomerRef = USER,
                   item_id: str = "credits") -> int:
    return (await items.get_balance(db, ref, item_id, clock=clock)).quantity


async def grant_with_source(db: Database, clock: FrozenClock, amount: int, source: str, *,
                            ref: CustomerRef = USER, item_id: str = "credits",
                            expires_at: datetime | None = None) -> list[items.ChangeEvent]:
    async with db.session() as session, session.begin():
        customer = await customer_service.get_or_create(session, ref)
        item = await catalog.get_item_definition(session, item_id)
        assert item is not None
        return await items.grant(session, customer, item, quantity=amount, now=clock.now(),
                                 expires_at=expires_at, expire_with_source=True,
                                 reason="purchase", source=source)


async def set_quantity(db: Database, value: int) -> None:
    async with db.session() as s, s.begin():
        await s.execute(update(ItemBalance).values(quantity=value))


class TestTryDecrease:
    async def test_consumes_when_enough(self, db: Database, clock: FrozenClock, credits: str) -> None:
        await balances.increase(db, USER, credits, amount=10, clock=clock)
        result = await balances.try_decrease(db, USER, credits, amount=3, clock=clock,
                                          description="chat request")
        assert result.success and not result.replayed and result.error is None
        assert (result.balance.quantity, result.balance.version) == (7, 2)
        assert [(e.delta, e.quantity, e.version, e.reason) for e in result.changes] == [
            (-3, 7, 2, "consume")]
        last = (await ledger_rows(db))[-1]
        assert (last.id, last.delta, last.quantity_after, last.reason, last.description,
                last.created_at) == (result.change_id, -3, 7, "consume", "chat request",
                                     clock.now())

    async def test_consumes_down_to_exactly_zero(self, db: Database, clock: FrozenClock,
                                                 credits: str) -> None:
        await balances.increase(db, USER, credits, amount=4, clock=clock)
        assert (await balances.try_decrease(db, USER, credits, amount=4, clock=clock)).success
        assert await quantity(db, clock) == 0

    async def test_insufficient_writes_nothing(self, db: Database, clock: FrozenClock,
                                               credits: str) -> None:
        await balances.increase(db, USER, credits, amount=2, clock=clock)
        before = await db_state(db)
        result = await balances.try_decrease(db, USER, credits, amount=3, clock=clock)
        assert not result.success and result.change_id is None and result.changes == []
        assert isinstance(result.error, InsufficientQuantity)
        assert (result.error.requested, result.error.available, result.error.code) == (
            3, 2, "INSUFFICIENT_QUANTITY")
        assert (result.balance.quantity, result.balance.version) == (2, 1)
        assert await db_state(db) == before

    async def test_never_granted_fails_and_writes_only_the_customer(
            self, db: Database, clock: FrozenClock, credits: str) -> None:
        # A customer exists from its first reference (with its include-by-default products:
        # none in this catalog); the refused consumption itself writes nothing.
        before = await db_state(db)
        result = await balances.try_decrease(db, USER, credits, amount=1, clock=clock)
        assert not result.success and result.error is not None
        assert result.error.available == 0
        assert result.balance.customer_pk is not None
        assert (result.balance.quantity, result.balance.version) == (0, 0)
        after = await db_state(db)
        assert after[:3] == before[:3] and after[3] == before[3] + 1
        again = await balances.try_decrease(db, USER, credits, amount=1, clock=clock)
        assert again.balance == result.balance and await db_state(db) == after

    async def test_in_debt_fails(self, db: Database, clock: FrozenClock, credits: str) -> None:
        await balances.decrease(db, USER, credits, amount=5, clock=clock)
        before = await db_state(db)
        result = await balances.try_decrease(db, USER, credits, amount=1, clock=clock)
        assert not result.success and result.balance.quantity == -5
        assert result.balance.non_negative_quantity == 0
        assert await db_state(db) == before

    async def test_soonest_expiring_consumed_first(self, db: Database, clock: FrozenClock,
                                                   credits: str) -> None:
        t0 = clock.now()
        await balances.increase(db, USER, credits, amount=5, clock=clock)  # never expires
        await balances.increase(db, USER, credits, amount=5, clock=clock, expires_at=t0 + 2 * HOUR)
        await balances.increase(db, USER, credits, amount=5, clock=clock, expires_at=t0 + HOUR)
        await grant_with_source(db, clock, 5, "sub-1")
        assert (await balances.try_decrease(db, USER, credits, amount=7, clock=clock)).success
        assert await active_grants(db) == [(5, 3, t0 + 2 * HOUR), (5, 0, t0 + HOUR),
                                           (5, 5, None)]
        assert (await balances.try_decrease(db, USER, credits, amount=4, clock=clock)).success
        assert await active_grants(db) == [(5, 0, t0 + 2 * HOUR), (5, 0, t0 + HOUR),
                                           (5, 4, None)]
        balance = await stored_balance(db)
        assert (balance.quantity, balance.tracked_remaining, balance.next_expiry_at) == (9, 4, None)

    async def test_pool_used_only_after_buckets(self, db: Database, clock: FrozenClock,
                                                credits: str) -> None:
        t0 = clock.now()
        await balances.increase(db, USER, credits, amount=5, clock=clock)
        await balances.increase(db, USER, credits, amount=3, clock=clock, expires_at=t0 + HOUR)
        assert (await balances.try_decrease(db, USER, credits, amount=6, clock=clock)).success
        clock.at = t0 + HOUR
        assert await quantity(db, clock) == 2  # the bucket was used up: nothing expires

    async def test_due_expiry_counts_before_check_and_is_not_committed_on_failure(
            self, db: Database, clock: FrozenClock, credits: str) -> None:
        await balances.increase(db, USER, credits, amount=5, clock=clock, expires_at=clock.now() + HOUR)
        clock.advance(3600)
        before = await db_state(db)
        result = await balances.try_decrease(db, USER, credits, amount=1, clock=clock)
        assert not result.success and result.error is not None and result.error.available == 0
        assert (result.balance.quantity, result.balance.version) == (0, 2)  # as a read would see
        assert await db_state(db) == before
        snapshot = await items.get_balance(db, USER, credits, clock=clock)
        assert (snapshot.quantity, snapshot.version) == (0, 2)

    async def test_slow_path_success_settles_then_consumes(self, db: Database, clock: FrozenClock,
                                                           credits: str) -> None:
        t0 = clock.now()
        await balances.increase(db, USER, credits, amount=5, clock=clock, expires_at=t0 + HOUR)
        await balances.increase(db, USER, credits, amount=5, clock=clock, expires_at=t0 + 2 * HOUR)
        clock.at = t0 + HOUR
        result = await balances.try_decrease(db, USER, credits, amount=2, clock=clock)
        assert [(e.delta, e.quantity, e.version, e.reason) for e in result.changes] == [
            (-5, 5, 3, "expire"), (-2, 3, 4, "consume")]
        rows = await ledger_rows(db)
        assert rows[2].created_at == t0 + HOUR and rows[3].id == result.change_id

    @pytest.mark.parametrize(("ref", "item_id", "error"), [
        (USER, "nope", ItemNotFound), (USER, "old", ItemNotFound),
        (TEAM, "credits", CustomerTypeMismatch), (USER, "team-seats", CustomerTypeMismatch),
    ])
    async def test_bad_item_writes_nothing(self, db: Database, clock: FrozenClock, credits: str,
                                           ref: CustomerRef, item_id: str,
                                           error: type[Exception]) -> None:
        await balances.increase(db, USER, credits, amount=5, clock=clock)
        before = await db_state(db)
        with pytest.raises(error):
            await balances.try_decrease(db, ref, item_id, amount=1, clock=clock)
        assert await db_state(db) == before

    @pytest.mark.parametrize("amount", [0, -1, items.MAX_AMOUNT + 1, True, 1.0])
    async def test_bad_amount_writes_nothing(self, db: Database, clock: FrozenClock, credits: str,
                                             amount: Any) -> None:
        await balances.increase(db, USER, credits, amount=5, clock=clock)
        before = await db_state(db)
        with pytest.raises(InvalidInput) as raised:
            await balances.try_decrease(db, USER, credits, amount=amount, clock=clock)
        assert raised.value.field == ["amount"]
        assert await db_state(db) == before

    async def test_bad_customer_and_key_write_nothing(self, db: Database, clock: FrozenClock,
                                                      credits: str) -> None:
        before = await db_state(db)
        with pytest.raises(InvalidInput):
            await balances.try_decrease(db, CustomerRef(CustomerType.USER, " "), credits, amount=1,
                                     clock=clock)
        with pytest.raises(InvalidInput) as raised:
            await balances.try_decrease(db, USER, credits, amount=1, clock=clock,
                                     idempotency_key="k" * 201)
        assert raised.value.field == ["idempotencyKey"]
        assert await db_state(db) == before

    async def test_idempotent_replay_returns_first_result(self, db: Database, clock: FrozenClock,
                                                          credits: str) -> None:
        await balances.increase(db, USER, credits, amount=10, clock=clock)
        first = await balances.try_decrease(db, USER, credits, amount=3, clock=clock,
                                         idempotency_key="req-1")
        await balances.try_decrease(db, USER, credits, amount=2, clock=clock)
        before = await db_state(db)
        again = await balances.try_decrease(db, USER, credits, amount=3, clock=clock,
                                         idempotency_key="req-1")
        assert again.replayed and again.success and again.changes == []
        assert (again.change_id, again.balance) == (first.change_id, first.balance)
        assert await db_state(db) == before
        # the key is per customer: another customer may use it
        await balances.increase(db, OTHER, credits, amount=3, clock=clock)
        other = await balances.try_decrease(db, OTHER, credits, amount=3, clock=clock,
                                         idempotency_key="req-1")
        assert other.success and not other.replayed

    async def test_replay_succeeds_even_when_balance_is_now_short(
            self, db: Database, clock: FrozenClock, credits: str) -> None:
        await balances.increase(db, USER, credits, amount=3, clock=clock, expires_at=clock.now() + HOUR)
        first = await balances.try_decrease(db, USER, credits, amount=3, clock=clock,
                                         idempotency_key="req-1")
        again = await balances.try_decrease(db, USER, credits, amount=3, clock=clock,
                                         idempotency_key="req-1")
        assert again.replayed and again.change_id == first.change_id

    @pytest.mark.parametrize("call", ["try_decrease:4", "try_decrease:3:seats", "decrease:3"])
    async def test_key_reused_for_another_request_writes_nothing(
            self, db: Database, clock: FrozenClock, credits: str, call: str) -> None:
        await balances.increase(db, USER, credits, amount=10, clock=clock)
        await balances.increase(db, USER, "seats", amount=10, clock=clock)
        await balances.try_decrease(db, USER, credits, amount=3, clock=clock, idempotency_key="req-1")
        before = await db_state(db)
        kind, amount, *item = call.split(":")
        with pytest.raises(IdempotencyKeyReused) as raised:
            await getattr(balances, kind)(db, USER, item[0] if item else credits, amount=int(amount),
                                       clock=clock, idempotency_key="req-1")
        assert raised.value.code == "IDEMPOTENCY_KEY_REUSED"
        assert await db_state(db) == before

    async def test_key_reused_on_a_balance_never_granted(self, db: Database, clock: FrozenClock,
                                                          credits: str) -> None:
        await balances.increase(db, USER, credits, amount=1, clock=clock, idempotency_key="req-1")
        before = await db_state(db)
        with pytest.raises(IdempotencyKeyReused):
            await balances.try_decrease(db, USER, "seats", amount=1, clock=clock,
                                     idempotency_key="req-1")
        assert await db_state(db) == before

    async def test_failure_does_not_record_the_key(self, db: Database, clock: FrozenClock,
                                                   credits: str) -> None:
        failed = await balances.try_decrease(db, USER, credits, amount=2, clock=clock,
                                          idempotency_key="req-1")
        assert not failed.success
        await balances.increase(db, USER, credits, amount=2, clock=clock)
        retried = await balances.try_decrease(db, USER, credits, amount=2, clock=clock,
                                           idempotency_key="req-1")
        assert retried.success and not retried.replayed and retried.balance.quantity == 0

    async def test_concurrent_never_oversells(self, db: Database, clock: FrozenClock,
                                              credits: str) -> None:
        await balances.increase(db, USER, credits, amount=30, clock=clock)
        results = await asyncio.gather(*(
            balances.try_decrease(db, USER, credits, amount=1, clock=clock) for _ in range(100)))
        assert sum(r.success for r in results) == 30
        assert await quantity(db, clock) == 0
        rows = await ledger_rows(db)
        assert [r.reason for r in rows].count("consume") == 30
        assert [r.version for r in rows] == list(range(1, 32))
        assert sorted(r.balance.version for r in results if r.success) == list(range(2, 32))

    async def test_concurrent_never_oversells_buckets(self, db: Database, clock: FrozenClock,
                                                      credits: str) -> None:
        await balances.increase(db, USER, credits, amount=10, clock=clock)
        await balances.increase(db, USER, credits, amount=10, clock=clock,
                             expires_at=clock.now() + HOUR)
        await grant_with_source(db, clock, 10, "sub-1")
        results = await asyncio.gather(*(
            balances.try_decrease(db, USER, credits, amount=2, clock=clock) for _ in range(40)))
        assert sum(r.success for r in results) == 15
        balance = await stored_balance(db)
        assert (balance.quantity, balance.tracked_remaining, balance.version) == (0, 0, 18)
        assert [g[1] for g in await active_grants(db)] == [0, 0]

    async def test_concurrent_same_key_applies_once(self, db: Database, clock: FrozenClock,
                                                    credits: str) -> None:
        await balances.increase(db, USER, credits, amount=30, clock=clock)
        results = await asyncio.gather(*(
            balances.try_decrease(db, USER, credits, amount=1, clock=clock, idempotency_key="k")
            for _ in range(20)))
        assert {r.change_id for r in results} == {results[0].change_id}
        assert sum(not r.replayed for r in results) == 1
        assert await quantity(db, clock) == 29


class TestIncrease:
    async def test_grant_that_never_expires(self, db: Database, clock: FrozenClock,
                                            credits: str) -> None:
        result = await balances.increase(db, USER, credits, amount=5, clock=clock, description="gift")
        assert result.success and (result.balance.quantity, result.balance.version) == (5, 1)
        assert result.changes == [items.ChangeEvent("USER", "user-1", "credits", 5, 1, 5, "manual")]
        [row] = await ledger_rows(db)
        assert (row.delta, row.reason, row.description, row.expires_at) == (5, "manual", "gift", None)
        assert await active_grants(db) == []

    async def test_grant_with_expiry_is_a_bucket(self, db: Database, clock: FrozenClock,
                                                 credits: str) -> None:
        at = clock.now() + HOUR
        await balances.increase(db, USER, credits, amount=5, clock=clock, expires_at=at,
                             reason="refund")
        assert await active_grants(db) == [(5, 5, at)]
        balance = await stored_balance(db)
        assert (balance.tracked_remaining, balance.next_expiry_at) == (5, at)
        [row] = await ledger_rows(db)
        assert (row.reason, row.expires_at) == ("refund", at)

    async def test_debt_is_paid_first(self, db: Database, clock: FrozenClock, credits: str) -> None:
        t0 = clock.now()
        await balances.decrease(db, USER, credits, amount=5, clock=clock)
        await balances.increase(db, USER, credits, amount=3, clock=clock, expires_at=t0 + HOUR)
        assert await quantity(db, clock) == -2
        assert await active_grants(db) == []  # all of it paid debt: nothing can expire
        await balances.increase(db, USER, credits, amount=4, clock=clock, expires_at=t0 + HOUR)
        assert await active_grants(db) == [(4, 2, t0 + HOUR)]
        await balances.increase(db, USER, credits, amount=1, clock=clock)
        clock.at = t0 + HOUR
        assert await quantity(db, clock) == 1  # only the 2 left of the bucket expired

    async def test_never_expiring_grant_pays_debt(self, db: Database, clock: FrozenClock,
                                                  credits: str) -> None:
        await balances.decrease(db, USER, credits, amount=5, clock=clock)
        await balances.increase(db, USER, credits, amount=8, clock=clock)
        assert await quantity(db, clock) == 3

    @pytest.mark.parametrize("offset", [timedelta(0), -US, -HOUR])
    async def test_expiry_not_in_future_writes_nothing(self, db: Database, clock: FrozenClock,
                                                       credits: str, offset: timedelta) -> None:
        before = await db_state(db)
        with pytest.raises(InvalidInput) as raised:
            await balances.increase(db, USER, credits, amount=1, clock=clock,
                                 expires_at=clock.now() + offset)
        assert raised.value.field == ["expiresAt"]
        with pytest.raises(InvalidInput):
            await balances.increase(db, USER, credits, amount=1, clock=clock,
                                 expires_at=(clock.now() + HOUR).replace(tzinfo=None))
        assert await db_state(db) == before

    @pytest.mark.parametrize("expires", [False, True])
    async def test_overflow_writes_nothing(self, db: Database, clock: FrozenClock, credits: str,
                                           expires: bool) -> None:
        await balances.increase(db, USER, credits, amount=1, clock=clock)
        await set_quantity(db, BALANCE_MAX - 1)
        before = await db_state(db)
        with pytest.raises(InvalidInput) as raised:
            await balances.increase(db, USER, credits, amount=2, clock=clock,
                                 expires_at=clock.now() + HOUR if expires else None)
        assert raised.value.field == ["amount"]
        assert await db_state(db) == before
        assert (await balances.increase(db, USER, credits, amount=1, clock=clock)).balance.quantity \
            == BALANCE_MAX

    async def test_bad_reason_and_text_write_nothing(self, db: Database, clock: FrozenClock,
                                                     credits: str) -> None:
        before = await db_state(db)
        for kwargs in ({"reason": "expire"}, {"reason": "gift"}, {"description": "x" * 1001},
                       {"idempotency_key": ""}):
            with pytest.raises(InvalidInput):
                await balances.increase(db, USER, credits, amount=1, clock=clock, **kwargs)
        assert await db_state(db) == before

    async def test_idempotent_replay_includes_expiry_in_fingerprint(
            self, db: Database, clock: FrozenClock, credits: str) -> None:
        at = clock.now() + HOUR
        first = await balances.increase(db, USER, credits, amount=5, clock=clock, expires_at=at,
                                     idempotency_key="grant-1")
        again = await balances.increase(db, USER, credits, amount=5, clock=clock, expires_at=at,
                                     idempotency_key="grant-1")
        assert again.replayed and again.change_id == first.change_id
        with pytest.raises(IdempotencyKeyReused):
            await balances.increase(db, USER, credits, amount=5, clock=clock, idempotency_key="grant-1")
        assert await quantity(db, clock) == 5

    async def test_replay_after_the_grants_expiry_returns_the_first_result(
            self, db: Database, clock: FrozenClock, credits: str) -> None:
        at = clock.now() + HOUR
        first = await balances.increase(db, USER, credits, amount=5, clock=clock, expires_at=at,
                                     idempotency_key="timed")
        clock.at = at + HOUR
        assert await quantity(db, clock) == 0
        before = await db_state(db)
        again = await balances.increase(db, USER, credits, amount=5, clock=clock, expires_at=at,
                                     idempotency_key="timed")
        assert again.replayed and (again.change_id, again.balance) == (first.change_id,
                                                                       first.balance)
        assert await db_state(db) == before
        with pytest.raises(InvalidInput):  # a new key with a past expiry is still refused
            await balances.increase(db, USER, credits, amount=5, clock=clock, expires_at=at,
                                 idempotency_key="other")
        assert await db_state(db) == before

    async def test_concurrent_first_use_creates_one_balance(self, db: Database,
                                                            clock: FrozenClock,
                                                            credits: str) -> None:
        await asyncio.gather(*(balances.increase(db, USER, credits, amount=1, clock=clock)
                               for _ in range(30)))
        snapshot = await items.get_balance(db, USER, credits, clock=clock)
        assert (snapshot.quantity, snapshot.version) == (30, 30)
        rows, _, n_changes, n_customers = await db_state(db)
        assert (len(rows), n_changes, n_customers) == (1, 30, 1)


class TestDecrease:
    async def test_goes_into_debt(self, db: Database, clock: FrozenClock, credits: str) -> None:
        await balances.increase(db, USER, credits, amount=2, clock=clock)
        result = await balances.decrease(db, USER, credits, amount=5, clock=clock, reason="refund")
        assert (result.balance.quantity, result.balance.non_negative_quantity) == (-3, 0)
        assert (await ledger_rows(db))[-1].reason == "refund"

    async def test_buckets_then_pool_then_debt(self, db: Database, clock: FrozenClock,
                                               credits: str) -> None:
        t0 = clock.now()
        await balances.increase(db, USER, credits, amount=2, clock=clock)
        await balances.increase(db, USER, credits, amount=3, clock=clock, expires_at=t0 + HOUR)
        await balances.decrease(db, USER, credits, amount=10, clock=clock)
        balance = await stored_balance(db)
        assert (balance.quantity, balance.tracked_remaining, balance.next_expiry_at) == (-5, 0, None)
        assert await active_grants(db) == [(3, 0, t0 + HOUR)]
        clock.at = t0 + 2 * HOUR
        assert await quantity(db, clock) == -5  # a used-up bucket takes nothing when it expires

    async def test_underflow_writes_nothing(self, db: Database, clock: FrozenClock,
                                            credits: str) -> None:
        await balances.decrease(db, USER, credits, amount=1, clock=clock)
        await set_quantity(db, BALANCE_MIN + 1)
        before = await db_state(db)
        with pytest.raises(InvalidInput):
            await balances.decrease(db, USER, credits, amount=2, clock=clock)
        assert await db_state(db) == before

    async def test_bad_item_writes_nothing(self, db: Database, clock: FrozenClock,
                                           credits: str) -> None:
        before = await db_state(db)
        with pytest.raises(CustomerTypeMismatch):
            await balances.decrease(db, TEAM, credits, amount=1, clock=clock)
        with pytest.raises(ItemNotFound):
            await balances.decrease(db, USER, "old", amount=1, clock=clock)
        assert await db_state(db) == before


class TestGrant:
    async def test_grants_in_callers_transaction(self, db: Database, clock: FrozenClock,
                                                 credits: str) -> None:
        events = await grant_with_source(db, clock, 7, "purchase-1")
        assert events == [items.ChangeEvent("USER", "user-1", "credits", 7, 1, 7, "purchase")]
        assert await active_grants(db) == [(7, 7, None)]
        [row] = await ledger_rows(db)
        assert (row.source, row.reason) == ("purchase-1", "purchase")

    async def test_rolled_back_caller_leaves_nothing(self, db: Database, clock: FrozenClock,
                                                     credits: str) -> None:
        before = await db_state(db)
        with pytest.raises(RuntimeError):
            async with db.session() as session, session.begin():
                customer = await customer_service.get_or_create(session, USER)
                item = await catalog.get_item_definition(session, credits)
                assert item is not None
                await items.grant(session, customer, item, quantity=5, now=clock.now(),
                                  reason="purchase", source="p")
                raise RuntimeError("payment failed")
        assert await db_state(db) == before

    async def test_never_expiring_grant_has_no_bucket(self, db: Database, clock: FrozenClock,
                                                      credits: str) -> None:
        async with db.session() as session, session.begin():
            customer = await customer_service.get_or_create(session, USER)
            item = await catalog.get_item_definition(session, credits)
            assert item is not None
            await items.grant(session, customer, item, quantity=5, now=clock.now(),
                              reason="renewal", source="sub-1")
        assert await active_grants(db) == []
        async with db.session() as session, session.begin():
            assert await items.expire_source(session, "sub-1", now=clock.now()) == []
        assert await quantity(db, clock) == 5

    async def test_checks_write_nothing(self, db: Database, clock: FrozenClock,
                                        credits: str) -> None:
        before = await db_state(db)
        async with db.session() as session:
            team = Customer(id=-1, type="TEAM", customer_id="t")
            user = Customer(id=-2, type="USER", customer_id="u")
            item = await catalog.get_item_definition(session, credits)
            assert item is not None
            with pytest.raises(CustomerTypeMismatch):
                await items.grant(session, team, item, quantity=1, now=clock.now(),
                                  reason="purchase", source="p")
            with pytest.raises(InvalidInput) as raised:
                await items.grant(session, user, item, quantity=1, now=clock.now(),
                                  expire_with_source=True, reason="purchase", source=None)
            assert raised.value.field == ["source"]
            with pytest.raises(InvalidInput):
                await items.grant(session, user, item, quantity=0, now=clock.now(),
                                  reason="purchase", source="p")
            await session.rollback()
        assert await db_state(db) == before

    async def test_archived_item_can_still_be_granted(self, db: Database, clock: FrozenClock,
                                                      credits: str) -> None:
        async with db.session() as session, session.begin():
            customer = await customer_service.get_or_create(session, USER)
            old = await session.scalar(select(ItemDefinition).where(ItemDefinition.item_id == "old"))
            assert old is not None
            events = await items.grant(session, customer, old, quantity=2, now=clock.now(),
                                       reason="renewal", source="sub-1")
        assert [e.quantity for e in events] == [2]


class TestRevoke:
    async def test_removes_and_may_go_negative(self, db: Database, clock: FrozenClock,
                                               credits: str) -> None:
        await grant_with_source(db, clock, 3, "p-1")
        async with db.session() as session, session.begin():
            customer = await customer_service.get_or_create(session, USER)
            item = await catalog.get_item_definition(session, credits)
            assert item is not None
            events = await items.revoke(session, customer, item, quantity=5, now=clock.now(),
                                        reason="refund", source="p-1")
        assert [(e.delta, e.quantity, e.reason) for e in events] == [(-5, -2, "refund")]
        assert await active_grants(db) == [(3, 0, None)]


class TestExpireSource:
    async def test_only_unused_remainder_expires(self, db: Database, clock: FrozenClock,
                                                 credits: str) -> None:
        await balances.increase(db, USER, credits, amount=5, clock=clock)
        await grant_with_source(db, clock, 10, "sub-1")
        await balances.try_decrease(db, USER, credits, amount=4, clock=clock)
        clock.advance(60)
        async with db.session() as session, session.begin():
            events = await items.expire_source(session, "sub-1", now=clock.now())
        assert [(e.delta, e.quantity, e.version, e.reason) for e in events] == [
            (-6, 5, 4, "expire")]
        row = (await ledger_rows(db))[-1]
        assert (row.created_at, row.source) == (clock.now(), "sub-1")
        assert await quantity(db, clock) == 5
        assert await active_grants(db) == []

    async def test_every_balance_of_the_source_and_nothing_else(
            self, db: Database, clock: FrozenClock, credits: str) -> None:
        await grant_with_source(db, clock, 3, "sub-1")
        await grant_with_source(db, clock, 4, "sub-1", item_id="seats")
        await grant_with_source(db, clock, 5, "sub-1", ref=OTHER)
        await grant_with_source(db, clock, 6, "sub-2")
        async with db.session() as session, session.begin():
            events = await items.expire_source(session, "sub-1", now=clock.now())
        assert sorted((e.customer_id, e.item_id, e.delta) for e in events) == [
            ("user-1", "credits", -3), ("user-1", "seats", -4), ("user-2", "credits", -5)]
        assert await quantity(db, clock) == 6
        async with db.session() as session, session.begin():
            assert await items.expire_source(session, "sub-1", now=clock.now()) == []

    async def test_used_up_bucket_closes_without_ledger_row(self, db: Database,
                                                            clock: FrozenClock,
                                                            credits: str) -> None:
        await grant_with_source(db, clock, 3, "sub-1")
        await balances.try_decrease(db, USER, credits, amount=3, clock=clock)
        before_rows = len(await ledger_rows(db))
        async with db.session() as session, session.begin():
            assert await items.expire_source(session, "sub-1", now=clock.now()) == []
        assert await active_grants(db) == []
        assert len(await ledger_rows(db)) == before_rows

    async def test_due_dated_expiries_come_first(self, db: Database, clock: FrozenClock,
                                                 credits: str) -> None:
        t0 = clock.now()
        await balances.increase(db, USER, credits, amount=2, clock=clock, expires_at=t0 + HOUR)
        await grant_with_source(db, clock, 3, "sub-1", expires_at=t0 + 3 * HOUR)
        clock.at = t0 + 2 * HOUR
        async with db.session() as session, session.begin():
            events = await items.expire_source(session, "sub-1", now=clock.now())
        assert [(e.delta, e.version) for e in events] == [(-2, 3), (-3, 4)]
        rows = await ledger_rows(db)
        assert [r.created_at for r in rows[2:]] == [t0 + HOUR, t0 + 2 * HOUR]


class TestSettleDue:
    async def test_settles_due_balances(self, db: Database, clock: FrozenClock,
                                        credits: str) -> None:
        t0 = clock.now()
        await balances.increase(db, USER, credits, amount=2, clock=clock, expires_at=t0 + HOUR)
        await balances.increase(db, USER, credits, amount=3, clock=clock, expires_at=t0 + 3 * HOUR)
        await balances.increase(db, OTHER, credits, amount=4, clock=clock, expires_at=t0 + HOUR)
        await balances.increase(db, OTHER, "seats", amount=5, clock=clock, expires_at=t0 + 2 * HOUR)
        async with db.session() as session, session.begin():
            assert await items.settle_due(session, now=t0 + HOUR - US) == []
            events = await items.settle_due(session, now=t0 + HOUR)
        assert sorted((e.customer_id, e.item_id, e.delta, e.quantity) for e in events) == [
            ("user-1", "credits", -2, 3), ("user-2", "credits", -4, 0)]
        balance = await stored_balance(db)
        assert (balance.quantity, balance.next_expiry_at) == (3, t0 + 3 * HOUR)
        assert (await ledger_rows(db))[-1].created_at == t0 + HOUR

    async def test_limit(self, db: Database, clock: FrozenClock, credits: str) -> None:
        t0 = clock.now()
        for ref in (USER, OTHER):
            await balances.increase(db, ref, credits, amount=1, clock=clock, expires_at=t0 + HOUR)
        async with db.session() as session, session.begin():
            assert len(await items.settle_due(session, now=t0 + HOUR, limit=1)) == 1
            assert len(await items.settle_due(session, now=t0 + HOUR, limit=1)) == 1
            assert await items.settle_due(session, now=t0 + HOUR, limit=1) == []


class TestGetBalance:
    async def test_never_touched_reads_zero_and_creates_nothing(
            self, db: Database, clock: FrozenClock, credits: str) -> None:
        before = await db_state(db)
        snapshot = await items.get_balance(db, USER, credits, clock=clock)
        assert snapshot == items.BalanceSnapshot(None, "credits", 0, 0)
        await balances.increase(db, USER, "seats", amount=1, clock=clock)
        snapshot = await items.get_balance(db, USER, credits, clock=clock)
        assert (snapshot.customer_pk is not None, snapshot.quantity, snapshot.version) == (
            True, 0, 0)
        assert (await db_state(db))[0][1:] == before[0][1:]

    async def test_expiry_is_exact(self, db: Database, clock: FrozenClock, credits: str) -> None:
        at = clock.now() + HOUR
        await balances.increase(db, USER, credits, amount=3, clock=clock)
        await balances.increase(db, USER, credits, amount=5, clock=clock, expires_at=at)
        clock.at = at - US
        assert (await items.get_balance(db, USER, credits, clock=clock)).quantity == 8
        assert len(await ledger_rows(db)) == 2  # a plain read wrote nothing
        clock.at = at
        bus = RecordingBus()
        snapshot = await items.get_balance(db, USER, credits, clock=clock, bus=bus)
        assert (snapshot.quantity, snapshot.version) == (3, 3)
        assert bus.item_events == [
            items.ChangeEvent("USER", "user-1", "credits", 3, 3, -5, "expire")]
        row = (await ledger_rows(db))[-1]
        assert (row.reason, row.delta, row.created_at) == ("expire", -5, at)
        balance = await stored_balance(db)
        assert (balance.tracked_remaining, balance.next_expiry_at) == (0, None)

    async def test_settles_each_expiry_in_order_without_scheduler(
            self, db: Database, clock: FrozenClock, credits: str) -> None:
        t0 = clock.now()
        for hours, amount in ((3, 1), (1, 2), (2, 4)):
            await balances.increase(db, USER, credits, amount=amount, clock=clock,
                                 expires_at=t0 + hours * HOUR)
        clock.at = t0 + 5 * HOUR
        assert await quantity(db, clock) == 0
        rows = (await ledger_rows(db))[3:]
        assert [(r.version, r.delta, r.quantity_after, r.created_at) for r in rows] == [
            (4, -2, 5, t0 + HOUR), (5, -4, 1, t0 + 2 * HOUR), (6, -1, 0, t0 + 3 * HOUR)]

    async def test_bad_item(self, db: Database, clock: FrozenClock, credits: str) -> None:
        with pytest.raises(ItemNotFound):
            await items.get_balance(db, USER, "old", clock=clock)
        with pytest.raises(CustomerTypeMismatch):
            await items.get_balance(db, TEAM, credits, clock=clock)


class TestListBalances:
    async def test_every_live_item_of_the_type(self, db: Database, clock: FrozenClock,
                                               credits: str) -> None:
        t0 = clock.now()
        assert [(d.item_id, b.quantity) for d, b in
                await items.list_balances(db, USER, clock=clock)] == [("credits", 0), ("seats", 0)]
        await balances.increase(db, USER, credits, amount=3, clock=clock)
        await balances.increase(db, USER, "seats", amount=2, clock=clock, expires_at=t0 + HOUR)
        await balances.increase(db, OTHER, "seats", amount=9, clock=clock)
        clock.at = t0 + HOUR
        listed = await items.list_balances(db, USER, clock=clock)
        assert [(d.item_id, b.quantity, b.version) for d, b in listed] == [
            ("credits", 3, 1), ("seats", 0, 2)]
        assert [d.item_id for d, _ in await items.list_balances(db, TEAM, clock=clock)] == [
            "team-seats"]


class TestListBalancesMany:
    async def test_every_live_item_of_each_customers_type(
            self, db: Database, clock: FrozenClock, credits: str) -> None:
        await balances.increase(db, USER, credits, amount=3, clock=clock)
        await balances.increase(db, OTHER, "seats", amount=9, clock=clock)
        await balances.increase(db, TEAM, "team-seats", amount=4, clock=clock)
        never_seen = CustomerRef(CustomerType.USER, "user-never")
        refs = [TEAM, USER, never_seen, OTHER, USER]  # any order, repeats allowed
        many = await items.list_balances_many(db, refs, clock=clock)
        assert [[(d.item_id, b.quantity) for d, b in listed] for listed in many] == [
            [("team-seats", 4)], [("credits", 3), ("seats", 0)], [("credits", 0), ("seats", 0)],
            [("credits", 0), ("seats", 9)], [("credits", 3), ("seats", 0)]]
        assert {b.customer_pk for _, b in many[2]} == {None}
        assert await items.list_balances_many(db, [], clock=clock) == []

    async def test_settles_every_due_expiry_in_one_transaction(
            self, db: Database, clock: FrozenClock, credits: str) -> None:
        t0 = clock.now()
        await balances.increase(db, USER, credits, amount=5, clock=clock, expires_at=t0 + HOUR)
        await balances.increase(db, USER, credits, amount=1, clock=clock)
        await balances.increase(db, OTHER, "seats", amount=2, clock=clock, expires_at=t0 + HOUR)
        await balances.increase(db, OTHER, credits, amount=7, clock=clock, expires_at=t0 + 2 * HOUR)
        clock.at = t0 + HOUR
        bus = RecordingBus()
        many = await items.list_balances_many(db, [USER, OTHER], clock=clock, bus=bus)
        assert [[(d.item_id, b.quantity) for d, b in listed] for listed in many] == [
            [("credits", 1), ("seats", 0)], [("credits", 7), ("seats", 0)]]
        assert bus.item_events == [  # announced after the one commit, in balance-id (lock) order
            items.ChangeEvent("USER", "user-1", "credits", 1, 3, -5, "expire"),
            items.ChangeEvent("USER", "user-2", "seats", 0, 2, -2, "expire")]
        assert (await ledger_rows(db, OTHER, "seats"))[-1].created_at == t0 + HOUR

    async def test_a_bad_ref_reads_nothing(self, db: Database, clock: FrozenClock,
                                           credits: str) -> None:
        with pytest.raises(InvalidInput):
            await items.list_balances_many(db, [USER, CustomerRef(CustomerType.USER, " ")],
                                           clock=clock)


class TestListChanges:
    async def test_newest_first_with_keyset(self, db: Database, clock: FrozenClock,
                                            credits: str) -> None:
        for amount in range(1, 6):
            await balances.increase(db, USER, credits, amount=amount, clock=clock)
        page = await items.list_changes(db, USER, credits, limit=2)
        assert [r.version for r in page] == [5, 4]
        page = await items.list_changes(db, USER, credits, before_version=4, limit=10)
        assert [r.version for r in page] == [3, 2, 1]
        assert await items.list_changes(db, OTHER, credits, limit=10) == []
        with pytest.raises(InvalidInput):
            await items.list_changes(db, USER, credits, limit=0)

    async def test_with_clock_shows_due_expiries(self, db: Database, clock: FrozenClock,
                                                 credits: str) -> None:
        await balances.increase(db, USER, credits, amount=2, clock=clock, expires_at=clock.now() + HOUR)
        clock.advance(3600)
        assert [r.version for r in await items.list_changes(db, USER, credits, limit=5)] == [1]
        rows = await items.list_changes(db, USER, credits, limit=5, clock=clock)
        assert [(r.version, r.reason) for r in rows] == [(2, "expire"), (1, "manual")]


class TestChangesSince:
    async def test_ascending_after_version(self, db: Database, clock: FrozenClock,
                                           credits: str) -> None:
        for amount in range(1, 5):
            await balances.increase(db, USER, credits, amount=amount, clock=clock)
        rows = await items.changes_since(db, USER, credits, after_version=2)
        assert [(r.version, r.quantity_after) for r in rows] == [(3, 6), (4, 10)]
        assert await items.changes_since(db, USER, credits, after_version=4) == []
