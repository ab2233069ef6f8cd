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

from billgate.billing.items import repository as repo
from billgate.billing.items.alerts import crossed
from billgate.billing.items.ledger import BALANCE_MAX, BALANCE_MIN
from billgate.billing.items.requests import Request
from billgate.billing.items.results import BalanceSnapshot, ChangeEvent, ChangeResult
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

READ_ITEM = Statement("""
    SELECT i.display_name, i.customer_type, c.id, b.quantity, b.version, b.next_expiry_at
    FROM item_definitions i
    LEFT JOIN customers c ON c.type = :type AND c.customer_id = :customer_id
    LEFT JOIN item_balances b ON b.customer_pk = c.id AND b.item_pk = i.id
    WHERE i.item_id = :item_id AND i.archived_at IS NULL""")

# The bucket a removal takes from first (``ledger.Bucket.consume_order``): dated buckets by
# expiry, then those that expire only with their source, ties by id.
_FIRST_BUCKET = """
    SELECT {column} FROM item_grants g
    WHERE g.balance_id = {balance} AND g.expired_at IS NULL AND g.remaining > 0
    ORDER BY g.expires_at IS NULL, g.expires_at, g.id LIMIT 1"""
_NOTHING_DUE = "(next_expiry_at IS NULL OR next_expiry_at > :now)"
# When one UPDATE is the whole change (``ledger.py`` has the rules it shortcuts):
# - a removal from the pool (nothing tracked: then nothing is due either), or, for
#   try_decrease, from the first bucket when it keeps more than it gives and nothing is
#   due (so neither the next expiry nor the first bucket changes). ``tracked_remaining >
#   :amount`` is a column of the row itself: on PostgreSQL a statement that waited for the
#   row lock re-checks the row's columns as committed but the subquery against its older
#   snapshot, and ``take_from_first_bucket`` re-checks the bucket under the lock;
# - a grant that never expires, when nothing is due.
# The bounds keep the balance inside the API's 32-bit range without the database ever
# evaluating an overflowing expression.
_GUARDS = {
    "try_decrease": f"""quantity >= :amount AND (tracked_remaining = 0 OR (
        tracked_remaining > :amount AND {_NOTHING_DUE}
        AND ({_FIRST_BUCKET.format(column="g.remaining", balance="item_balances.id")})
            > :amount))""",
    "decrease": "quantity >= :lowest AND tracked_remaining = 0",
    "increase": f"quantity <= :highest AND {_NOTHING_DUE}",
}
_UPDATE = """
    UPDATE item_balances SET quantity = quantity + :delta, version = version + 1,
        updated_at = :now {tracked}
    WHERE customer_pk = (SELECT id FROM customers WHERE type = :type AND customer_id = :customer_id)
      AND item_pk = (SELECT id FROM item_definitions WHERE item_id = :item_id
                     AND archived_at IS NULL AND customer_type = :type)
      AND {guard}
    RETURNING id, customer_pk, quantity, tracked_remaining, version,
        (SELECT low_balance_thresholds FROM item_definitions WHERE id = item_balances.item_pk)"""
_TAKE_TRACKED = (", tracked_remaining = CASE WHEN tracked_remaining = 0 THEN 0 "
                 "ELSE tracked_remaining + :delta END")
CHANGE = {kind: Statement(_UPDATE.format(
    guard=guard, tracked="" if kind == "increase" else _TAKE_TRACKED))
    for kind, guard in _GUARDS.items()}
TAKE_FROM_FIRST_BUCKET = Statement(f"""
    UPDATE item_grants SET remaining = remaining - :amount
    WHERE id = ({_FIRST_BUCKET.format(column="g.id", balance=":balance_id")})
      AND remaining > :amount
    RETURNING id""")
INSERT_CHANGE = Statement("""
    INSERT INTO item_changes (balance_id, customer_pk, version, delta, quantity_after, reason,
        description, expires_at, source, idempotency_key, request_fingerprint, created_at)
    VALUES (:balance_id, :customer_pk, :version, :delta, :quantity_after, :reason,
        :description, :expires_at, :source, :idempotency_key, :request_fingerprint, :now)
    RETURNING id""")




async def read_item(direct: DirectDatabase, ref: CustomerRef, item_id: str,
                    now: datetime) -> tuple[str, BalanceSnapshot] | None:
    """The item's display name and the balance, when one statement is the whole answer:
    a live item of the customer's type with no expiry due (a balance never written reads 0).
    None otherwise."""
    return await or_none(_read_item(direct, ref, item_id, now))


async def _read_item(direct: DirectDatabase, ref: CustomerRef, item_id: str,
                     now: datetime) -> tuple[str, BalanceSnapshot] | None:
    async with direct.read() as conn:
        row = await conn.fetchone(READ_ITEM, type=ref.type.value, customer_id=ref.customer_id,
                                  item_id=item_id)
    if row is None or row[1] != ref.type.value:
        return None
    display_name, _, customer_pk, quantity, version, next_expiry_at = row
    if quantity is None:
        return display_name, BalanceSnapshot(customer_pk, item_id, 0, 0)
    expiry = time_of(next_expiry_at)
    if expiry is not None and expiry <= now:
        return None
    return display_name, BalanceSnapshot(customer_pk, item_id, quantity, version)


async def change(direct: DirectDatabase, ref: CustomerRef, item_id: str, request: Request,
                 now: datetime) -> ChangeResult | None:
    """The change committed, when it needs no bucket work (see ``_GUARDS``), crosses no
    low-balance threshold and its idempotency key (if any) is new. None otherwise, with
    nothing written."""
    if request.bucket:
        return None
    return await or_none(_change(direct, ref, item_id, request, now))


async def _change(direct: DirectDatabase, ref: CustomerRef, item_id: str, request: Request,
                  now: datetime) -> ChangeResult | None:
    names = repo.Names(ref.type.value, ref.customer_id, item_id)
    amount = request.amount
    try:
        async with direct.write() as conn:
            row = await conn.fetchone(
                CHANGE[request.kind], delta=request.delta, now=now, type=ref.type.value,
                customer_id=ref.customer_id, item_id=item_id,
                **_bounds(request.kind, amount))
            if row is None:
                return None
            balance = repo.BalanceRow(row[0], row[1], row[2], row[3], row[4], None,
                                      tuple(json_of(row[5]) or ()))
            if (request.kind == "try_decrease" and balance.tracked > 0
                    and await conn.fetchone(TAKE_FROM_FIRST_BUCKET, amount=amount,
                                            balance_id=balance.id) is None):
                raise Declined("the buckets moved since the guard read them")
            entry = request.entry(balance, now)
            if crossed(balance.thresholds, balance.quantity - request.delta, balance.quantity):
                raise Declined("a low-balance threshold is crossed: the normal path alerts")
            inserted = await conn.fetchone(INSERT_CHANGE, **_entry_params(balance, entry))
    except Exception as exc:
        if is_unique_violation(exc):  # the key was used: the normal path replays it
            raise Declined("idempotency key seen before") from exc
        raise
    assert inserted is not None
    snapshot = BalanceSnapshot(balance.customer_pk, item_id, balance.quantity, balance.version)
    event = ChangeEvent(names.customer_type, names.customer_id, item_id, entry.quantity_after,
                        entry.version, entry.delta, entry.reason)
    return ChangeResult(success=True, balance=snapshot, change_id=inserted[0], changes=[event])


def _bounds(kind: str, amount: int) -> dict[str, int]:
    if kind == "try_decrease":
        return {"amount": amount}
    if kind == "decrease":
        return {"lowest": BALANCE_MIN + amount}
    return {"highest": BALANCE_MAX - amount}


def _entry_params(balance: repo.BalanceRow, entry: Any) -> dict[str, Any]:
    return {"balance_id": balance.id, "customer_pk": balance.customer_pk,
            "version": entry.version, "delta": entry.delta,
            "quantity_after": entry.quantity_after, "reason": entry.reason,
            "description": entry.description, "expires_at": entry.expires_at,
            "source": entry.source, "idempotency_key": entry.idempotency_key,
            "request_fingerprint": entry.request_fingerprint, "now": entry.created_at}
