"""The balances' hot path on the direct driver (``db/direct.py``): a balance read in one
statement, and a change that needs no bucket work in one transaction of two or three.

Each function answers only the common case and returns None for everything else (an expiry
due, a customer or item to create or check, a bucket to split, a threshold crossed, a lock
held elsewhere, an idempotency key seen before): the caller then takes the normal path
(``reads.py``, ``service.py``), which holds every rule. Nothing here is written unless the
whole change is, so "None" always means "nothing happened".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, insert, not_, or_, select, update

from billgate.billing import customers as customer_service
from billgate.billing.catalog import version_statement
from billgate.billing.items import repository as repo
from billgate.billing.items import rules
from billgate.billing.items.alerts import crossed
from billgate.billing.items.ledger import due
from billgate.billing.items.requests import Request
from billgate.billing.items.results import BalanceSnapshot, ChangeEvent, ChangeResult
from billgate.billing.items.rules import balances, customers, grants, items
from billgate.db.direct import (
    Declined,
    DirectDatabase,
    Statement,
    is_unique_violation,
    json_of,
    or_none,
    time_of,
)
from billgate.types import CustomerRef

P = bindparam  # a parameter of the compiled statement, passed by name when it runs
_BALANCE_OF_REF = rules.balance_of(P("type"), P("customer_id"), P("item_id"))

# The live item and the customer's balance of it (``rules.item_with_balance``); the item's
# type is checked against the customer's in Python (a mismatch is the normal path's error).
# The customer's ``included_version`` beside the catalog's lets the same statement stand for
# the customer's check (``customers.is_ensured``) when the request has not made it yet.
READ_ITEM = Statement.of(
    select(items.c.display_name, items.c.customer_type, customers.c.id, balances.c.quantity,
           balances.c.version, balances.c.next_expiry_at, balances.c.reserved,
           customers.c.included_version, version_statement().label("catalog_version"))
    .select_from(rules.item_with_balance(P("type"), P("customer_id")))
    .where(rules.live_item(P("item_id"))))


KINDS: tuple[rules.Kind, ...] = ("try_decrease", "decrease", "increase")


def _update_balance(kind: rules.Kind) -> Any:
    """One UPDATE that is the whole balance change when ``rules.guard`` holds (a removal
    also keeps ``tracked_remaining`` by ``rules.tracked_after``)."""
    values: dict[str, Any] = {"quantity": balances.c.quantity + P("delta"),
                              "version": balances.c.version + 1, "updated_at": P("now")}
    if kind != "increase":
        values["tracked_remaining"] = rules.tracked_after(P("delta"))
    return (update(balances).where(_BALANCE_OF_REF, rules.guard(
        kind, amount=P("amount"), now=P("now"), lowest=P("lowest"), highest=P("highest")))
        .values(values)
        .returning(balances.c.id, balances.c.customer_pk, balances.c.quantity,
                   balances.c.tracked_remaining, balances.c.version,
                   repo.THRESHOLDS.label("thresholds"), balances.c.reserved, _INCLUDED_VERSION,
                   version_statement().label("catalog_version"),
                   rules.top_up_threshold().label("top_up")))


# Whether the customer has the include-by-default products of the catalog as it is now
# (``customers.is_ensured``), read in the same statement: when a product was added since,
# the change is declined and the normal path gives it first, so a consumption spends it
# like a read shows it.
_INCLUDED_VERSION = (select(customers.c.included_version)
                     .where(customers.c.id == balances.c.customer_pk)
                     .scalar_subquery().label("included_version"))


def _take_from_first_bucket(balance_id: Any) -> Any:
    """The first bucket gives ``amount`` and keeps something (the guard saw that before the
    lock; this re-checks it under the lock)."""
    return (update(grants).where(grants.c.id == rules.first_bucket(balance_id, "id"),
                                 grants.c.remaining > P("amount"))
            .values(remaining=grants.c.remaining - P("amount")).returning(grants.c.id))


_ENTRY_COLUMNS = ("balance_id", "customer_pk", "version", "delta", "quantity_after", "reason",
                  "description", "expires_at", "source", "idempotency_key",
                  "request_fingerprint", "created_at", "reserved_after")
# What a ledger row takes from the request besides ``delta`` and ``now`` (the rest comes
# from the balance row).
_FROM_REQUEST = ("reason", "description", "expires_at", "source", "idempotency_key",
                 "request_fingerprint")


def _typed(name: str) -> Any:
    """A parameter typed as its ``item_changes`` column (PostgreSQL needs the type of a
    parameter in a SELECT list)."""
    column = {"now": "created_at", "reserved": "reserved_after"}.get(name, name)
    return P(name, type_=repo.changes.c[column].type)


def _nothing_to_decline(kind: rules.Kind) -> Any:
    """The change is the whole of it: the customer has the catalog's include-by-default
    products (``customers.is_ensured``), and a removal crosses neither a low-balance
    threshold (``alerts.crossed``) nor an auto top-up's (``rules.top_up_crossed``). Where
    one of these fails, the normal path does the change (it alerts, notes the crossing or
    gives the products first). Evaluated on the locked balance row, before anything is
    written."""
    ensured = customer_service.is_ensured_in_sql(
        select(customers.c.included_version).where(customers.c.id == balances.c.customer_pk)
        .scalar_subquery())
    if kind == "increase":  # nothing is crossed on the way up
        return ensured
    before, after = balances.c.quantity, balances.c.quantity + P("delta")
    reserved = balances.c.reserved
    # Correlated by hand: inside the function in EXISTS's FROM, SQLAlchemy would not.
    thresholds = repo.THRESHOLDS.correlate(balances)
    return and_(ensured, not_(rules.thresholds_crossed(thresholds, before, after)),
                not_(rules.top_up_crosses(rules.top_up_threshold(), before - reserved,
                                          after - reserved)))


def _one_statement_change(kind: rules.Kind) -> Statement:
    """PostgreSQL: the whole change as one statement outside a transaction (it commits on
    its own, all or nothing), so the balance row is locked only while the server runs it
    and flushes the commit, not across round trips to this process: on a balance many
    requests consume at once (one customer's app servers), that lock is the queue.

    In order, each step reading the one before (which is what orders them): the balance row
    locked if ``rules.guard`` holds, with ``_nothing_to_decline`` worked out on it; the first
    bucket's ``remaining`` taken (``try_decrease`` of a tracked balance), re-checked under
    the lock; the balance updated only when both held; the ledger row from the update's
    RETURNING. When anything fails nothing is written and no row comes back: the caller
    takes the normal path."""
    locked = (select(balances.c.id, balances.c.tracked_remaining,
                     _nothing_to_decline(kind).label("ok"))
              .where(_BALANCE_OF_REF, rules.guard(
                  kind, amount=P("amount"), now=P("now"), lowest=P("lowest"),
                  highest=P("highest")))
              .with_for_update(of=balances).cte("locked"))
    locked_id = select(locked.c.id).where(locked.c.ok).scalar_subquery()
    values: dict[str, Any] = {"quantity": balances.c.quantity + P("delta"),
                              "version": balances.c.version + 1, "updated_at": P("now")}
    applies: Any = balances.c.id == locked_id
    if kind != "increase":
        values["tracked_remaining"] = rules.tracked_after(P("delta"))
    if kind == "try_decrease":
        tracked = select(locked.c.tracked_remaining).where(locked.c.ok).scalar_subquery()
        g = _take_from_first_bucket(locked_id).where(tracked > 0).cte("bucket")
        applies = and_(applies, or_(tracked == 0, exists(select(g.c.id))))
    b = (update(balances).where(applies).values(values)
         .returning(balances.c.id, balances.c.customer_pk, balances.c.quantity,
                    balances.c.tracked_remaining, balances.c.version, balances.c.reserved)
         .cte("balance"))
    # In ``_ENTRY_COLUMNS`` order.
    entry = select(b.c.id, b.c.customer_pk, b.c.version, _typed("delta"), b.c.quantity,
                   *(_typed(name) for name in _FROM_REQUEST), _typed("now"), b.c.reserved)
    c = insert(repo.changes).from_select(list(_ENTRY_COLUMNS), entry).returning(
        repo.changes.c.id).cte("entry")
    return Statement.of(select(b.c.customer_pk, b.c.quantity, b.c.version, b.c.reserved,
                               select(c.c.id).scalar_subquery().label("change_id")),
                        postgres_only=True)


_PARAM = {"created_at": "now", "reserved_after": "reserved"}  # column -> parameter name
CHANGE = {kind: Statement.of(_update_balance(kind)) for kind in KINDS}
CHANGE_IN_ONE = {kind: _one_statement_change(kind) for kind in KINDS}
TAKE_FROM_FIRST_BUCKET = Statement.of(_take_from_first_bucket(P("balance_id")))
INSERT_CHANGE = Statement.of(
    insert(repo.changes).values({name: _typed(_PARAM.get(name, name))
                                 for name in _ENTRY_COLUMNS}).returning(repo.changes.c.id))


async def read_item(direct: DirectDatabase, ref: CustomerRef, item_id: str, now: datetime, *,
                    check_customer: bool = False) -> tuple[str, BalanceSnapshot] | None:
    """The item's display name and the balance, when one statement is the whole answer:
    a live item of the customer's type with no expiry due (a balance never written reads 0).
    ``check_customer``: also only when the customer exists and is ensured, so the read is
    the customer's check as well. None otherwise."""
    return await or_none(_read_item(direct, ref, item_id, now, check_customer))


async def _read_item(direct: DirectDatabase, ref: CustomerRef, item_id: str, now: datetime,
                     check_customer: bool) -> tuple[str, BalanceSnapshot] | None:
    async with direct.read() as conn:
        row = await conn.fetchone(READ_ITEM, type=ref.type.value, customer_id=ref.customer_id,
                                  item_id=item_id)
    if row is None or row[1] != ref.type.value:
        return None
    display_name, _, customer_pk, quantity, version, next_expiry_at, reserved = row[:7]
    if check_customer and (customer_pk is None
                           or not customer_service.is_ensured(row[7], json_of(row[8]))):
        return None
    if quantity is None:
        return display_name, BalanceSnapshot(customer_pk, item_id, 0, 0)
    if due(time_of(next_expiry_at), now):
        return None
    return display_name, BalanceSnapshot(customer_pk, item_id, quantity, version, reserved)


async def change(direct: DirectDatabase, ref: CustomerRef, item_id: str, request: Request,
                 now: datetime) -> ChangeResult | None:
    """The change committed, when it needs no bucket work (``rules.guard``), crosses no
    low-balance threshold nor an auto top-up's, and its idempotency key (if any) is new.
    None otherwise, with nothing written."""
    if request.bucket:
        return None
    return await or_none(_change(direct, ref, item_id, request, now))


async def _change(direct: DirectDatabase, ref: CustomerRef, item_id: str, request: Request,
                  now: datetime) -> ChangeResult | None:
    if direct.dialect == "postgresql":
        return await _change_in_one(direct, ref, item_id, request, now)
    names = repo.Names(ref.type.value, ref.customer_id, item_id)
    amount = request.amount
    try:
        async with direct.write() as conn:
            row = await conn.fetchone(
                CHANGE[request.kind], delta=request.delta, now=now, type=ref.type.value,
                customer_id=ref.customer_id, item_id=item_id,
                **rules.bounds(request.kind, amount))
            if row is None:
                return None
            _check_ensured(row[7], row[8])
            balance = repo.BalanceRow(row[0], row[1], row[2], row[3], row[4], None,
                                      tuple(json_of(row[5]) or ()), row[6])
            if (request.kind == "try_decrease" and balance.tracked > 0
                    and await conn.fetchone(TAKE_FROM_FIRST_BUCKET, amount=amount,
                                            balance_id=balance.id) is None):
                raise Declined("the buckets moved since the guard read them")
            entry = request.entry(balance, now)
            if crossed(balance.thresholds, balance.quantity - request.delta, balance.quantity):
                raise Declined("a low-balance threshold is crossed: the normal path alerts")
            _check_top_up(row[9], balance.quantity - request.delta, balance.quantity,
                          balance.reserved)
            inserted = await conn.fetchone(INSERT_CHANGE, **_entry_params(balance, entry))
    except Exception as exc:
        if is_unique_violation(exc):  # the key was used: the normal path replays it
            raise Declined("idempotency key seen before") from exc
        raise
    assert inserted is not None
    snapshot = BalanceSnapshot(balance.customer_pk, item_id, balance.quantity, balance.version,
                               balance.reserved)
    event = ChangeEvent(names.customer_type, names.customer_id, item_id, entry.quantity_after,
                        entry.version, entry.delta, entry.reason, balance.reserved)
    return ChangeResult(success=True, balance=snapshot, change_id=inserted[0], changes=[event])


async def _change_in_one(direct: DirectDatabase, ref: CustomerRef, item_id: str,
                         request: Request, now: datetime) -> ChangeResult | None:
    """``_change`` as one statement that commits on its own (``CHANGE_IN_ONE``); no row
    back means it wrote nothing (the normal path decides)."""
    meta = request.meta
    try:
        async with direct.autocommit() as conn:
            row = await conn.fetchone(
                CHANGE_IN_ONE[request.kind], delta=request.delta, now=now,
                type=ref.type.value, customer_id=ref.customer_id, item_id=item_id,
                reason=meta.reason, description=meta.description, expires_at=meta.expires_at,
                source=meta.source, idempotency_key=meta.idempotency_key,
                request_fingerprint=meta.request_fingerprint,
                **rules.bounds(request.kind, request.amount))
    except Exception as exc:
        if is_unique_violation(exc):  # the key was used: the normal path replays it
            raise Declined("idempotency key seen before") from exc
        raise
    if row is None:
        return None
    customer_pk, quantity, version, reserved, change_id = row
    snapshot = BalanceSnapshot(customer_pk, item_id, quantity, version, reserved)
    event = ChangeEvent(ref.type.value, ref.customer_id, item_id, quantity, version,
                        request.delta, meta.reason, reserved)
    return ChangeResult(success=True, balance=snapshot, change_id=change_id, changes=[event])


def _check_top_up(threshold: int | None, before: int, after: int, reserved: int) -> None:
    """An auto top-up's crossing is noted by the normal path only (``repo.persist``)."""
    if rules.top_up_crossed(threshold, before - reserved, after - reserved):
        raise Declined("an auto top-up's threshold is crossed: the normal path notes it")


def _check_ensured(included_version: str | None, catalog_version: Any) -> None:
    if not customer_service.is_ensured(included_version, json_of(catalog_version)):
        raise Declined("the catalog changed since the customer's included products were given")


def _entry_params(balance: repo.BalanceRow, entry: Any) -> dict[str, Any]:
    return {"balance_id": balance.id, "customer_pk": balance.customer_pk,
            "version": entry.version, "delta": entry.delta,
            "quantity_after": entry.quantity_after, "reason": entry.reason,
            "description": entry.description, "expires_at": entry.expires_at,
            "source": entry.source, "idempotency_key": entry.idempotency_key,
            "request_fingerprint": entry.request_fingerprint, "now": entry.created_at,
            "reserved": balance.reserved}
