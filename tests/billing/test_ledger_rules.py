"""The rules with two copies, one in Python and one in SQL, held together: each pair is
evaluated on the same values (the SQL on the test database, SQLite or PostgreSQL) and must
agree. The SQL copies are the ones the direct path compiles (``items/rules.py``,
``purchases/ownership.py``); the Python ones are what the normal path applies
(``items/ledger.py``) or what loaded rows are checked with."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import JSON, Integer, String, insert, literal, select, union_all, update

from billgate.billing import catalog
from billgate.billing import customers as customer_service
from billgate.billing.catalog_spec import ItemSpec
from billgate.billing.items import repository as repo
from billgate.billing.items import rules
from billgate.billing.items.alerts import crossed
from billgate.billing.items.ledger import BALANCE_MAX, BALANCE_MIN, Bucket, Ledger, Meta, due
from billgate.billing.purchases import ownership
from billgate.billing.subscriptions.states import ACTIVE, CANCELED, PAST_DUE, PAUSED, TRIALING
from billgate.db.engine import Database
from billgate.errors import InvalidInput
from billgate.types import CustomerRef, CustomerType

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
ITEM = "rule-credits"
PROPERTY = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


async def new_balance(db: Database, *, quantity: int = 0, tracked: int = 0) -> int:
    """A fresh customer's balance row of ``ITEM`` holding ``quantity`` (``tracked`` of it in
    buckets the caller adds)."""
    ref = CustomerRef(CustomerType.USER, f"rules-{uuid.uuid4().hex}")
    async with db.session() as session, session.begin():
        if await catalog.get_item_definition(session, ITEM) is None:
            await catalog.upsert_item(session, ItemSpec(ITEM, "Credits", CustomerType.USER))
        item = await catalog.get_item_definition(session, ITEM)
        assert item is not None
        customer = await customer_service.get_or_create(session, ref)
        balance = await repo.lock_or_create(session, customer.id, item.id, T0)
        await session.execute(update(rules.balances).where(rules.balances.c.id == balance.id)
                              .values(quantity=quantity, tracked_remaining=tracked))
    return balance.id


# (expires in seconds from T0 or None, remaining, expired already)
buckets_drawn = st.lists(st.tuples(st.sampled_from([None, -60, 0, 60, 60, 3600]),
                                   st.integers(0, 3), st.booleans()), max_size=6)


@PROPERTY
@given(drawn=buckets_drawn, now_offset=st.sampled_from([-1, 0, 1, 59, 60, 61, 3600]))
async def test_consume_order_and_due_agree(db: Database, drawn: list[tuple[int | None, int, bool]],
                                           now_offset: int) -> None:
    """The bucket SQL takes from first is the first in ``Bucket.consume_order`` of those
    with something left; SQL's ``due`` is ``ledger.due`` on every bucket."""
    now = T0 + timedelta(seconds=now_offset)
    balance_id = await new_balance(db)
    buckets: list[Bucket] = []
    async with db.session() as session, session.begin():
        for seconds, remaining, expired in drawn:
            expires_at = None if seconds is None else T0 + timedelta(seconds=seconds)
            expired_at = T0 if expired else None
            new_id = await session.scalar(insert(rules.grants).values(
                balance_id=balance_id, quantity=remaining, remaining=remaining,
                expires_at=expires_at, source=None if expires_at else "src", created_at=T0,
                expired_at=expired_at).returning(rules.grants.c.id))
            buckets.append(Bucket(new_id, remaining, remaining, expires_at,
                                  None if expires_at else "src", T0, expired_at))
    async with db.read_session() as session:
        first = await session.scalar(select(rules.first_bucket(balance_id, "id")))
        due_in_sql = dict((await session.execute(
            select(rules.grants.c.id, rules.due(rules.grants.c.expires_at, now))
            .where(rules.grants.c.balance_id == balance_id))).all())
    consumable = [b for b in buckets if b.active and b.remaining > 0]
    expected = min(consumable, key=Bucket.consume_order).id if consumable else None
    assert first == expected
    assert {b.id: bool(due_in_sql[b.id]) for b in buckets} == {
        b.id: due(b.expires_at, now) for b in buckets}


def _ledger_accepts(kind: str, quantity: int, amount: int) -> bool:
    ledger = Ledger(quantity=quantity, tracked=0, version=0)
    if kind == "try_decrease" and quantity < amount:
        return False  # refused (service._locked_change)
    try:
        if kind == "increase":
            ledger.add(amount, now=T0, meta=Meta("manual"), bucket=False)
        else:
            ledger.remove(amount, now=T0, meta=Meta("manual"))
    except InvalidInput:
        return False
    return True


EDGES = [BALANCE_MIN, BALANCE_MIN + 1, -5, 0, 5, BALANCE_MAX - 1, BALANCE_MAX]


@pytest.mark.parametrize("kind", ["increase", "decrease", "try_decrease"])
async def test_guards_keep_the_ledger_bounds(db: Database, kind: rules.Kind) -> None:
    """On an untracked balance with nothing due, the direct path's guard lets a change
    through exactly when the ledger would make it (32-bit bounds, and ``try_decrease``
    only when covered)."""
    for quantity in EDGES:
        balance_id = await new_balance(db, quantity=quantity)
        for amount in (1, 5, BALANCE_MAX):
            params = {"amount": amount, "lowest": None, "highest": None,
                      **rules.bounds(kind, amount)}
            async with db.read_session() as session:
                allowed = await session.scalar(
                    select(rules.guard(kind, now=T0, **params))
                    .where(rules.balances.c.id == balance_id))
            assert bool(allowed) == _ledger_accepts(kind, quantity, amount), (quantity, amount)


@PROPERTY
@given(tracked=st.integers(0, 50), amount=st.integers(1, 50), pool=st.integers(0, 20))
async def test_tracked_arithmetic_agrees(db: Database, tracked: int, amount: int,
                                         pool: int) -> None:
    """Where the guard lets a removal through (nothing tracked, or a first bucket that keeps
    more than it gives), ``tracked_after`` is what ``Ledger.remove`` leaves tracked."""
    quantity = tracked + pool
    if tracked and tracked <= amount:
        return  # the guard sends this to the normal path
    balance_id = await new_balance(db, quantity=quantity, tracked=tracked)
    async with db.read_session() as session:
        after = await session.scalar(select(rules.tracked_after(-amount))
                                     .where(rules.balances.c.id == balance_id))
    buckets = [Bucket(1, tracked, tracked, T0 + timedelta(days=1), None, T0)] if tracked else []
    ledger = Ledger(quantity=quantity, tracked=tracked, version=0, buckets=buckets)
    ledger.remove(amount, now=T0, meta=Meta("consume"))
    assert after == ledger.tracked


STATUSES = [TRIALING, ACTIVE, PAST_DUE, PAUSED, CANCELED, "SUSPENDED", "REFUNDED", "EXPIRED"]


async def test_owned_and_live_agree(db: Database) -> None:
    """``ownership.owned``/``live_subscription`` in SQL and ``is_owned``/``is_live`` in
    Python give the same answer for every kind and status."""
    pairs = [(kind, status) for kind in ownership.KINDS for status in STATUSES]
    rows = union_all(*(select(literal(kind, String).label("kind"),
                              literal(status, String).label("status"))
                       for kind, status in pairs)).subquery("p")
    async with db.read_session() as session:
        found = (await session.execute(select(
            rows.c.kind, rows.c.status, ownership.owned(rows.c),
            ownership.live_subscription(rows.c)))).all()
    assert len(found) == len(pairs)
    for kind, status, owned, live in found:
        assert bool(owned) == ownership.is_owned(kind, status), (kind, status)
        assert bool(live) == (kind == ownership.SUBSCRIPTION and ownership.is_live(status))


@PROPERTY
@given(thresholds=st.lists(st.integers(-20, 60), max_size=4), before=st.integers(-20, 60),
       amount=st.integers(0, 40), threshold=st.one_of(st.none(), st.integers(-10, 60)))
async def test_crossings_agree(db: Database, thresholds: list[int], before: int, amount: int,
                               threshold: int | None) -> None:
    """A change from ``before`` down by ``amount`` crosses a low-balance threshold in SQL
    (``thresholds_crossed``, PostgreSQL's JSON) exactly when ``alerts.crossed`` names one,
    and an auto top-up's threshold (``top_up_crosses``) exactly when ``top_up_crossed``
    says so."""
    after = before - amount
    checks = [rules.top_up_crosses(literal(threshold, Integer), literal(before),
                                   literal(after))]
    if db.engine.dialect.name == "postgresql":
        checks.append(rules.thresholds_crossed(literal(thresholds, JSON),
                                               literal(before), literal(after)))
    async with db.read_session() as session:
        found = (await session.execute(select(*checks))).one()
    assert bool(found[0]) == rules.top_up_crossed(threshold, before, after)
    if len(found) > 1:
        assert bool(found[1]) == bool(crossed(thresholds, before, after))


async def test_ensured_agrees(db: Database) -> None:
    """``is_ensured_in_sql`` (PostgreSQL) is ``is_ensured`` for the catalog's version, another
    version and a customer never checked (NULL: not ensured in SQL, so the normal path looks)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the one-statement change is PostgreSQL's")
    async with db.session() as session, session.begin():
        await catalog.bump_version(session)
        version = await session.scalar(select(catalog.version_statement()))
    for included in (version, "another", None):
        async with db.read_session() as session:
            in_sql = await session.scalar(select(customer_service.is_ensured_in_sql(
                literal(included, String))))
        assert bool(in_sql) == (included is not None
                                and customer_service.is_ensured(included, version))
