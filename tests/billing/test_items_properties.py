"""Property test: random grants, removals, source expiries and clock moves keep the stored
balance equal to a plain model of buckets (the rules of DESIGN.md "Item ledger")."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from billgate.billing import balances, catalog, items
from billgate.billing import customers as customer_service
from billgate.billing.catalog_spec import ItemSpec
from billgate.clock import FrozenClock
from billgate.db.engine import Database
from billgate.db.models import Customer, ItemBalance, ItemChange, ItemGrant
from billgate.types import CustomerRef, CustomerType

T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
NEVER = datetime.max.replace(tzinfo=UTC)
ITEM = "credits"
SOURCES = ("sub-a", "sub-b")


@dataclass
class Bucket:
    id: int
    remaining: int
    expires_at: datetime | None
    source: str | None


@dataclass
class Model:
    """The rules, written as plainly as possible."""

    quantity: int = 0
    version: int = 0
    buckets: list[Bucket] = field(default_factory=list)

    def settle(self, now: datetime) -> None:
        due = [b for b in self.buckets if b.expires_at is not None and b.expires_at <= now]
        for bucket in sorted(due, key=lambda b: (b.expires_at, b.id)):
            self._expire(bucket)

    def grant(self, n: int, expires_at: datetime | None, source: str | None,
              now: datetime) -> None:
        self.settle(now)
        if expires_at is not None or source is not None:
            left = n - min(n, max(0, -self.quantity))  # debt is paid first
            if left:
                self.buckets.append(Bucket(self.version, left, expires_at, source))
        self.quantity += n
        self.version += 1

    def remove(self, n: int, now: datetime, *, must_cover: bool) -> bool:
        self.settle(now)
        if must_cover and self.quantity < n:
            return False
        left = n
        for bucket in sorted(self.buckets, key=lambda b: (b.expires_at or NEVER, b.id)):
            take = min(left, bucket.remaining)
            bucket.remaining -= take
            left -= take
        self.quantity -= n
        self.version += 1
        return True

    def expire_source(self, source: str, now: datetime) -> None:
        self.settle(now)
        for bucket in [b for b in self.buckets if b.source == source]:
            self._expire(bucket)

    def _expire(self, bucket: Bucket) -> None:
        self.buckets.remove(bucket)
        if bucket.remaining:
            self.quantity -= bucket.remaining
            self.version += 1

    @property
    def tracked(self) -> int:
        return sum(b.remaining for b in self.buckets)

    @property
    def next_expiry_at(self) -> datetime | None:
        return min((b.expires_at for b in self.buckets if b.remaining and b.expires_at),
                   default=None)


amounts = st.integers(min_value=1, max_value=12)
# Drawn from plain lists: one_of / none() | x lean hard towards their simplest branch, which
# would leave few programs where several buckets are alive when something is removed.
STEPS = {
    "grant": st.tuples(st.just("grant"), amounts,
                       st.sampled_from([None, 60, 3600, 86400]),  # seconds to expiry
                       st.sampled_from([None, None, *SOURCES])),
    "try_decrease": st.tuples(st.just("try_decrease"), amounts),
    "decrease": st.tuples(st.just("decrease"), amounts),
    "expire_source": st.tuples(st.just("expire_source"), st.sampled_from(SOURCES)),
    "advance": st.tuples(st.just("advance"), st.sampled_from([1, 59, 60, 3600])),
    # land exactly on (or a microsecond either side of) the next expiry
    "to_next_expiry": st.tuples(st.just("to_next_expiry"), st.sampled_from([-1, 0, 1])),
    "settle_due": st.just(("settle_due",)),
}
WEIGHTS = ["grant"] * 5 + ["try_decrease"] * 3 + ["decrease"] * 2 + [
    "expire_source", "advance", "to_next_expiry", "settle_due"]
steps = st.sampled_from(WEIGHTS).flatmap(STEPS.__getitem__)


@pytest.fixture
async def item(db: Database) -> AsyncIterator[str]:
    async with db.session() as session, session.begin():
        await catalog.upsert_item(session, ItemSpec(ITEM, "Credits", CustomerType.USER))
    yield ITEM


async def run_step(db: Database, clock: FrozenClock, ref: CustomerRef, model: Model,
                   step: tuple[object, ...]) -> None:
    now = clock.now()
    match step:
        case ("grant", int(n), None | int() as seconds, None):
            expires_at = None if seconds is None else now + timedelta(seconds=seconds)
            result = await balances.increase(db, ref, ITEM, amount=n, clock=clock,
                                          expires_at=expires_at)
            model.grant(n, expires_at, None, now)
            assert result.balance.version == model.version
        case ("grant", int(n), None | int() as seconds, str(source)):
            expires_at = None if seconds is None else now + timedelta(seconds=seconds)
            async with db.session() as session, session.begin():
                customer = await customer_service.get_or_create(session, ref)
                definition = await catalog.get_item_definition(session, ITEM)
                assert definition is not None
                await items.grant(session, customer, definition, quantity=n, now=now,
                                  expires_at=expires_at, expire_with_source=True,
                                  reason="repeat", source=source)
            model.grant(n, expires_at, source, now)
        case ("try_decrease", int(n)):
            result = await balances.try_decrease(db, ref, ITEM, amount=n, clock=clock)
            assert result.success == model.remove(n, now, must_cover=True)
        case ("decrease", int(n)):
            await balances.decrease(db, ref, ITEM, amount=n, clock=clock)
            model.remove(n, now, must_cover=False)
        case ("expire_source", str(source)):
            async with db.session() as session, session.begin():
                await items.expire_source(session, source, now=now)
            model.expire_source(source, now)
        case ("advance", int(seconds)):
            clock.advance(seconds)
        case ("to_next_expiry", int(offset)):
            if model.next_expiry_at is not None:
                clock.at = max(now, model.next_expiry_at + timedelta(microseconds=offset))
        case ("settle_due",):
            async with db.session() as session, session.begin():
                await items.settle_due(session, now=now)
        case _:
            raise AssertionError(step)


async def check(db: Database, clock: FrozenClock, ref: CustomerRef, model: Model) -> None:
    snapshot = await items.get_balance(db, ref, ITEM, clock=clock)
    model.settle(clock.now())
    assert (snapshot.quantity, snapshot.version) == (model.quantity, model.version)
    if model.version == 0:
        return
    async with db.read_session() as session:
        versions = select(func.count()).where(ItemChange.balance_id == ItemBalance.id)
        total = select(func.coalesce(func.sum(ItemChange.delta), 0)).where(
            ItemChange.balance_id == ItemBalance.id)
        balance_id, tracked, next_expiry_at, count, deltas = (await session.execute(
            select(ItemBalance.id, ItemBalance.tracked_remaining, ItemBalance.next_expiry_at,
                   versions.scalar_subquery(), total.scalar_subquery())
            .join(Customer).where(Customer.customer_id == ref.customer_id))).one()
        # bucket by bucket, so the consumption order shows even where totals agree
        buckets = (await session.execute(
            select(ItemGrant.expires_at, ItemGrant.source, ItemGrant.remaining)
            .where(ItemGrant.balance_id == balance_id, ItemGrant.expired_at.is_(None),
                   ItemGrant.remaining > 0).order_by(ItemGrant.id))).all()
    assert (tracked, next_expiry_at) == (model.tracked, model.next_expiry_at)
    assert (count, deltas) == (model.version, model.quantity)  # one ledger row per version
    assert [tuple(b) for b in buckets] == [
        (b.expires_at, b.source, b.remaining) for b in model.buckets if b.remaining]


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(program=st.lists(steps, min_size=8, max_size=30))
async def test_balance_matches_bucket_model(db: Database, item: str,
                                            program: list[tuple[object, ...]]) -> None:
    # a fresh customer per example keeps examples apart without wiping the database
    ref = CustomerRef(CustomerType.USER, f"prop-{uuid.uuid4().hex}")
    clock = FrozenClock(T0)
    model = Model()
    for step in program:
        await run_step(db, clock, ref, model, step)
        await check(db, clock, ref, model)
