"""SQL of the item ledger: Core statements over the balance row, its buckets and its ledger.

Every mutation starts by UPDATE-ing the balance row: on PostgreSQL that takes the row lock,
on SQLite every write transaction already holds the write lock (``BEGIN IMMEDIATE``). Nothing
is read and then written back without that lock. The common case (no bucket work) does not
come here: ``direct.py`` does it in one conditional ``UPDATE ... RETURNING`` plus one
``INSERT`` on the driver itself. Conditions that state a ledger rule (which balance, what is
due, the consume order) come from ``rules.py``, shared with the direct path.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing.items import rules, top_up_crossings
from billgate.billing.items.ledger import Bucket, Entry, Ledger
from billgate.billing.items.rows import BalanceRow as BalanceRow  # the repository's row types, named here
from billgate.billing.items.rows import Names as Names
from billgate.billing.items.rules import balances, customers, grants, items
from billgate.db.models import Customer, ItemChange, ItemDefinition
from billgate.db.upsert import insert_ignore
from billgate.types import CustomerRef, CustomerType

changes = cast(Table, ItemChange.__table__)


THRESHOLDS = (select(items.c.low_balance_thresholds).where(items.c.id == balances.c.item_pk)
               .scalar_subquery())
_BALANCE = (balances.c.id, balances.c.customer_pk, balances.c.quantity,
            balances.c.tracked_remaining, balances.c.version, balances.c.next_expiry_at,
            THRESHOLDS, balances.c.reserved, rules.top_up_threshold())


def _balance_row(row: Sequence[Any]) -> BalanceRow:
    return BalanceRow(row[0], row[1], row[2], row[3], row[4], row[5], tuple(row[6] or ()),
                      row[7], row[8])


# Which balance ----------------------------------------------------------------------------


def where_ref(ref: CustomerRef, item_id: str) -> ColumnElement[bool]:
    """The balance of ``ref`` for a live item of its type (``rules.balance_of``)."""
    return rules.balance_of(ref.type.value, ref.customer_id, item_id)


def where_pks(customer_pk: int, item_pk: int) -> ColumnElement[bool]:
    return and_(balances.c.customer_pk == customer_pk, balances.c.item_pk == item_pk)


def where_id(balance_id: int) -> ColumnElement[bool]:
    return balances.c.id == balance_id


# Writes -----------------------------------------------------------------------------------


async def lock(session: AsyncSession, where: ColumnElement[bool]) -> BalanceRow | None:
    """Lock the balance row (a no-op UPDATE) and read it under that lock."""
    stmt = update(balances).where(where).values(version=balances.c.version).returning(*_BALANCE)
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else _balance_row(row)


async def lock_or_create(session: AsyncSession, customer_pk: int, item_pk: int,
                         now: datetime) -> BalanceRow:
    """Lock the balance row, creating it on first use (two first uses race on the unique
    key, not on a read)."""
    balance = await lock(session, where_pks(customer_pk, item_pk))
    if balance is None:
        await insert_ignore(session, balances, {
            "customer_pk": customer_pk, "item_pk": item_pk, "quantity": 0,
            "tracked_remaining": 0, "version": 0, "next_expiry_at": None, "updated_at": now,
        }, ["customer_pk", "item_pk"])
        balance = await lock(session, where_pks(customer_pk, item_pk))
    assert balance is not None
    return balance


async def load_ledger(session: AsyncSession, balance: BalanceRow, now: datetime) -> Ledger:
    """The locked balance with the buckets that matter now: those with something left and
    those due (to close them). With nothing tracked, no bucket matters."""
    buckets: list[Bucket] = []
    if balance.tracked > 0:
        stmt = select(grants.c.id, grants.c.quantity, grants.c.remaining, grants.c.expires_at,
                      grants.c.source, grants.c.created_at).where(
            grants.c.balance_id == balance.id, grants.c.expired_at.is_(None),
            or_(grants.c.remaining > 0, rules.due(grants.c.expires_at, now)),
        )
        buckets = [Bucket(*row) for row in await session.execute(stmt)]
    return Ledger(quantity=balance.quantity, tracked=balance.tracked, version=balance.version,
                  buckets=buckets, reserved=balance.reserved)


async def persist(session: AsyncSession, balance: BalanceRow, ledger: Ledger,
                  now: datetime) -> list[int]:
    """Write what ``ledger`` changed; returns the ids of the new ledger rows, in order."""
    if not ledger.changed:
        return []
    await _save_buckets(session, balance.id, ledger.buckets)
    await session.execute(update(balances).where(balances.c.id == balance.id).values(
        quantity=ledger.quantity, tracked_remaining=ledger.tracked, version=ledger.version,
        next_expiry_at=ledger.next_expiry_at, updated_at=now, reserved=ledger.reserved,
    ))
    ids = await insert_entries(session, balance.id, balance.customer_pk, ledger.entries)
    # The one place the normal path notes an auto top-up's crossing: in the change's own
    # transaction, under the balance row's lock (the direct path declines such changes).
    await top_up_crossings.note(session, balance, ledger.entries, now)
    return ids


async def _save_buckets(session: AsyncSession, balance_id: int, buckets: list[Bucket]) -> None:
    dirty = [{"b_id": b.id, "b_remaining": b.remaining, "b_expired_at": b.expired_at}
             for b in buckets if b.dirty and b.id is not None]
    if dirty:
        stmt = update(grants).where(grants.c.id == bindparam("b_id")).values(
            remaining=bindparam("b_remaining"), expired_at=bindparam("b_expired_at"))
        await session.execute(stmt, dirty)
    new = [{"balance_id": balance_id, "quantity": b.quantity, "remaining": b.remaining,
            "expires_at": b.expires_at, "source": b.source, "created_at": b.created_at,
            "expired_at": b.expired_at} for b in buckets if b.id is None]
    if new:
        await session.execute(insert(grants), new)


async def insert_entries(session: AsyncSession, balance_id: int, customer_pk: int,
                         entries: Sequence[Entry]) -> list[int]:
    if not entries:
        return []
    rows = [{"balance_id": balance_id, "customer_pk": customer_pk, "version": e.version,
             "delta": e.delta, "quantity_after": e.quantity_after, "reason": e.reason,
             "description": e.description, "expires_at": e.expires_at, "source": e.source,
             "idempotency_key": e.idempotency_key,
             "request_fingerprint": e.request_fingerprint, "created_at": e.created_at,
             "reserved_after": e.reserved_after}
            for e in entries]
    stmt = insert(changes).returning(changes.c.id, sort_by_parameter_order=True)
    return list((await session.scalars(stmt, rows)).all())


async def expired_at(session: AsyncSession, balance_id: int, source: str, at: datetime) -> int:
    """The sum that expired of ``source``'s buckets at ``at`` (their ``expire`` rows)."""
    total = await session.scalar(select(func.coalesce(func.sum(changes.c.delta), 0)).where(
        changes.c.balance_id == balance_id, changes.c.reason == "expire",
        changes.c.source == source, changes.c.created_at == at))
    return -int(total or 0)


async def close_empty_source_buckets(session: AsyncSession, source: str, now: datetime) -> None:
    """Mark used-up buckets of an ended source expired, so nothing scans them again."""
    await session.execute(update(grants).where(
        grants.c.source == source, grants.c.expired_at.is_(None), grants.c.remaining == 0,
    ).values(expired_at=now))


# Lookups ----------------------------------------------------------------------------------


def _names_select() -> Any:
    return (select(balances.c.id, customers.c.type, customers.c.customer_id, items.c.item_id)
            .join(customers, customers.c.id == balances.c.customer_pk)
            .join(items, items.c.id == balances.c.item_pk))


async def balances_with_source(session: AsyncSession, source: str) -> list[tuple[int, Names]]:
    """Balances with an active, not used-up bucket of ``source``, by id (the lock order)."""
    has_bucket = select(grants.c.id).where(
        grants.c.balance_id == balances.c.id, grants.c.source == source,
        grants.c.expired_at.is_(None), grants.c.remaining > 0,
    ).exists()
    rows = await session.execute(_names_select().where(has_bucket).order_by(balances.c.id))
    return [(row[0], Names(*row[1:])) for row in rows]


async def due_balances(session: AsyncSession, now: datetime,
                       limit: int) -> list[tuple[int, Names]]:
    """Up to ``limit`` balances with an expiry due, earliest first, returned by id."""
    stmt = (_names_select().where(rules.due(balances.c.next_expiry_at, now))
            .order_by(balances.c.next_expiry_at, balances.c.id).limit(limit))
    rows = [(row[0], Names(*row[1:])) for row in await session.execute(stmt)]
    return sorted(rows, key=lambda pair: pair[0])


async def find_keyed(session: AsyncSession, customer_pk: int, key: str) -> ItemChange | None:
    return await session.scalar(select(ItemChange).where(
        ItemChange.customer_pk == customer_pk, ItemChange.idempotency_key == key))


async def find_keyed_by_ref(session: AsyncSession, ref: CustomerRef,
                            key: str) -> ItemChange | None:
    return await session.scalar(
        select(ItemChange).join(Customer, Customer.id == ItemChange.customer_pk).where(
            Customer.type == ref.type.value, Customer.customer_id == ref.customer_id,
            ItemChange.idempotency_key == key,
        ))


@dataclass(frozen=True)
class StoredBalance:
    """A balance row as read without a lock."""

    id: int
    customer_pk: int
    item_pk: int
    quantity: int
    version: int
    next_expiry_at: datetime | None
    reserved: int = 0


def _stored_statement(item_pk: int | None) -> Any:
    """Customers with their balances (of one item with ``item_pk``), a customer without any
    as one row of NULL balance columns."""
    on = balances.c.customer_pk == customers.c.id
    if item_pk is not None:
        on = and_(on, balances.c.item_pk == item_pk)
    return (select(customers.c.id, customers.c.type, customers.c.customer_id, balances.c.id,
                   balances.c.item_pk, balances.c.quantity, balances.c.version,
                   balances.c.next_expiry_at, balances.c.reserved)
            .select_from(customers).outerjoin(balances, on))


def _stored(rows: Sequence[Sequence[Any]]) -> list[StoredBalance]:
    return [StoredBalance(bid, customer_pk, item, quantity, version, next_expiry, reserved)
            for customer_pk, _, _, bid, item, quantity, version, next_expiry, reserved in rows
            if bid is not None]


async def read_balances(session: AsyncSession, ref: CustomerRef, item_pk: int | None = None
                        ) -> tuple[int | None, list[StoredBalance]]:
    """The customer's pk (None if never seen) and balances (of one item with ``item_pk``),
    in one query."""
    stmt = _stored_statement(item_pk).where(customers.c.type == ref.type.value,
                                            customers.c.customer_id == ref.customer_id)
    rows = (await session.execute(stmt)).all()
    if not rows:
        return None, []
    return rows[0][0], _stored(rows)


async def read_item_balance(session: AsyncSession, ref: CustomerRef, item_id: str
                            ) -> tuple[ItemDefinition, int | None, StoredBalance | None] | None:
    """The live item ``item_id``, the customer's pk (None if never seen) and its balance of
    the item (None if never written), in one query; None when there is no such live item."""
    stmt = (select(ItemDefinition, balances.c.id, customers.c.id, balances.c.quantity,
                   balances.c.version, balances.c.next_expiry_at, balances.c.reserved)
            .select_from(rules.item_with_balance(ref.type.value, ref.customer_id))
            .where(rules.live_item(item_id)))
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    item, balance_id, customer_pk, quantity, version, next_expiry_at, reserved = row
    if balance_id is None:
        return item, customer_pk, None
    return item, customer_pk, StoredBalance(balance_id, customer_pk, item.id, quantity, version,
                                            next_expiry_at, reserved)


async def read_balances_many(session: AsyncSession, refs: Collection[CustomerRef]
                             ) -> tuple[dict[CustomerRef, int], list[StoredBalance]]:
    """The pks of those of ``refs`` that exist (customers never seen are left out) and all
    their balances, in one query."""
    if not refs:
        return {}, []
    pairs = [(ref.type.value, ref.customer_id) for ref in refs]
    stmt = _stored_statement(None).where(
        tuple_(customers.c.type, customers.c.customer_id).in_(pairs))
    rows = (await session.execute(stmt)).all()
    pks = {CustomerRef(CustomerType(row[1]), row[2]): row[0] for row in rows}
    return pks, _stored(rows)


async def list_changes(session: AsyncSession, balance_id: int, *, before_version: int | None,
                       after_version: int | None, limit: int,
                       newest_first: bool) -> Sequence[ItemChange]:
    stmt = select(ItemChange).where(ItemChange.balance_id == balance_id)
    if before_version is not None:
        stmt = stmt.where(ItemChange.version < before_version)
    if after_version is not None:
        stmt = stmt.where(ItemChange.version > after_version)
    order = ItemChange.version.desc() if newest_first else ItemChange.version.asc()
    return (await session.scalars(stmt.order_by(order).limit(limit))).all()
