"""Item balances (credits, seats, API calls): grants, removals, expiries and their ledger.

Rules every function here keeps (the arithmetic itself is in ``ledger.py``):

- One balance row per (customer, item). ``quantity`` may be negative (debt).
- Every change writes exactly one ``item_changes`` row, numbered by the balance's new
  ``version``, in the same transaction as the balance update.
- Expiry is exact: at time ``T`` a grant with ``expires_at <= T`` no longer counts and one with
  ``expires_at > T`` still does, whether or not the scheduler ran. So every read and write
  first settles the expiries due for that balance; each one is its own ledger row and
  version, dated at its ``expires_at``.
- ``ChangeResult.changes`` / the returned ``ChangeEvent`` lists are every ledger row written
  (settled expiries included), in version order, for publishing after commit.
- Time comes only from the ``Clock`` or ``now`` passed in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import customers as customer_service
from billgate.billing import writes
from billgate.billing.items import direct
from billgate.billing.items import repository as repo
from billgate.billing.items.alerts import record_low_balances
from billgate.billing.items.ledger import Ledger, Meta
from billgate.billing.items.overage import limit_for
from billgate.billing.items.requests import (
    Request,
    build_request,
    check_customer_type,
    check_expires_at,
    live_item,
)
from billgate.billing.items.results import BalanceSnapshot, ChangeEvent, ChangeResult, events_of
from billgate.billing.items.rules import may_consume
from billgate.clock import Clock
from billgate.db.engine import Database
from billgate.db.models import Customer, ItemChange, ItemDefinition
from billgate.errors import IdempotencyKeyReused, InsufficientQuantity, InvalidInput
from billgate.types import CustomerRef, CustomerType

# A unique-key race is retried (or replayed); more than this means something else is wrong.
_ATTEMPTS = 3

class _Refused(Exception):
    """Raised inside the transaction so it rolls back; carries the failed result."""

    def __init__(self, result: ChangeResult) -> None:
        super().__init__("refused")
        self.result = result


# Own-transaction operations (server API, through ``billing/balances.py``) ------------------

# Gives a customer seen for the first time its include-by-default products (their events).
Ensure = Callable[[Database, CustomerRef, datetime], Awaitable[list[ChangeEvent]]]



async def try_decrease(db: Database, customer: CustomerRef, item_id: str, *, amount: int,
                       clock: Clock, ensure: Ensure, description: str | None = None,
                       idempotency_key: str | None = None) -> ChangeResult:
    """Consume ``amount`` only if the balance (after due expiries) is at least ``amount``.

    Atomic under any concurrency on SQLite and PostgreSQL: the check and the decrement are
    one conditional UPDATE on the locked balance row, so it never oversells. Consumes the
    soonest-expiring buckets first, never-expiring grants last. When the balance is short it
    returns ``success=False`` with an ``InsufficientQuantity`` and writes nothing: not the
    consumption, not the ledger row, not the idempotency key (a retry with that key tries
    again), and not the due expiries it computed (those are recomputed by the next read or
    write, so the answer is the same). A key already used by this customer returns the first
    result (``replayed=True``) when the request is the same, else raises
    ``IdempotencyKeyReused``.
    """
    request = build_request("try_decrease", item_id, amount, reason="consume",
                            description=description, idempotency_key=idempotency_key)
    return await _run(db, customer, item_id, request, clock, ensure)


async def increase(db: Database, customer: CustomerRef, item_id: str, *, amount: int,
                   clock: Clock, ensure: Ensure, expires_at: datetime | None = None,
                   description: str | None = None, idempotency_key: str | None = None,
                   reason: str = "manual") -> ChangeResult:
    """Grant ``amount``. Debt is paid first. With ``expires_at`` (which must be in the
    future) the grant is a bucket whose unused part leaves the balance at ``expires_at``;
    what paid debt never expires. Idempotency keys work as in ``try_decrease``."""
    request = build_request("increase", item_id, amount, reason=reason,
                            description=description, idempotency_key=idempotency_key,
                            expires_at=expires_at)
    return await _run(db, customer, item_id, request, clock, ensure)


async def decrease(db: Database, customer: CustomerRef, item_id: str, *, amount: int,
                   clock: Clock, ensure: Ensure, description: str | None = None,
                   idempotency_key: str | None = None, reason: str = "manual") -> ChangeResult:
    """Remove ``amount`` even past zero: soonest-expiring buckets first, then grants that
    never expire, then debt (``quantity < 0``), which the next grant pays first.

    Holds: a ``decrease`` is not refused by them (today's rule: it may always go into
    debt), so it can take ``available`` below 0; the holds stay, and committing one then
    takes the balance (further) into debt. ``try_decrease`` and new holds are refused
    while ``available`` does not cover them."""
    request = build_request("decrease", item_id, amount, reason=reason,
                            description=description, idempotency_key=idempotency_key)
    return await _run(db, customer, item_id, request, clock, ensure)


async def _run(db: Database, ref: CustomerRef, item_id: str, request: Request,
               clock: Clock, ensure: Ensure) -> ChangeResult:
    """One write transaction; on a unique-key race, the winner's result or a retry. A
    customer seen for the first time is given its include-by-default products first by
    ``ensure`` (a purchases concern: ``billing/balances.py`` passes the unit of work)."""
    customer_service.validate_ref(ref)
    if db.direct is not None:
        done = await direct.change(db.direct, ref, item_id, request, clock.now())
        if done is not None:
            return done
    included: list[ChangeEvent] = []  # what the customer's first reference granted

    async def once() -> ChangeResult:
        async with db.session() as session, session.begin():
            return await _change_by_ref(session, ref, item_id, request, clock.now())

    for attempt in range(_ATTEMPTS + 1):
        try:
            # A lost lock race (a PostgreSQL deadlock with a unit of work, which locks the
            # customer before the balance) is tried again like every other write.
            return _after(included, await writes.attempt(once, what="a balance change"))
        except _Refused as refused:
            return _after(included, refused.result)
        except _NotEnsured:
            included += await ensure(db, ref, clock.now())
        except IntegrityError:
            # Only the idempotency key can collide (rows are created with ON CONFLICT DO
            # NOTHING, versions under the row lock): a concurrent request with our key won.
            if attempt + 1 == _ATTEMPTS:
                raise
            replay = await _replay_after_race(db, ref, item_id, request)
            if replay is not None:
                return replay
    raise AssertionError("unreachable")


async def _change_by_ref(session: AsyncSession, ref: CustomerRef, item_id: str,
                         request: Request, now: datetime) -> ChangeResult:
    """The change on the locked balance row (``direct.change`` takes the common case
    before this, in one statement or three)."""
    names = repo.Names(ref.type.value, ref.customer_id, item_id)
    balance = await repo.lock(session, repo.where_ref(ref, item_id))
    if balance is None:
        balance = await _first_use(session, ref, request, names, now)
    elif not await _ensured(session, ref):
        raise _NotEnsured()  # an include-by-default product added since: given first
    key = request.meta.idempotency_key
    prior = await repo.find_keyed(session, balance.customer_pk, key) if key else None
    if prior is not None:
        return _replay(prior, request, item_id)
    # After the key: a retry of a grant whose expiry has passed still gets its first result.
    # (A dated grant never takes the fast path, and raising rolls back the rows made above.)
    check_expires_at(request.meta.expires_at, now)
    return await _locked_change(session, balance, names, request, now)


async def _first_use(session: AsyncSession, ref: CustomerRef, request: Request,
                     names: repo.Names, now: datetime) -> repo.BalanceRow:
    """No balance row matched: the item must be live and of the customer's type; then the
    customer and the row are created and locked. A ``try_decrease`` has nothing to consume
    here, so it refuses and creates nothing (a reused idempotency key still raises)."""
    item = await live_item(session, names.item_id, ref.type)
    ensured = (await session.execute(customer_service.ensured_statement(ref))).one_or_none()
    if ensured is None or not customer_service.is_ensured(ensured.included_version,
                                                          ensured.catalog_version):
        if ensured is None:  # bad input changes nothing, not even the customer's creation
            check_expires_at(request.meta.expires_at, now)
        raise _NotEnsured()
    if request.kind != "try_decrease" or await _in_overage(session, ensured.id, names.item_id,
                                                             request.amount):
        return await repo.lock_or_create(session, ensured.id, item.id, now)
    known = await customer_service.find(session, ref)
    key = request.meta.idempotency_key
    if known is not None and key is not None:
        prior = await repo.find_keyed(session, known.id, key)
        if prior is not None:
            _check_fingerprint(prior, request)
    raise _refusal(known.id if known else None, request, names, quantity=0, version=0)


async def _in_overage(session: AsyncSession, customer_pk: int, item_id: str,
                      amount: int) -> bool:
    """A ``try_decrease`` on a balance never written (0) that an owned plan's overage lets
    through (``rules.may_consume``)."""
    return may_consume(0, amount, await limit_for(session, customer_pk, item_id))


async def _ensured(session: AsyncSession, ref: CustomerRef) -> bool:
    ensured = (await session.execute(customer_service.ensured_statement(ref))).one_or_none()
    return ensured is not None and customer_service.is_ensured(ensured.included_version,
                                                                ensured.catalog_version)


class _NotEnsured(Exception):  # noqa: N818 - a signal, not an error
    """The customer is new (or its include-by-default products predate the catalog): they
    are given first, in their own transaction, then the change runs again."""


def _after(included: list[ChangeEvent], result: ChangeResult) -> ChangeResult:
    """The change's result, with the first reference's grants ahead of its own events."""
    if not included:
        return result
    return dataclasses.replace(result, changes=[*included, *result.changes])


async def _replay_after_race(db: Database, ref: CustomerRef, item_id: str,
                             request: Request) -> ChangeResult | None:
    key = request.meta.idempotency_key
    if key is None:
        return None
    async with db.read_session() as session:
        prior = await repo.find_keyed_by_ref(session, ref, key)
    return None if prior is None else _replay(prior, request, item_id)


def _replay(prior: ItemChange, request: Request, item_id: str) -> ChangeResult:
    """The first result of a keyed request, when this one asks for the same thing."""
    _check_fingerprint(prior, request)
    balance = BalanceSnapshot(prior.customer_pk, item_id, prior.quantity_after, prior.version)
    return ChangeResult(success=True, balance=balance, change_id=prior.id, replayed=True)


def _check_fingerprint(prior: ItemChange, request: Request) -> None:
    if prior.request_fingerprint != request.meta.request_fingerprint:
        raise IdempotencyKeyReused(
            f"idempotency key {prior.idempotency_key!r} was already used for a different request",
            field=["idempotencyKey"],
        )


# Caller-transaction operations (purchases, subscriptions, scheduler) -----------------------


async def grant(session: AsyncSession, customer: Customer, item: ItemDefinition, *,
                quantity: int, now: datetime, expires_at: datetime | None = None,
                expire_with_source: bool = False, reason: str, source: str | None,
                description: str | None = None) -> list[ChangeEvent]:
    """Grant ``quantity`` inside the caller's transaction; publish the events after commit.

    Debt is paid first. The grant can expire at ``expires_at`` (future) and/or, with
    ``expire_with_source``, when ``expire_source(source)`` is called (WHEN_REPEATED,
    WHEN_PURCHASE_EXPIRES); only its unused remainder expires. Otherwise it never expires.
    Archived items may still be granted (renewals of what a customer already owns).
    """
    if expire_with_source and not source:
        raise InvalidInput("a grant that expires with its source needs a source", field=["source"])
    request = build_request("increase", item.item_id, quantity, reason=reason,
                            description=description, expires_at=expires_at, source=source,
                            expire_with_source=expire_with_source)
    return await _change_rows(session, customer, item, request, now)


async def revoke(session: AsyncSession, customer: Customer, item: ItemDefinition, *,
                 quantity: int, now: datetime, reason: str, source: str | None = None,
                 description: str | None = None) -> list[ChangeEvent]:
    """Remove ``quantity`` inside the caller's transaction, as ``decrease`` does (may go
    negative: soonest-expiring buckets first, then never-expiring grants, then debt)."""
    request = build_request("decrease", item.item_id, quantity, reason=reason,
                            description=description, source=source)
    return await _change_rows(session, customer, item, request, now)


async def _change_rows(session: AsyncSession, customer: Customer, item: ItemDefinition,
                       request: Request, now: datetime) -> list[ChangeEvent]:
    check_customer_type(item, CustomerType(customer.type))
    check_expires_at(request.meta.expires_at, now)
    names = repo.Names(customer.type, customer.customer_id, item.item_id)
    balance = await repo.lock_or_create(session, customer.id, item.id, now)
    return (await _locked_change(session, balance, names, request, now)).changes


async def expire_source(session: AsyncSession, source: str, *, now: datetime) -> list[ChangeEvent]:
    """End ``source``: the unused remainder of each of its active buckets leaves its balance
    now (one ledger row each, after that balance's due dated expiries). Used parts stay used;
    grants that never expire are untouched. Runs in the caller's transaction."""
    events: list[ChangeEvent] = []
    for balance_id, names in await repo.balances_with_source(session, source):
        balance = await repo.lock(session, repo.where_id(balance_id))
        assert balance is not None
        ledger = await repo.load_ledger(session, balance, now)
        ledger.expire_source(source, now)
        expired = events_of(names, ledger.entries)
        await repo.persist(session, balance, ledger, now)
        await record_low_balances(session, expired, thresholds=balance.thresholds, now=now)
        events += expired
    await repo.close_empty_source_buckets(session, source, now)
    return events


async def take_from_source(session: AsyncSession, customer: Customer, item: ItemDefinition, *,
                           source: str, quantity: int, now: datetime, reason: str,
                           description: str | None = None) -> list[ChangeEvent]:
    """Remove up to ``quantity`` of the unused remainder of ``source``'s expiring grants of
    ``item`` (``Ledger.take_from_source``: never other grants, never into debt). Runs in
    the caller's transaction, on the locked balance row."""
    build_request("decrease", item.item_id, quantity, reason=reason, description=description,
                  source=source)  # the same checks of amount, reason and text as any change
    names = repo.Names(customer.type, customer.customer_id, item.item_id)
    balance = await repo.lock_or_create(session, customer.id, item.id, now)
    ledger = await repo.load_ledger(session, balance, now)
    ledger.take_from_source(quantity, source, now=now,
                            meta=Meta(reason=reason, description=description, source=source))
    await repo.persist(session, balance, ledger, now)
    events = events_of(names, ledger.entries)
    await record_low_balances(session, events, thresholds=balance.thresholds, now=now)
    return events


async def expired_of_source(session: AsyncSession, customer: Customer, item: ItemDefinition, *,
                            source: str, at: datetime,
                            now: datetime) -> tuple[int, list[ChangeEvent]]:
    """What of ``source``'s grants left the balance by expiring at ``at`` (the sum of its
    ``expire`` ledger rows dated ``at``), after settling the expiries due at ``now`` (their
    events are returned). A rollover carries that remainder over. Runs in the caller's
    transaction, on the locked balance row."""
    names = repo.Names(customer.type, customer.customer_id, item.item_id)
    balance = await repo.lock_or_create(session, customer.id, item.id, now)
    ledger = await repo.load_ledger(session, balance, now)
    ledger.settle(now)
    await repo.persist(session, balance, ledger, now)
    events = events_of(names, ledger.entries)
    await record_low_balances(session, events, thresholds=balance.thresholds, now=now)
    return await repo.expired_at(session, balance.id, source, at), events


async def settle_due(session: AsyncSession, *, now: datetime,
                     limit: int = 500) -> list[ChangeEvent]:
    """Settle up to ``limit`` balances whose next dated expiry is due (the scheduler's job;
    reads and writes settle on their own, so this only makes the ledger and live events
    timely). Runs in the caller's transaction."""
    events: list[ChangeEvent] = []
    for balance_id, names in await repo.due_balances(session, now, limit):
        _, settled = await settle_one(session, balance_id, names, now)
        events += settled
    return events


async def settle_one(session: AsyncSession, balance_id: int, names: repo.Names,
                     now: datetime) -> tuple[Ledger, list[ChangeEvent]]:
    """Lock one balance and settle its due expiries (if someone settled them meanwhile,
    there is nothing left to do)."""
    balance = await repo.lock(session, repo.where_id(balance_id))
    assert balance is not None  # balances are never deleted
    ledger = await repo.load_ledger(session, balance, now)
    ledger.settle(now)
    await repo.persist(session, balance, ledger, now)
    events = events_of(names, ledger.entries)
    await record_low_balances(session, events, thresholds=balance.thresholds, now=now)
    return ledger, events


# The change itself --------------------------------------------------------------------------


async def _locked_change(session: AsyncSession, balance: repo.BalanceRow, names: repo.Names,
                         request: Request, now: datetime) -> ChangeResult:
    """On the locked row: settle due expiries, check, apply to the buckets, write it all."""
    ledger = await repo.load_ledger(session, balance, now)
    ledger.settle(now)
    # Holds count against a try_decrease (SQL twin: ``rules.guard``); a ``decrease`` goes
    # through them as it goes into debt (see ``decrease``). An owned plan's overage lets a
    # try_decrease go below zero (``rules.may_consume``): its plans are read only when the
    # balance alone does not cover it.
    if request.kind == "try_decrease" and not may_consume(
            ledger.available, request.amount) and not may_consume(
            ledger.available, request.amount,
            await limit_for(session, balance.customer_pk, names.item_id)):
        raise _refusal(balance.customer_pk, request, names, quantity=ledger.quantity,
                       version=ledger.version, reserved=ledger.reserved)
    request.apply(ledger, now)
    ids = await repo.persist(session, balance, ledger, now)
    snapshot = BalanceSnapshot(balance.customer_pk, names.item_id, ledger.quantity,
                               ledger.version, ledger.reserved)
    changes = events_of(names, ledger.entries)
    await record_low_balances(session, changes, thresholds=balance.thresholds, now=now)
    return ChangeResult(success=True, balance=snapshot, change_id=ids[-1], changes=changes)


def _refusal(customer_pk: int | None, request: Request, names: repo.Names, *, quantity: int,
             version: int, reserved: int = 0) -> _Refused:
    """A failed ``try_decrease``: what was available (due expiries and holds counted),
    nothing written."""
    snapshot = BalanceSnapshot(customer_pk, names.item_id, quantity, version, reserved)
    error = InsufficientQuantity(names.item_id, request.amount, quantity - reserved)
    return _Refused(ChangeResult(success=False, balance=snapshot, change_id=None, error=error))


