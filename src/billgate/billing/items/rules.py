"""The ledger's rules in SQL: the one home of every rule the database evaluates itself.

``ledger.py`` holds the arithmetic in Python (the normal path loads a locked balance and its
buckets and applies it). Some of the same rules must also be asked of the database: which
balance a request means, which bucket is consumed first, whether an expiry is due, and the
guards under which the direct path (``direct.py``) may do a whole change as one ``UPDATE``.
They are written here once, as SQLAlchemy Core expressions, and used both by the normal
path's statements (``repository.py``) and by the direct path, whose SQL is compiled from
these definitions per dialect at import (``db/direct.Statement.of``) and then run on the
raw driver.

Where a rule has a Python twin in ``ledger.py`` (the consume order, "due", the bounds, the
tracked arithmetic), ``tests/billing/test_ledger_rules.py`` evaluates both on the same
values on the database and fails when they disagree; the differential test
(``tests/billing/test_direct_differential.py``) runs whole programs both ways.

To change a rule: change it here (and its Python twin in ``ledger.py`` if it has one); the
direct path's SQL follows at the next import.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    FromClause,
    Table,
    and_,
    case,
    exists,
    func,
    or_,
    select,
)

from billgate.billing.items.ledger import BALANCE_MAX, BALANCE_MIN
from billgate.db.models import AutoTopUp, Customer, ItemBalance, ItemDefinition, ItemGrant

balances = cast(Table, ItemBalance.__table__)
grants = cast(Table, ItemGrant.__table__)
customers = cast(Table, Customer.__table__)
items = cast(Table, ItemDefinition.__table__)
top_ups = cast(Table, AutoTopUp.__table__)

Kind = Literal["try_decrease", "decrease", "increase"]

# Which customer, which item ------------------------------------------------------------------


def customer_is(customer_type: Any, customer_id: Any) -> ColumnElement[bool]:
    """The customer named by the app's (type, id)."""
    return and_(customers.c.type == customer_type, customers.c.customer_id == customer_id)


def customer_pk(customer_type: Any, customer_id: Any) -> Any:
    return select(customers.c.id).where(customer_is(customer_type, customer_id)).scalar_subquery()


def live_item(item_id: Any) -> ColumnElement[bool]:
    """An item that can be read and changed: defined and not archived."""
    return and_(items.c.item_id == item_id, items.c.archived_at.is_(None))


def live_item_pk(item_id: Any, customer_type: Any) -> Any:
    """The live item of the customer's type (another type's item matches nothing)."""
    return select(items.c.id).where(live_item(item_id),
                                    items.c.customer_type == customer_type).scalar_subquery()


def balance_of(customer_type: Any, customer_id: Any, item_id: Any) -> ColumnElement[bool]:
    """The balance of the customer for a live item of its type, found inside the statement
    (an unknown customer, unknown, archived or mismatched item simply matches nothing)."""
    return and_(balances.c.customer_pk == customer_pk(customer_type, customer_id),
                balances.c.item_pk == live_item_pk(item_id, customer_type))


def item_with_balance(customer_type: Any, customer_id: Any) -> FromClause:
    """Items, each with the customer (if it exists) and its balance of the item (if ever
    written): the one-statement read of a balance."""
    return items.outerjoin(customers, customer_is(customer_type, customer_id)).outerjoin(
        balances, and_(balances.c.customer_pk == customers.c.id,
                       balances.c.item_pk == items.c.id))


# Expiry: ``ledger.due`` -------------------------------------------------------------------


def due(expires_at: Any, now: Any) -> ColumnElement[bool]:
    """An expiry at ``T`` is due at ``now >= T`` (a grant counts strictly before its
    expiry). NULL (never) is never due. Python twin: ``ledger.due``."""
    return and_(expires_at.is_not(None), expires_at <= now)


def nothing_due(now: Any) -> ColumnElement[bool]:
    """The balance has no dated expiry due at ``now`` (``next_expiry_at`` is the earliest)."""
    return or_(balances.c.next_expiry_at.is_(None), balances.c.next_expiry_at > now)


# Buckets: ``ledger.Bucket.consume_order`` ----------------------------------------------------


def consume_order(g: FromClause) -> tuple[Any, ...]:
    """Dated buckets first by expiry, then those that expire only with their source, ties by
    id. Python twin: ``ledger.Bucket.consume_order``."""
    return (g.c.expires_at.is_(None), g.c.expires_at, g.c.id)


def consumable(g: FromClause) -> ColumnElement[bool]:
    """A bucket a removal can take from: not expired, something left."""
    return and_(g.c.expired_at.is_(None), g.c.remaining > 0)


def first_bucket(balance_id: Any, column: str) -> Any:
    """``column`` of the bucket a removal takes from first (aliased, so it can sit inside
    an UPDATE of ``item_grants`` itself)."""
    g = grants.alias("g")
    return (select(g.c[column]).where(g.c.balance_id == balance_id, consumable(g))
            .order_by(*consume_order(g)).limit(1).scalar_subquery())


# The direct path's one-UPDATE changes --------------------------------------------------------


def tracked_after(delta: Any) -> Any:
    """``tracked_remaining`` after a removal of ``-delta`` that the guard let through: debt
    exists only when nothing is tracked, so an untracked balance stays untracked, and a
    tracked one loses exactly what its first bucket gives (``ledger.Ledger.remove``)."""
    tracked = balances.c.tracked_remaining
    return case((tracked == 0, 0), else_=tracked + delta)


# Holds: ``ledger.Ledger.available`` ------------------------------------------------------


def available() -> Any:
    """What holds leave for consumers: the quantity less the HELD reservations' sum (kept
    on the balance row by ``holds.py``). Python twin: ``ledger.Ledger.available``."""
    return balances.c.quantity - balances.c.reserved


def may_consume(available: int, amount: int, overage_limit: int = 0) -> bool:
    """Overage: a ``try_decrease`` of ``amount`` is let through when what holds leave
    stays at or above ``-overage_limit`` (0 without overage: the balance never goes
    negative). ``overage_limit`` is the largest ``limit`` among the customer's owned plans
    naming the item (``overage.limit_for``). SQL twin: ``guard("try_decrease")`` is its
    ``overage_limit == 0`` case; the direct path declines anything else (the normal path
    then reads the plans and applies this)."""
    return available - amount >= -overage_limit


def hold_guard(amount: Any, now: Any) -> ColumnElement[bool]:
    """A new hold of ``amount`` fits: ``available`` covers it and no expiry is due (a due
    expiry would lower the quantity first: then the normal path settles and re-checks)."""
    return and_(available() >= amount, nothing_due(now))


# Auto top-up: ``items/top_up_crossings.py`` -----------------------------------------------


def top_up_threshold() -> Any:
    """The threshold of the balance's enabled auto top-up (NULL: none), read by the same
    statement as the balance row, so a balance without one pays no extra round trip."""
    # Renamed columns: an UPDATE's RETURNING names the balance's columns unqualified
    # (``customer_pk``), which inside a subquery on ``auto_top_ups`` itself would mean its
    # own columns; the derived table has none of those names, so they mean the balance's.
    enabled = (select(top_ups.c.threshold.label("t_threshold"),
                      top_ups.c.customer_pk.label("t_customer"),
                      top_ups.c.item_pk.label("t_item"))
               .where(top_ups.c.enabled.is_(True)).subquery("enabled_top_ups"))
    return (select(enabled.c.t_threshold)
            .where(enabled.c.t_customer == balances.c.customer_pk,
                   enabled.c.t_item == balances.c.item_pk)
            .scalar_subquery())


def top_up_crossed(threshold: int | None, available_before: int, available_after: int) -> bool:
    """A change crosses an auto top-up's threshold when it takes ``available`` from above
    it to at or below it (a change that stays at or below, or goes up, crosses nothing)."""
    return threshold is not None and available_before > threshold >= available_after


def top_up_crosses(threshold: Any, available_before: Any,
                   available_after: Any) -> ColumnElement[bool]:
    """SQL twin of ``top_up_crossed`` (NULL threshold: no top-up, crosses nothing)."""
    return and_(threshold.is_not(None), available_before > threshold,
                threshold >= available_after)


# Low-balance alerts: ``alerts.crossed`` ----------------------------------------------------


def thresholds_crossed(thresholds: Any, before: Any, after: Any) -> ColumnElement[bool]:
    """PostgreSQL: some threshold of the JSON list ``thresholds`` is crossed downward by a
    change from ``before`` to ``after`` (``before > t >= after``). Python twin:
    ``alerts.crossed`` (non-empty)."""
    t = func.json_array_elements_text(thresholds).table_valued("value").alias("t")
    value = t.c.value.cast(BigInteger)
    return exists(select(value).select_from(t).where(before > value, value >= after))


def guard(kind: Kind, *, amount: Any, now: Any, lowest: Any, highest: Any) -> ColumnElement[bool]:
    """When one UPDATE of the balance row is the whole change (``ledger.py`` has the rules it
    shortcuts):

    - a removal from the pool: nothing tracked, so nothing is due either and debt is allowed
      (``decrease``, which holds do not stop) or ``available`` covers it (``try_decrease``:
      ``quantity - reserved``, both columns of the row the UPDATE locks, so a hold taken
      concurrently is seen as committed);
    - a ``try_decrease`` from the first bucket when it keeps more than it gives and nothing
      is due (so neither the next expiry nor the first bucket changes). ``tracked_remaining
      > amount`` is a column of the row itself: on PostgreSQL a statement that waited for the
      row lock re-checks the row's columns as committed but the subquery against its older
      snapshot, and ``take_from_first_bucket`` re-checks the bucket under the lock;
    - a grant that never expires, when nothing is due.

    ``lowest``/``highest`` are ``bounds``: the balance stays in the API's 32-bit range
    without the database ever evaluating an overflowing expression.
    """
    quantity, tracked = balances.c.quantity, balances.c.tracked_remaining
    if kind == "try_decrease":
        return and_(available() >= amount, or_(tracked == 0, and_(
            tracked > amount, nothing_due(now),
            first_bucket(balances.c.id, "remaining") > amount)))
    if kind == "decrease":
        return and_(quantity >= lowest, tracked == 0)
    return and_(quantity <= highest, nothing_due(now))


def bounds(kind: Kind, amount: int) -> dict[str, int]:
    """The parameters of ``guard``: ``ledger._check_range`` as limits on the quantity before
    the change (computed here, so SQL never adds to a value near the bounds)."""
    if kind == "try_decrease":
        return {"amount": amount}
    if kind == "decrease":
        return {"lowest": BALANCE_MIN + amount}
    return {"highest": BALANCE_MAX - amount}
