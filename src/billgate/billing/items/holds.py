"""Reservations: an amount held against a balance's ``available`` (quantity - reserved)
until it is committed (all or part used, one ledger row), released, or expired.

Rules every function here keeps:

- ``item_balances.reserved`` is the sum of the balance's HELD ``item_reservations``; both
  are changed in the same transaction, on the locked balance row (``repo.lock``). So the
  hot path's ``try_decrease`` guard is ``quantity - reserved >= amount`` on the row it
  updates (``rules.guard``), exact under any race on SQLite and PostgreSQL.
- A new hold needs ``available >= amount`` after due expiries, like ``try_decrease``; a
  refused one writes nothing (not its idempotency key).
- Every hold change writes exactly one ledger row and version: ``reserve`` / ``release`` /
  ``hold_expired`` rows of delta 0 (so live subscribers see ``reserved`` change in order),
  and a commit one row of ``-used`` (reason ``consume``; delta 0 ``release`` when nothing
  was used). ``item_changes.reserved_after`` carries ``reserved`` after each row.
- A hold is ended once: committing, releasing or expiring a reservation that is no longer
  HELD is ``RESERVATION_NOT_FOUND``, except that repeating a commit or a release that
  already happened (a double click) answers the balance as it is.
- A commit takes what it uses even when expiries or a ``decrease`` took the balance below
  what was held (``ledger.Ledger.commit_hold``): the debt rule of ``decrease``.
- At ``expires_at`` a hold can no longer be committed (``RESERVATION_NOT_FOUND``, nothing
  changed); it still counts in ``reserved`` until the scheduler's ``expire_due`` (or a
  release) lets go of it.
- Time comes from the ``Clock`` / ``now`` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import customers as customer_service
from billgate.billing import writes
from billgate.billing.items import repository as repo
from billgate.billing.items.ledger import Meta
from billgate.billing.items.requests import MAX_KEY_LENGTH, _check_amount, live_item
from billgate.billing.items.results import BalanceSnapshot, ChangeEvent, events_of
from billgate.billing.items.rules import balances
from billgate.billing.items.service import Ensure
from billgate.clock import Clock
from billgate.db.engine import Database
from billgate.db.models import Customer, ItemDefinition, ItemReservation
from billgate.errors import (
    IdempotencyKeyReused,
    InsufficientQuantity,
    InvalidInput,
    ReservationNotFound,
)
from billgate.types import CustomerRef, CustomerType

MAX_TTL_SECONDS = 7 * 24 * 3600
HELD, COMMITTED, RELEASED, EXPIRED = "HELD", "COMMITTED", "RELEASED", "EXPIRED"
_ATTEMPTS = 3


@dataclass(frozen=True)
class Reservation:
    id: int
    item_id: str
    amount: int
    status: str
    expires_at: datetime
    committed: int | None = None


@dataclass(frozen=True)
class HoldResult:
    """``success`` is False only for a hold that ``available`` did not cover: then
    ``error`` says why, ``balance`` is what there was, and nothing was written."""

    success: bool
    balance: BalanceSnapshot
    reservation: Reservation | None = None
    changes: list[ChangeEvent] = field(default_factory=list)
    error: InsufficientQuantity | None = None
    replayed: bool = False


class _Refused(Exception):  # noqa: N818 - rolls the transaction back, carries the answer
    def __init__(self, result: HoldResult) -> None:
        super().__init__("refused")
        self.result = result


class _NotEnsured(Exception):  # noqa: N818
    pass


def _check_ttl(ttl_seconds: int) -> None:
    if isinstance(ttl_seconds, bool) or not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise InvalidInput(f"ttlSeconds must be from 1 to {MAX_TTL_SECONDS}",
                           field=["ttlSeconds"])


async def reserve(db: Database, ref: CustomerRef, item_id: str, *, amount: int,
                  ttl_seconds: int, clock: Clock, ensure: Ensure,
                  idempotency_key: str | None = None) -> HoldResult:
    """Hold ``amount`` of the balance until ``now + ttl_seconds`` when ``available`` (after
    due expiries) covers it; else ``success=False`` with ``InsufficientQuantity`` and
    nothing written. A key already used by this customer returns the first hold
    (``replayed``) when asked the same, else raises ``IdempotencyKeyReused``."""
    customer_service.validate_ref(ref)
    _check_amount(amount)
    _check_ttl(ttl_seconds)
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= MAX_KEY_LENGTH:
        raise InvalidInput(f"idempotencyKey must be 1 to {MAX_KEY_LENGTH} characters",
                           field=["idempotencyKey"])
    fingerprint = f"reserve:{item_id}:{amount}:{ttl_seconds}"
    included: list[ChangeEvent] = []
    async def work(session: AsyncSession) -> HoldResult:
        return await _reserve(session, ref, item_id, amount, ttl_seconds, clock.now(),
                              idempotency_key, fingerprint)

    for attempt in range(_ATTEMPTS + 1):
        try:
            # Retried when it lost a lock race: on PostgreSQL the reservation's foreign key
            # to the customer waits for a unit of work that holds the customer's lock.
            result = await writes.apart(db, work)
            break
        except _Refused as refused:
            result = refused.result
            break
        except _NotEnsured:
            included += await ensure(db, ref, clock.now())
        except IntegrityError:  # a concurrent hold with our key won: answer it
            if idempotency_key is None or attempt + 1 >= _ATTEMPTS:
                raise
    else:
        raise AssertionError("unreachable")
    if included:
        result = HoldResult(result.success, result.balance, result.reservation,
                            [*included, *result.changes], result.error, result.replayed)
    return result


async def _reserve(session: AsyncSession, ref: CustomerRef, item_id: str, amount: int,
                   ttl_seconds: int, now: datetime, key: str | None,
                   fingerprint: str) -> HoldResult:
    names = repo.Names(ref.type.value, ref.customer_id, item_id)
    balance = await repo.lock(session, repo.where_ref(ref, item_id))
    if balance is None:
        await live_item(session, item_id, ref.type)  # ITEM_NOT_FOUND / type mismatch
        ensured = (await session.execute(customer_service.ensured_statement(ref))).one_or_none()
        if ensured is None or not customer_service.is_ensured(ensured.included_version,
                                                              ensured.catalog_version):
            raise _NotEnsured()
        # Never written: nothing to hold (a reused key still answers).
        if key is not None and (prior := await _keyed(session, ensured.id, key)) is not None:
            return await _replayed(session, prior, fingerprint, item_id)
        snapshot = BalanceSnapshot(ensured.id, item_id, 0, 0)
        raise _Refused(HoldResult(False, snapshot, error=InsufficientQuantity(item_id, amount, 0)))
    if key is not None and (prior := await _keyed(session, balance.customer_pk, key)) is not None:
        return await _replayed(session, prior, fingerprint, item_id)
    ledger = await repo.load_ledger(session, balance, now)
    ledger.settle(now)
    if ledger.available < amount:
        snapshot = BalanceSnapshot(balance.customer_pk, item_id, ledger.quantity, ledger.version,
                                   ledger.reserved)
        error = InsufficientQuantity(item_id, amount, ledger.available)
        raise _Refused(HoldResult(False, snapshot, error=error))
    ledger.hold(amount, now=now, meta=Meta(reason="reserve", idempotency_key=None))
    await repo.persist(session, balance, ledger, now)
    expires_at = now + timedelta(seconds=ttl_seconds)
    reservation_id = await session.scalar(insert(ItemReservation).values(
        balance_id=balance.id, customer_pk=balance.customer_pk, amount=amount, status=HELD,
        expires_at=expires_at, idempotency_key=key, request_fingerprint=fingerprint,
        created_at=now).returning(ItemReservation.id))
    assert reservation_id is not None
    snapshot = BalanceSnapshot(balance.customer_pk, item_id, ledger.quantity, ledger.version,
                               ledger.reserved)
    return HoldResult(True, snapshot, Reservation(reservation_id, item_id, amount, HELD,
                                                  expires_at), events_of(names, ledger.entries))


async def _keyed(session: AsyncSession, customer_pk: int, key: str) -> ItemReservation | None:
    return await session.scalar(select(ItemReservation).where(
        ItemReservation.customer_pk == customer_pk, ItemReservation.idempotency_key == key))


async def _replayed(session: AsyncSession, prior: ItemReservation, fingerprint: str,
                    item_id: str) -> HoldResult:
    if prior.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            f"idempotency key {prior.idempotency_key!r} was already used for a different request",
            field=["idempotencyKey"])
    balance = await repo.lock(session, repo.where_id(prior.balance_id))
    assert balance is not None
    return HoldResult(True, _snapshot(balance, item_id), _view(prior, item_id), replayed=True)


def _snapshot(balance: repo.BalanceRow, item_id: str) -> BalanceSnapshot:
    return BalanceSnapshot(balance.customer_pk, item_id, balance.quantity, balance.version,
                           balance.reserved)


def _view(row: ItemReservation, item_id: str) -> Reservation:
    return Reservation(row.id, item_id, row.amount, row.status, row.expires_at, row.committed)


@dataclass(frozen=True)
class Ended:
    """A hold ended (or already ended the same way): the balance after it."""

    customer: CustomerRef
    balance: BalanceSnapshot
    reservation: Reservation
    changes: list[ChangeEvent] = field(default_factory=list)


async def commit(db: Database, reservation_id: int, *, clock: Clock, amount: int | None = None,
                 owner: CustomerRef | None = None) -> Ended:
    """Use ``amount`` (default: all) of a HELD reservation: one ledger row of ``-amount``
    (reason ``consume``), the whole hold let go. ``amount`` may be 0 (nothing used) and at
    most what is held. With ``owner``, only that customer's reservation is found."""
    if amount is not None and (isinstance(amount, bool) or amount < 0):
        raise InvalidInput("amount must be 0 or more", field=["amount"])
    return await _end(db, reservation_id, COMMITTED, clock.now(), amount, owner)


async def release(db: Database, reservation_id: int, *, clock: Clock,
                  owner: CustomerRef | None = None) -> Ended:
    """Let go of a HELD reservation (a delta-0 ``release`` row)."""
    return await _end(db, reservation_id, RELEASED, clock.now(), None, owner)


async def _end(db: Database, reservation_id: int, status: str, now: datetime,
               amount: int | None, owner: CustomerRef | None) -> Ended:
    return await writes.apart(db, lambda session: _end_locked(
        session, reservation_id, status, now, amount, owner))


async def _end_locked(session: AsyncSession, reservation_id: int, status: str, now: datetime,
                      amount: int | None, owner: CustomerRef | None) -> Ended:
    found = await _locate(session, reservation_id, owner)
    if found is None:
        raise ReservationNotFound("no such reservation", field=["reservationId"])
    row, item, customer = found
    ref = CustomerRef(CustomerType(customer.type), customer.customer_id)
    balance = await repo.lock(session, repo.where_id(row.balance_id))
    assert balance is not None
    await session.refresh(row)  # re-read under the balance lock: it may have ended
    if row.status != HELD:
        asked = row.amount if amount is None else amount
        if row.status == status and (status == RELEASED or row.committed == asked):
            return Ended(ref, _snapshot(balance, item.item_id), _view(row, item.item_id))
        raise ReservationNotFound(f"the reservation is already {row.status.lower()}",
                                  field=["reservationId"])
    if status == COMMITTED and row.expires_at <= now:
        # Its time is up (the scheduler releases it as EXPIRED): what it held is no longer
        # promised, so it cannot be used; nothing changes here.
        raise ReservationNotFound("the reservation expired", field=["reservationId"])
    used = row.amount if amount is None else amount
    if status == COMMITTED and used > row.amount:
        raise InvalidInput(f"amount must be at most the {row.amount} held",
                           field=["amount"])
    events = await _settle(session, row, balance, item, customer, status, now,
                           used if status == COMMITTED else 0)
    return Ended(ref, events[0], _view(row, item.item_id), events[1])


async def _settle(session: AsyncSession, row: ItemReservation, balance: repo.BalanceRow,
                  item: ItemDefinition, customer: Customer, status: str, now: datetime,
                  used: int) -> tuple[BalanceSnapshot, list[ChangeEvent]]:
    """End the locked ``row`` as ``status`` (its one ledger row), the balance row locked."""
    names = repo.Names(customer.type, customer.customer_id, item.item_id)
    ledger = await repo.load_ledger(session, balance, now)
    ledger.settle(now)
    if used > 0:
        ledger.commit_hold(row.amount, used, now=now, meta=Meta(reason="consume"))
    else:
        reason = {EXPIRED: "hold_expired"}.get(status, "release")
        ledger.hold(-row.amount, now=now, meta=Meta(reason=reason))
    await repo.persist(session, balance, ledger, now)
    await session.execute(update(ItemReservation).where(ItemReservation.id == row.id).values(
        status=status, committed=used if status == COMMITTED else None, settled_at=now))
    await session.refresh(row)
    snapshot = BalanceSnapshot(balance.customer_pk, item.item_id, ledger.quantity,
                               ledger.version, ledger.reserved)
    return snapshot, events_of(names, ledger.entries)


async def _locate(session: AsyncSession, reservation_id: int, owner: CustomerRef | None
                  ) -> tuple[ItemReservation, ItemDefinition, Customer] | None:
    stmt = (select(ItemReservation, ItemDefinition, Customer)
            .join(balances, balances.c.id == ItemReservation.balance_id)
            .join(ItemDefinition, ItemDefinition.id == balances.c.item_pk)
            .join(Customer, Customer.id == ItemReservation.customer_pk)
            .where(ItemReservation.id == reservation_id))
    if owner is not None:
        stmt = stmt.where(Customer.type == owner.type.value,
                          Customer.customer_id == owner.customer_id)
    found = (await session.execute(stmt)).first()
    return None if found is None else (found[0], found[1], found[2])


async def find(db: Database, reservation_id: int) -> tuple[CustomerRef, Reservation] | None:
    """A reservation and its customer, as stored now (``node(id)``)."""
    async with db.read_session() as session:
        found = await _locate(session, reservation_id, None)
    if found is None:
        return None
    row, item, customer = found
    return CustomerRef(CustomerType(customer.type), customer.customer_id), _view(row, item.item_id)


async def expire_due(session: AsyncSession, *, now: datetime,
                     limit: int = 500) -> list[ChangeEvent]:
    """Release up to ``limit`` HELD reservations whose ``expires_at <= now`` as EXPIRED
    (the scheduler's job), each under its balance's lock, in the caller's transaction. One
    that was committed or released meanwhile is left as it is."""
    due = (await session.execute(
        select(ItemReservation.id, ItemReservation.balance_id)
        .where(ItemReservation.status == HELD, ItemReservation.expires_at <= now)
        .order_by(ItemReservation.balance_id, ItemReservation.id).limit(limit))).all()
    events: list[ChangeEvent] = []
    for reservation_id, balance_id in due:  # balance id order: one lock order
        balance = await repo.lock(session, repo.where_id(balance_id))
        found = await _locate(session, reservation_id, None)
        assert balance is not None and found is not None
        row, item, customer = found
        await session.refresh(row)
        if row.status != HELD:
            continue
        _, ended = await _settle(session, row, balance, item, customer, EXPIRED, now, 0)
        events += ended
    return events


async def next_expiry(session: AsyncSession, now: datetime) -> datetime | None:
    """The earliest ``expires_at`` of a HELD reservation due at ``now`` (None: none)."""
    from sqlalchemy import func

    return await session.scalar(select(func.min(ItemReservation.expires_at)).where(
        ItemReservation.status == HELD, ItemReservation.expires_at <= now))
