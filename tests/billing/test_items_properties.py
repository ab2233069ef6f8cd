"""Property test: random grants, removals, source expiries, clock moves, holds (reserve,
commit, release: ``items/holds.py``), a product whose WHEN_REPEATED credits roll over
(``purchases/fulfil._rollover``: at each daily repeat what expired unused, up to the cap,
comes back) and an overage plan owned and ended (``items/overage.py``: tryDecrease down to
``-limit`` while owned, the debt billed to 0 when it ends) keep the stored balance equal to
a plain model of buckets (the rules of DESIGN.md "Item ledger")."""

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
from billgate.billing.catalog_spec import ItemSpec, parse_product
from billgate.billing.purchases import fulfil
from billgate.billing.purchases import service as purchases
from billgate.clock import FrozenClock
from billgate.db.engine import Database
from billgate.db.models import Customer, ItemBalance, ItemChange, ItemGrant
from billgate.types import CustomerRef, CustomerType

T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
NEVER = datetime.max.replace(tzinfo=UTC)
ITEM = "credits"
SOURCES = ("sub-a", "sub-b")
LIMIT = 20  # the overage plan's: tryDecrease may go down to -20 while it is owned
PLAN = {"productId": "metered", "displayName": "Metered", "customerType": "USER",
        "prices": [{"priceId": "monthly", "amounts": {"USD": "10.00"},
                    "interval": {"unit": "MONTH", "count": 1}}],
        "overage": [{"itemId": ITEM, "limit": LIMIT, "unitAmounts": {"USD": "0.05"}}]}
ROLLING = {"productId": "rolling", "displayName": "Rolling", "customerType": "USER",
           "includedItems": [{"itemId": ITEM, "quantity": 10, "repeat": {"unit": "DAY", "count": 1},
                              "expires": "WHEN_REPEATED", "rollover": 6}]}
DAY = timedelta(days=1)
HOLD_TTL = 604800  # seconds (the most allowed): no hold expires within a program


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
    reserved: int = 0
    holds: list[int] = field(default_factory=list)  # the amounts of the HELD holds, in order
    limit: int = 0  # the owned plan's overage limit (0: none owned)
    # Rolling: its purchase's source and next repeat; every expiry as (source, at, amount).
    rolling: str | None = None
    next_repeat: datetime | None = None
    expired: list[tuple[str | None, datetime, int]] = field(default_factory=list)

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
        # Holds count against a try_decrease; an owned plan's overage lets it go to -limit.
        if must_cover and self.quantity - self.reserved - n < -self.limit:
            return False
        left = n
        for bucket in sorted(self.buckets, key=lambda b: (b.expires_at or NEVER, b.id)):
            take = min(left, bucket.remaining)
            bucket.remaining -= take
            left -= take
        self.quantity -= n
        self.version += 1
        return True

    def reserve(self, n: int, now: datetime) -> bool:
        """A hold never goes into overage: what holds leave must cover it."""
        self.settle(now)
        if self.quantity - self.reserved < n:
            return False
        self.reserved += n
        self.holds.append(n)
        self.version += 1
        return True

    def end_hold(self, index: int, used: int | None, now: datetime) -> None:
        """Commit ``used`` (None: all; may go into debt) or release (``used`` 0)."""
        self.settle(now)
        held = self.holds.pop(index)
        self.reserved -= held
        used = held if used is None else min(used, held)
        if used:
            self.remove(used, now, must_cover=False)  # one ledger row: the consumption
        else:
            self.version += 1  # a delta-0 row letting go

    def end_plan(self, now: datetime) -> None:
        """The plan ends: its debt is billed, one ledger row back to 0; no more overage."""
        self.settle(now)
        if self.quantity < 0:
            self.quantity = 0
            self.version += 1
        self.limit = 0

    def repeat_due(self, now: datetime) -> None:
        """Rolling's repeats due by ``now``, each at its time ``T``: what its grants left
        unused at ``T`` comes back up to the cap (6), then the new 10; both expire at the next
        repeat."""
        while self.next_repeat is not None and self.next_repeat <= now:
            at, following = self.next_repeat, self.next_repeat + DAY
            self.settle(at)
            unused = sum(n for source, when, n in self.expired
                         if source == self.rolling and when == at)
            if min(6, unused):
                self.grant(min(6, unused), following, self.rolling, at)
            self.grant(10, following, self.rolling, at)
            self.next_repeat = following

    def expire_source(self, source: str, now: datetime) -> None:
        self.settle(now)
        for bucket in [b for b in self.buckets if b.source == source]:
            self._expire(bucket, now)

    def _expire(self, bucket: Bucket, at: datetime | None = None) -> None:
        self.buckets.remove(bucket)
        assert bucket.expires_at is not None or at is not None
        self.expired.append((bucket.source, at or bucket.expires_at, bucket.remaining))  # type: ignore[arg-type]
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
    "reserve": st.tuples(st.just("reserve"), amounts),
    "commit": st.tuples(st.just("commit"), st.integers(0, 3),
                        st.sampled_from([None, 0, 1, 5, 12])),
    "release": st.tuples(st.just("release"), st.integers(0, 3)),
    "own_plan": st.just(("own_plan",)),
    "end_plan": st.just(("end_plan",)),
    "own_rolling": st.just(("own_rolling",)),
    "repeat": st.just(("repeat",)),
    "days": st.tuples(st.just("advance"), st.sampled_from([86400, 86400 - 1, 86400 + 1])),
}
WEIGHTS = ["grant"] * 5 + ["try_decrease"] * 4 + ["decrease"] * 2 + [
    "expire_source", "advance", "to_next_expiry", "settle_due"] + [
    "reserve"] * 2 + ["commit", "release"] + ["own_plan"] * 2 + ["end_plan"] + [
    "own_rolling"] * 2 + ["repeat"] * 3 + ["days"] * 2
steps = st.sampled_from(WEIGHTS).flatmap(STEPS.__getitem__)


@pytest.fixture
async def item(db: Database) -> AsyncIterator[str]:
    async with db.session() as session, session.begin():
        await catalog.upsert_item(session, ItemSpec(ITEM, "Credits", CustomerType.USER))
        await catalog.upsert_product(session, parse_product(PLAN))
        await catalog.upsert_product(session, parse_product(ROLLING))
    yield ITEM


async def end_plan(db: Database, ref: CustomerRef, now: datetime) -> None:
    from billgate.billing.context import Billing
    from billgate.billing.payment_settings import PaymentSettings
    from billgate.billing.subscriptions import operations
    from billgate.payments.test_rails import TestRails

    billing = Billing(db=db, rails=TestRails(), test_mode=True, settings=PaymentSettings(),
                      base_url="http://billgate.test")
    await operations.cancel(billing, ref, operations.Selector(product_id="metered"),
                            immediately=True, now=now)


async def run_step(db: Database, clock: FrozenClock, ref: CustomerRef, model: Model,
                   step: tuple[object, ...], held: list[int]) -> None:
    """One step on the database and the model; ``held``: the HELD reservations' ids."""
    now = clock.now()
    match step:
        case ("reserve", int(n)):
            result = await balances.reserve(db, ref, ITEM, amount=n, ttl_seconds=HOLD_TTL,
                                            clock=clock)
            assert result.success == model.reserve(n, now)
            if result.success:
                assert result.reservation is not None
                held.append(result.reservation.id)
        case ("commit" | "release" as kind, int(index), *rest) if held:
            index %= len(held)
            if kind == "commit":
                used = rest[0]
                assert isinstance(used, int | None)
                used = None if used is None else min(used, model.holds[index])
                await balances.commit_reservation(db, held.pop(index), clock=clock, amount=used)
            else:
                used = 0
                await balances.release_reservation(db, held.pop(index), clock=clock)
            model.end_hold(index, used, now)
        case ("commit" | "release", *_):
            pass  # nothing held
        case ("own_plan",) if model.limit == 0:
            await purchases.grant_product(db, ref, product_id="metered", inline=None,
                                          price_id=None, currency=None, quantity=1, clock=clock)
            model.limit = LIMIT
        case ("end_plan",) if model.limit:
            await end_plan(db, ref, now)
            model.end_plan(now)
        case ("own_plan" | "end_plan",):
            pass  # already owned / not owned
        case ("own_rolling",) if model.rolling is None:
            bought = await purchases.grant_product(db, ref, product_id="rolling", inline=None,
                                                   price_id=None, currency=None, quantity=1,
                                                   clock=clock)
            model.rolling, model.next_repeat = f"purchase:{bought.id}", now + DAY
            model.grant(10, now + DAY, model.rolling, now)
        case ("own_rolling",):
            pass
        case ("repeat",):
            async with db.session() as session, session.begin():
                await fulfil.run_due_repeats(session, now=now)
            model.repeat_due(now)
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
    assert (snapshot.quantity, snapshot.version, snapshot.reserved) == (
        model.quantity, model.version, model.reserved)
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


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(program=st.lists(steps, min_size=8, max_size=30))
async def test_balance_matches_bucket_model(db: Database, item: str,
                                            program: list[tuple[object, ...]]) -> None:
    # a fresh customer per example keeps examples apart without wiping the database
    ref = CustomerRef(CustomerType.USER, f"prop-{uuid.uuid4().hex}")
    clock = FrozenClock(T0)
    model = Model()
    held: list[int] = []
    for step in program:
        await run_step(db, clock, ref, model, step, held)
        await check(db, clock, ref, model)
