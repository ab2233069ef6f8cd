"""Differential test of the direct path (``db/direct.py``, ``items/direct.py``, the direct
reads of ``hasAccess`` and the customer check): random programs run step by step on two
databases, one with the direct path and one without (every call takes the normal path).
Every answer (balances, versions, success, replays, errors, events) and, after each
program, the customer's ledger, buckets, balances and purchases must be identical; and
the direct path must have answered a real share of the steps, or the comparison proves
nothing.

The rules the direct path shortcuts are stated once (``items/rules.py``,
``purchases/ownership.py``) and compiled into its SQL; this test is what holds the
compiled shortcuts to the normal path's Python arithmetic (``items/ledger.py``).

Runs on SQLite, or on PostgreSQL when ``BILLGATE_TEST_DATABASE_URL`` is set (two fresh
databases of its own). Sync on purpose: the test drives its own event loop, so Hypothesis
runs plain functions and one tally spans every example.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from billgate.billing import balances, catalog, items
from billgate.billing import customers as customer_service
from billgate.billing.auto_top_up import settings as top_up_settings
from billgate.billing.catalog_spec import ItemSpec, ProductSpec, parse_product
from billgate.billing.context import Scope
from billgate.billing.items import direct as items_direct
from billgate.billing.items import holds
from billgate.billing.items.ledger import BALANCE_MAX
from billgate.billing.items.results import ChangeResult
from billgate.billing.purchases import access
from billgate.billing.purchases import service as purchases
from billgate.clock import FrozenClock
from billgate.db.engine import Database
from billgate.db.migrate import upgrade_async
from billgate.db.models import (
    AutoTopUpCrossing,
    Customer,
    ItemBalance,
    ItemChange,
    ItemDefinition,
    ItemGrant,
    ItemReservation,
    Purchase,
)
from billgate.errors import BillgateError
from billgate.types import CustomerRef, CustomerType
from testdb import create_pg_database, drop_pg_database

PG_URL = os.environ.get("BILLGATE_TEST_DATABASE_URL", "")
EXAMPLES = int(os.environ.get("BILLGATE_DIFFERENTIAL_EXAMPLES", "200"))
# The share of database steps the direct path must have answered: 29-44% across runs
# (Hypothesis draws differ per run; steps after a catalog change are the normal path's),
# so the floor is well below that and far above what a direct path that stopped serving
# (0%) would give.
MIN_SHARE = 0.2
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ITEM = "credits"  # USER; Free includes 100 a month (a dated bucket of its source)
OTHER_TYPE_ITEM = "seats"  # TEAM: a USER asking for it is refused
LIMIT = 40  # the metered plan's overage limit (below)
KEYS = (None,) * 6 + ("k1", "k2", "k3")  # reused within a program: replays and refusals

# Mostly small (the direct path's common case), some around Free's 100, a few at the
# 32-bit bounds.
amounts = st.sampled_from(["small"] * 8 + ["hundred", "bound"]).flatmap({
    "small": st.integers(1, 30), "hundred": st.integers(90, 130),
    "bound": st.sampled_from([BALANCE_MAX - 5, BALANCE_MAX])}.__getitem__)
keys = st.sampled_from(KEYS)
items_asked = st.sampled_from([ITEM] * 12 + [OTHER_TYPE_ITEM, "no-such-item"])
STEPS = {
    "increase": st.tuples(st.just("increase"), items_asked, amounts,
                          st.sampled_from([None, None, None, 60, 3600]), keys),
    "decrease": st.tuples(st.just("decrease"), items_asked, amounts, keys),
    "try_decrease": st.tuples(st.just("try_decrease"), items_asked, amounts, keys),
    "balance": st.tuples(st.just("balance"), items_asked),
    "balances": st.just(("balances",)),
    "history": st.just(("history",)),
    "has_access": st.tuples(st.just("has_access"),
                            st.sampled_from(["free", "pro", "bonus-1", None])),
    "ensure": st.just(("ensure",)),
    "advance": st.tuples(st.just("advance"), st.sampled_from([1, 59, 60, 3600, 86400 * 40])),
    "to_next_expiry": st.tuples(st.just("to_next_expiry"), st.sampled_from([-1, 0, 1])),
    "settle_due": st.just(("settle_due",)),
    "thresholds": st.tuples(st.just("thresholds"), st.sampled_from([(), (50,), (100, 10)])),
    "archive": st.just(("archive",)),
    "restore": st.just(("restore",)),
    "add_default": st.tuples(st.just("add_default"), st.sampled_from([1, 2])),
    "bump": st.just(("bump",)),
    # Holds (``items/holds.py``): reservations are referred to by their order in the
    # program (row ids differ between the databases); a commit uses none, part or all.
    # Mostly small holds that fit, so that commits and releases have something to end.
    "reserve": st.tuples(st.just("reserve"), items_asked,
                         st.one_of(st.integers(1, 30), amounts),
                         st.sampled_from([60, 3600, 3600, 86400]), keys),
    "commit": st.tuples(st.just("commit"), st.integers(0, 5),
                        st.sampled_from([None, 0, 1, 5, 10**6])),
    "release": st.tuples(st.just("release"), st.integers(0, 5)),
    "expire_holds": st.just(("expire_holds",)),
    # Auto top-up (``items/top_up_crossings.py``): a threshold (None: turned off); the
    # direct path declines a change that crosses it, the normal path notes the crossing.
    "top_up": st.tuples(st.just("top_up"), st.sampled_from([None, 0, 10, 50, 100])),
    # Overage (``items/overage.py``): a plan whose overage lets tryDecrease go to -LIMIT;
    # ending it bills the debt back to 0 (``overage_billed``).
    "own_plan": st.just(("own_plan",)),
    # A try_decrease of what is available plus 1 to LIMIT + 5 (the amount is worked out from
    # the balance when the step runs): into overage when the plan is owned, else refused.
    "spend_past": st.tuples(st.just("spend_past"), st.integers(1, LIMIT + 5), keys),
    "end_plan": st.just(("end_plan",)),
}
# Auto top-up crossings need a threshold set before the spends that cross it: top_up is
# weighted so that every run has some (200 examples: 16-27 on SQLite; at weight 1, 0-7).
WEIGHTS = (["increase"] * 6 + ["try_decrease"] * 8 + ["decrease"] * 3 + ["balance"] * 5
           + ["has_access"] * 3 + ["advance"] * 2
           + ["balances", "history", "ensure", "to_next_expiry", "settle_due", "thresholds",
              "archive", "restore", "add_default", "bump"]
           + ["reserve"] * 5 + ["commit"] * 2 + ["release"] * 2 + ["expire_holds"]
           + ["top_up"] * 6 + ["own_plan"] * 2 + ["end_plan"] + ["spend_past"] * 4)
steps = st.sampled_from(WEIGHTS).flatmap(STEPS.__getitem__)
# Half the programs start on the overage plan, so spending past what is available meets it.
programs = st.tuples(st.booleans(), st.lists(steps, min_size=4, max_size=25)).map(
    lambda drawn: [("own_plan",)] * drawn[0] + drawn[1])
NO_DATABASE = {"advance", "to_next_expiry"}
# Steps only the normal path takes (holds change ``reserved`` under the balance lock): they
# are compared like every step but left out of the direct path's share.
NORMAL_ONLY = {"reserve", "commit", "release", "expire_holds", "top_up", "own_plan", "end_plan"}
METERED = {"productId": "metered", "displayName": "Metered", "customerType": "USER",
           "prices": [{"priceId": "monthly", "amounts": {"USD": "10.00"},
                       "interval": {"unit": "MONTH", "count": 1}}],
           "overage": [{"itemId": ITEM, "limit": LIMIT, "unitAmounts": {"USD": "0.05"}}]}


@dataclasses.dataclass
class Tally:
    """Steps that touched the database, and those the direct path answered entirely."""

    steps: int = 0
    served: int = 0
    by_kind: dict[str, list[int]] = dataclasses.field(default_factory=dict)  # [served, steps]
    asked: int = 0  # direct calls in the current step
    answered: int = 0  # ... that answered (did not hand over to the normal path)
    holds_ended: int = 0  # holds made and then committed, released or expired
    crossings: int = 0  # auto top-up crossings noted (the same in both databases)
    in_overage: int = 0  # try_decrease steps that took the balance below zero


class Twins:
    """The two databases and the clock they share."""

    def __init__(self, on: Database, off: Database) -> None:
        self.on, self.off = on, off
        self.clock = FrozenClock(T0)


def _count_direct(tally: Tally, monkeypatch: pytest.MonkeyPatch) -> None:
    """Wrap each direct-path entry point to count calls and answers (only the database
    with the direct path reaches them)."""
    targets = [(items_direct, "read_item"), (items_direct, "change"),
               (customer_service, "ensured_pk"), (access, "_owned_direct")]
    for module, name in targets:
        original = getattr(module, name)

        def wrapped(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            async def call() -> Any:
                tally.asked += 1
                # None, or an exception that ``or_none`` turns into None: handed over.
                found = await _original(*args, **kwargs)
                tally.answered += found is not None
                return found
            return call()

        monkeypatch.setattr(module, name, wrapped)


async def _apply_example_catalog(db: Database) -> None:
    from billgate.billing.catalog import apply_catalog
    from billgate.billing.catalog_spec import parse_catalog
    from billgate.cli import load_catalog_file

    spec = parse_catalog(load_catalog_file(Path(__file__).parents[2] / "examples" / "catalog.yaml"))
    async with db.session() as session, session.begin():
        await apply_catalog(session, spec, now=T0)


def _answer(result: Any) -> Any:
    """What a caller sees, without row ids (the two databases number rows apart)."""
    if isinstance(result, ChangeResult):
        return ("change", result.success, result.balance.quantity, result.balance.version,
                result.replayed, None if result.error is None else str(result.error),
                [dataclasses.astuple(event) for event in result.changes],
                result.balance.reserved)
    if isinstance(result, holds.HoldResult):
        r = result.reservation
        return ("hold", result.success, dataclasses.astuple(result.balance)[1:],
                result.replayed, None if result.error is None else str(result.error),
                [dataclasses.astuple(event) for event in result.changes],
                None if r is None else (r.amount, r.status, r.expires_at))
    if isinstance(result, holds.Ended):
        r = result.reservation
        return ("ended", dataclasses.astuple(result.balance)[1:],
                (r.amount, r.status, r.committed),
                [dataclasses.astuple(event) for event in result.changes])
    return result


async def _outcome(work: Awaitable[Any]) -> Any:
    try:
        return _answer(await work)
    except BillgateError as exc:
        return ("error", type(exc).__name__, str(exc))


async def run_step(db: Database, now: datetime, ref: CustomerRef, step: tuple[Any, ...],
                   made: list[int] | None = None) -> Any:
    """One step; ``made`` collects the ids of the holds made so far (in order)."""
    clock = FrozenClock(now)
    made = [] if made is None else made
    match step:
        case ("own_plan",):
            try:
                await purchases.grant_product(db, ref, product_id="metered", inline=None,
                                              price_id=None, currency=None, quantity=1,
                                              clock=clock)
            except BillgateError as exc:  # already owned
                return ("error", type(exc).__name__)
            return "owned"
        case ("end_plan",):
            return await _end_plan(db, ref, now)
        case ("reserve", item_id, amount, ttl, key):
            held = await balances.reserve(db, ref, item_id, amount=amount, ttl_seconds=ttl,
                                          clock=clock, idempotency_key=key)
            if held.reservation is not None and held.reservation.id not in made:
                made.append(held.reservation.id)
            return held
        case ("commit", index, amount):
            if not made:
                return None
            return await balances.commit_reservation(db, made[index % len(made)], clock=clock,
                                                     amount=amount)
        case ("release", index):
            if not made:
                return None
            return await balances.release_reservation(db, made[index % len(made)], clock=clock)
        case ("expire_holds",):
            async with db.session() as session, session.begin():
                return [dataclasses.astuple(e) for e in await holds.expire_due(session, now=now)
                        if e.customer_id == ref.customer_id]
        case ("top_up", threshold):
            return (await top_up_settings.set_auto_top_up(
                Scope(db, clock), ref, top_up_settings.Settings(
                    ITEM, threshold or 0, "credit-pack", "once", enabled=threshold is not None),
                by_server=True)).threshold
        case ("increase", item_id, amount, seconds, key):
            expires_at = None if seconds is None else now + timedelta(seconds=seconds)
            return await balances.increase(db, ref, item_id, amount=amount, clock=clock,
                                                 expires_at=expires_at, idempotency_key=key)
        case ("decrease", item_id, amount, key):
            return await balances.decrease(db, ref, item_id, amount=amount, clock=clock,
                                                 idempotency_key=key)
        case ("try_decrease", item_id, amount, key):
            return await balances.try_decrease(db, ref, item_id, amount=amount,
                                                     clock=clock, idempotency_key=key)
        case ("balance", item_id):
            async def read() -> Any:
                name, snapshot = await items.read_item(db, ref, item_id, clock=clock)
                return name, snapshot.quantity, snapshot.version
            return await read()
        case ("balances",):
            async def read_all() -> Any:
                found = await items.list_balances(db, ref, clock=clock)
                return [(d.item_id, s.quantity, s.version) for d, s in found]
            return await read_all()
        case ("history",):
            async def history() -> Any:
                rows = await items.list_changes(db, ref, ITEM, clock=clock, limit=5)
                return [(r.version, r.delta, r.quantity_after, r.reason) for r in rows]
            return await history()
        case ("has_access", product_id):
            async def check() -> Any:
                pk = await purchases.ensure_customer(db, ref, clock=clock)

                async def grace() -> int:
                    return 3
                return await access.has_access(db, pk, product_id, now=now,
                                               grace_period_days=grace)
            return await check()
        case ("ensure",):
            async def ensure() -> Any:
                await purchases.ensure_customer(db, ref, clock=clock)
                return "ensured"
            return await ensure()
        case ("settle_due",):
            async with db.session() as session, session.begin():
                return [dataclasses.astuple(e) for e in await items.settle_due(session, now=now)
                        if e.customer_id == ref.customer_id]
        case ("thresholds", thresholds):
            await catalog.save(db, catalog.upsert_item,
                               ItemSpec(ITEM, "AI credits", CustomerType.USER, thresholds))
        case ("archive",):
            async with db.session() as session, session.begin():
                row = await session.scalar(select(ItemDefinition).where(
                    ItemDefinition.item_id == ITEM))
                assert row is not None
                row.archived_at = now
                await catalog.bump_version(session)
        case ("restore",):
            async with db.session() as session, session.begin():
                row = await session.scalar(select(ItemDefinition).where(
                    ItemDefinition.item_id == ITEM))
                assert row is not None
                row.archived_at = None
                await catalog.bump_version(session)
        case ("add_default", n):
            await catalog.save(db, catalog.upsert_product, ProductSpec(
                f"bonus-{n}", f"Bonus {n}", CustomerType.USER, included_by_default=True,
                included_items=[{"itemId": ITEM, "quantity": 3 * n, "expires": "NEVER"}]))
        case ("bump",):
            async with db.session() as session, session.begin():
                await catalog.bump_version(session)
        case _:
            raise AssertionError(step)
    return None


async def _available(db: Database, now: datetime, ref: CustomerRef) -> int:
    try:
        _, snapshot = await items.read_item(db, ref, ITEM, clock=FrozenClock(now))
    except BillgateError:  # archived
        return 0
    return snapshot.quantity - snapshot.reserved


async def _end_plan(db: Database, ref: CustomerRef, now: datetime) -> Any:
    from billgate.billing.context import Billing
    from billgate.billing.payment_settings import PaymentSettings
    from billgate.billing.subscriptions import operations
    from billgate.payments.test_rails import TestRails

    billing = Billing(db=db, rails=TestRails(), test_mode=True, settings=PaymentSettings(),
                      base_url="http://billgate.test")
    try:
        await operations.cancel(billing, ref, operations.Selector(product_id="metered"),
                                immediately=True, now=now)
    except BillgateError as exc:  # not owned
        return ("error", type(exc).__name__)
    return "ended"


async def state(db: Database, ref: CustomerRef) -> Any:
    """The customer's ledger, buckets, balances and purchases, without row ids."""
    of_customer = (Customer.type == ref.type.value) & (Customer.customer_id == ref.customer_id)
    async with db.read_session() as session:
        ledger = (await session.execute(
            select(ItemDefinition.item_id, ItemChange.version, ItemChange.delta,
                   ItemChange.quantity_after, ItemChange.reason, ItemChange.description,
                   ItemChange.expires_at, ItemChange.source, ItemChange.idempotency_key,
                   ItemChange.request_fingerprint, ItemChange.created_at,
                   ItemChange.reserved_after)
            .join(ItemBalance, ItemBalance.id == ItemChange.balance_id)
            .join(ItemDefinition, ItemDefinition.id == ItemBalance.item_pk)
            .join(Customer, Customer.id == ItemBalance.customer_pk).where(of_customer)
            .order_by(ItemDefinition.item_id, ItemChange.version))).all()
        balances = (await session.execute(
            select(ItemDefinition.item_id, ItemBalance.quantity, ItemBalance.tracked_remaining,
                   ItemBalance.version, ItemBalance.next_expiry_at, ItemBalance.reserved)
            .join(ItemDefinition, ItemDefinition.id == ItemBalance.item_pk)
            .join(Customer, Customer.id == ItemBalance.customer_pk).where(of_customer)
            .order_by(ItemDefinition.item_id))).all()
        # Not ``expired_at``: a bucket is closed (remaining 0) by whichever write loads it
        # next; a used-up bucket that comes due is closed by the normal path's next write and
        # not by a direct one (nothing is left to take: ``rules.nothing_due`` looks only at
        # expiries that take something away). Its expiry's effect is in the ledger rows.
        buckets = (await session.execute(
            select(ItemDefinition.item_id, ItemGrant.quantity, ItemGrant.remaining,
                   ItemGrant.expires_at, ItemGrant.source)
            .join(ItemBalance, ItemBalance.id == ItemGrant.balance_id)
            .join(ItemDefinition, ItemDefinition.id == ItemBalance.item_pk)
            .join(Customer, Customer.id == ItemBalance.customer_pk).where(of_customer)
            .order_by(ItemGrant.id))).all()
        held = (await session.execute(
            select(ItemReservation.amount, ItemReservation.status, ItemReservation.committed,
                   ItemReservation.expires_at, ItemReservation.idempotency_key,
                   ItemReservation.settled_at)
            .join(Customer, Customer.id == ItemReservation.customer_pk).where(of_customer)
            .order_by(ItemReservation.id))).all()
        crossings = (await session.execute(
            select(AutoTopUpCrossing.available_after, AutoTopUpCrossing.status,
                   AutoTopUpCrossing.created_at)
            .join(Customer, Customer.id == AutoTopUpCrossing.customer_pk).where(of_customer)
            .order_by(AutoTopUpCrossing.id))).all()
        owned = (await session.execute(
            select(Purchase.product_id, Purchase.kind, Purchase.status)
            .join(Customer, Customer.id == Purchase.customer_pk).where(of_customer)
            .order_by(Purchase.id))).all()
    # A bucket's source names its purchase by id, which differs between the databases.
    ledger = [(*row[:7], _kind_of(row[7]), *row[8:]) for row in ledger]
    buckets = [(*row[:4], _kind_of(row[4])) for row in buckets]
    return (ledger, [tuple(r) for r in balances], buckets, [tuple(r) for r in owned],
            [tuple(r) for r in held], [tuple(r) for r in crossings])


def _kind_of(source: str | None) -> str | None:
    return None if source is None else source.split(":")[0]


def _next_expiry(balances: list[Any]) -> datetime | None:
    dated = [row[4] for row in balances if row[4] is not None]
    return min(dated, default=None)


async def run_program(twins: Twins, tally: Tally, program: list[tuple[Any, ...]]) -> None:
    ref = CustomerRef(CustomerType.USER, f"diff-{uuid.uuid4().hex[:16]}")
    clock = twins.clock
    clock.at = T0
    for db in (twins.on, twins.off):  # each program starts from the same catalog
        for reset in (("restore",), ("thresholds", ())):
            await run_step(db, T0, ref, reset)
    made: dict[int, list[int]] = {id(twins.on): [], id(twins.off): []}
    for number, step in enumerate(program):
        if step[0] == "advance":
            clock.advance(step[1])
            continue
        if step[0] == "spend_past":  # what is available now: a read on both (it settles)
            available = [await _available(db, clock.now(), ref) for db in (twins.on, twins.off)]
            assert available[0] == available[1]
            step = ("try_decrease", ITEM, max(1, available[1] + step[1]), step[2])
        if step[0] == "to_next_expiry":
            expiry = _next_expiry((await state(twins.off, ref))[1])
            if expiry is not None:
                clock.at = max(clock.at, expiry + timedelta(microseconds=step[1]))
            continue
        tally.asked = tally.answered = 0
        on = await _outcome(run_step(twins.on, clock.now(), ref, step, made[id(twins.on)]))
        served = tally.asked > 0 and tally.answered == tally.asked
        off = await _outcome(run_step(twins.off, clock.now(), ref, step, made[id(twins.off)]))
        assert on == off, f"step {number} {step}: direct {on!r} != normal {off!r}"
        tally.in_overage += (step[0] == "try_decrease" and isinstance(on, tuple)
                             and on[:2] == ("change", True) and on[2] < 0)
        if step[0] in NORMAL_ONLY:
            tally.holds_ended += (isinstance(on, tuple) and on[:1] == ("ended",)
                                  or step[0] == "expire_holds" and bool(on))
            continue
        tally.steps += 1
        tally.served += served
        kind = tally.by_kind.setdefault(step[0], [0, 0])
        kind[0] += served
        kind[1] += 1
    final = await state(twins.on, ref)
    assert final == await state(twins.off, ref)
    tally.crossings += len(final[-1])


async def _open(urls: list[str]) -> Twins:
    for url in urls:
        await upgrade_async(url)
    on, off = Database(urls[0]), Database(urls[1])
    assert on.direct is not None, "the direct path is not available on this database"
    if off.direct is not None:
        await off.direct.aclose()
        off.direct = None  # every call takes the normal path
    for db in (on, off):
        await _apply_example_catalog(db)
        await catalog.save(db, catalog.upsert_product, parse_product(METERED))
    return Twins(on, off)


@pytest.mark.timeout(600)  # 200 examples take 1-2 minutes per database
def test_direct_path_answers_as_the_normal_path_does(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    tally = Tally()
    _count_direct(tally, monkeypatch)
    # A loop of its own, never made the thread's current one (pytest-asyncio keeps that).
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    try:
        if PG_URL:
            urls = [run(create_pg_database(PG_URL)) for _ in range(2)]
        else:
            urls = [f"sqlite+aiosqlite:///{tmp_path / name}.db" for name in ("on", "off")]
        twins = run(_open(urls))
        try:
            @settings(max_examples=EXAMPLES, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.too_slow])
            @given(program=programs)
            def differential(program: list[tuple[Any, ...]]) -> None:
                run(run_program(twins, tally, program))

            differential()
        finally:
            run(twins.on.dispose())
            run(twins.off.dispose())
            if PG_URL:
                for url in urls:
                    run(drop_pg_database(PG_URL, url))
    finally:
        loop.close()
    share = tally.served / max(tally.steps, 1)
    print(f"\ndirect path served {tally.served} of {tally.steps} database steps "
          f"({share:.0%}) over {EXAMPLES} examples; by step: {tally.by_kind}; "
          f"holds ended: {tally.holds_ended}; top-up crossings: {tally.crossings}; "
          f"try_decrease into overage: {tally.in_overage}")
    assert tally.holds_ended > 0, "no program ended a hold: the hold steps prove nothing"
    assert tally.crossings > 0, "no program crossed an auto top-up: those steps prove nothing"
    assert tally.in_overage > 0, "no try_decrease went into overage: the plan steps prove nothing"
    assert share >= MIN_SHARE, f"the direct path served only {share:.0%} of the steps"
