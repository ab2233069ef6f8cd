"""Reading balances and their ledger.

A read settles the expiries due at its ``now`` first (committed in a write transaction only
when one is due; otherwise it is a plain read), so a balance read at ``T`` never counts a grant
that expired at or before ``T``, whether or not the scheduler ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import catalog, writes
from billgate.billing import customers as customer_service
from billgate.billing.items import direct
from billgate.billing.items import repository as repo
from billgate.billing.items.ledger import due as is_due
from billgate.billing.items.requests import MAX_PAGE, check_customer_type, check_limit, live_item
from billgate.billing.items.results import BalanceSnapshot, ChangeEvent
from billgate.billing.items.service import settle_one
from billgate.billing.publishing import publish_changes
from billgate.clock import Clock
from billgate.db.engine import Database
from billgate.db.models import ItemChange, ItemDefinition
from billgate.errors import ItemNotFound
from billgate.types import CustomerRef


async def get_balance(db: Database, customer: CustomerRef, item_id: str, *, clock: Clock,
                      bus: Any = None) -> BalanceSnapshot:
    """The balance now (``read_item``)."""
    _, snapshot = await read_item(db, customer, item_id, clock=clock, bus=bus)
    return snapshot


async def read_item(db: Database, customer: CustomerRef, item_id: str, *, clock: Clock,
                    bus: Any = None) -> tuple[str, BalanceSnapshot]:
    """The live item's display name and the customer's balance of it now. One direct
    statement when nothing is due (``direct.read_item``); otherwise read here, and when an
    expiry is due it is settled and committed first (its events go to ``bus`` after
    commit). A balance never written reads as quantity 0, version 0, and reading creates
    nothing."""
    customer_service.validate_ref(customer)
    now = clock.now()
    if db.direct is not None:
        found = await direct.read_item(db.direct, customer, item_id, now)
        if found is not None:
            return found
    async with db.read_session() as session:
        read = await repo.read_item_balance(session, customer, item_id)
    if read is None:
        raise ItemNotFound(f"item {item_id!r} not found", field=["itemId"])
    item, customer_pk, stored = read
    check_customer_type(item, customer.type)
    if stored is None:
        return item.display_name, BalanceSnapshot(customer_pk, item_id, 0, 0)
    settled = await _settle_stored(db, [stored], {stored.id: _names(customer, item_id)}, now,
                                   bus)
    return item.display_name, settled[stored.id]


async def read_item_checking_customer(db: Database, customer: CustomerRef, item_id: str, *,
                                     clock: Clock) -> tuple[str, BalanceSnapshot] | None:
    """``read_item`` in one direct statement that is also the customer's check (it exists
    and has the catalog's include-by-default products: ``customers.is_ensured``), for a
    request that has not checked the customer yet: the hot path's read in one round trip
    instead of two. None when that statement is not the whole answer; the caller then
    ensures the customer and reads with ``read_item``."""
    if db.direct is None:
        return None
    customer_service.validate_ref(customer)
    return await direct.read_item(db.direct, customer, item_id, clock.now(), check_customer=True)


Balances = list[tuple[ItemDefinition, BalanceSnapshot]]


async def list_balances(db: Database, customer: CustomerRef, *, clock: Clock,
                        bus: Any = None) -> Balances:
    """Every live item of the customer's type with its balance now (0 where nothing was
    granted), in ``item_id`` order: ``list_balances_many`` for one customer."""
    [balances] = await list_balances_many(db, [customer], clock=clock, bus=bus)
    return balances


async def list_balances_many(db: Database, customers: Sequence[CustomerRef], *, clock: Clock,
                             bus: Any = None) -> list[Balances]:
    """For each of ``customers`` (in their order, repeats allowed), every live item of its
    type with its balance now (0 where nothing was granted, or for a customer never seen),
    in ``item_id`` order. Two reads whatever the number of customers, plus one write
    transaction when expiries are due (settled at one ``now`` for all of them, so no
    balance counts a grant that expired at or before it). Reading creates nothing."""
    for ref in customers:
        customer_service.validate_ref(ref)
    if not customers:
        return []
    now = clock.now()
    async with db.read_session() as session:
        definitions = await catalog.list_item_definitions(session)
        customer_pks, stored = await repo.read_balances_many(session, set(customers))
    live = {d.id: d for d in definitions}
    ref_of = {pk: ref for ref, pk in customer_pks.items()}
    # Only balances of live items of the customer's type count (as for one customer).
    stored = [s for s in stored if s.item_pk in live
              and live[s.item_pk].customer_type == ref_of[s.customer_pk].type]
    names = {s.id: _names(ref_of[s.customer_pk], live[s.item_pk].item_id) for s in stored}
    settled = await _settle_stored(db, stored, names, now, bus)
    by_pair: dict[tuple[int | None, int], BalanceSnapshot] = {
        (s.customer_pk, s.item_pk): settled[s.id] for s in stored}
    result: list[Balances] = []
    for ref in customers:
        pk = customer_pks.get(ref)
        result.append([(d, by_pair.get((pk, d.id)) or BalanceSnapshot(pk, d.item_id, 0, 0))
                       for d in definitions if d.customer_type == ref.type])
    return result


def _names(customer: CustomerRef, item_id: str) -> repo.Names:
    return repo.Names(customer.type.value, customer.customer_id, item_id)


async def _settle_stored(db: Database, stored: list[repo.StoredBalance],
                         names: dict[int, repo.Names], now: datetime,
                         bus: Any) -> dict[int, BalanceSnapshot]:
    """Snapshots of ``stored`` balances by id (``names`` by balance id), first settling (in
    one transaction) those with an expiry due at ``now``."""
    snapshots = {s.id: BalanceSnapshot(s.customer_pk, names[s.id].item_id, s.quantity,
                                       s.version, s.reserved) for s in stored}
    due = [s for s in stored if is_due(s.next_expiry_at, now)]
    if not due:
        return snapshots

    async def settle(session: AsyncSession) -> list[ChangeEvent]:
        events: list[ChangeEvent] = []
        for s in sorted(due, key=lambda s: s.id):  # one lock order for every multi-row lock
            ledger, settled = await settle_one(session, s.id, names[s.id], now)
            events += settled
            snapshots[s.id] = BalanceSnapshot(s.customer_pk, names[s.id].item_id,
                                              ledger.quantity, ledger.version, ledger.reserved)
        return events

    await publish_changes(bus, await writes.apart(db, settle))
    return snapshots


async def list_changes(db: Database, customer: CustomerRef, item_id: str, *,
                       before_version: int | None = None, limit: int = 20,
                       clock: Clock | None = None,
                       bus: Any = None) -> list[ItemChange]:
    """Ledger rows newest first, keyset on ``version`` (those below ``before_version``).
    With ``clock``, due expiries are settled first so they show in the history."""
    check_limit(limit)
    if clock is not None:
        await get_balance(db, customer, item_id, clock=clock, bus=bus)
    return await _changes(db, customer, item_id, before_version=before_version,
                          after_version=None, limit=limit, newest_first=True)


async def changes_since(db: Database, customer: CustomerRef, item_id: str, *,
                        after_version: int, limit: int = MAX_PAGE) -> list[ItemChange]:
    """Ledger rows with ``version > after_version``, oldest first: what a live subscriber
    that saw ``after_version`` missed."""
    check_limit(limit)
    return await _changes(db, customer, item_id, before_version=None,
                          after_version=after_version, limit=limit, newest_first=False)


async def _changes(db: Database, customer: CustomerRef, item_id: str, *,
                   before_version: int | None, after_version: int | None, limit: int,
                   newest_first: bool) -> list[ItemChange]:
    customer_service.validate_ref(customer)
    async with db.read_session() as session:
        item = await live_item(session, item_id, customer.type)
        _, stored = await repo.read_balances(session, customer, item.id)
        if not stored:
            return []
        rows = await repo.list_changes(session, stored[0].id, before_version=before_version,
                                       after_version=after_version, limit=limit,
                                       newest_first=newest_first)
    return list(rows)


