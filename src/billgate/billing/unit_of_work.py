"""One owner of a change to a customer's billing state: the unit of work.

Every operation that changes a customer's purchases, subscriptions, invoices, account credit
or saved card runs as ``await unit_of_work.run(billing, customer, work)``:

1. open the write transaction and lock the customer first (``SELECT ... FOR UPDATE`` on
   PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serializes writers);
2. ``work(uow)`` re-reads the state it acts on inside that transaction and re-checks the
   rules; it writes through ``uow.session`` and collects item events in ``uow.events``;
3. commit, then announce the collected item events and ``customerChanged`` once (nothing
   is announced on rollback).

Lock order, everywhere in the engine (taking locks in one order is what keeps two
transactions from waiting on each other):

    customer -> purchases/subscriptions -> item schedules -> balances
             -> invoices/transactions/credit -> outboxes

A deadlock or serialization failure that happens anyway (PostgreSQL picks a victim) is
retried from step 1 a few times, so it never reaches the caller as "Unexpected error".

Money that leaves the process is never charged inside ``work``: see ``billing/charges.py``
(claim under the lock -> charge -> record under the lock).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import customers, items
from billgate.billing.context import Billing, flush_events
from billgate.billing.publishing import publish_customer_changed
from billgate.billing.purchases import fulfil, repository
from billgate.db.models import Customer
from billgate.types import CustomerRef

log = logging.getLogger(__name__)

T = TypeVar("T")
ATTEMPTS = 5
# PostgreSQL: deadlock_detected, serialization_failure.
RETRYABLE_SQLSTATES = {"40P01", "40001"}


@dataclass
class UnitOfWork:
    session: AsyncSession
    customer: Customer
    now: datetime
    events: list[items.ChangeEvent] = field(default_factory=list)
    test_mode: bool = True  # the payment mode the change is made in (events record it)


Work = Callable[[UnitOfWork], Awaitable[T]]


async def run(billing: Billing, customer: CustomerRef | int, work: Work[T], *,
              now: datetime) -> T:
    """Run ``work`` as one unit of work on the customer (by reference, created with its
    include-by-default products on first use; or by primary key). Item events are announced
    after commit."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with billing.db.session() as session, session.begin():
                uow = await _begin(session, customer, now=now)
                uow.test_mode = billing.test_mode
                result = await work(uow)
            billing.events += uow.events
            await flush_events(billing)
            # One announcement per committed change of the customer's billing state
            # (``customerChanged`` subscribers read the state again).
            await publish_customer_changed(billing.bus, uow.customer.type,
                                           uow.customer.customer_id)
            return result
        except DBAPIError as exc:
            if attempt == ATTEMPTS or not is_retryable(exc):
                raise
            log.info("billing change on customer %s lost a lock race (%s); retrying",
                     customer, type(exc.orig).__name__)
            await asyncio.sleep(random.uniform(0.005, 0.05) * attempt)
    raise AssertionError("unreachable")


def is_retryable(exc: DBAPIError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        return True
    # SQLite: a writer that waited out the busy timeout.
    return "database is locked" in str(exc.orig)


async def _begin(session: AsyncSession, customer: CustomerRef | int, *,
                 now: datetime) -> UnitOfWork:
    if isinstance(customer, int):
        row = await session.get(Customer, customer)
        if row is None:
            raise LookupError(f"customer {customer} does not exist")
        await repository.lock_customer(session, row.id)
        return UnitOfWork(session=session, customer=row, now=now)
    row = await customers.get_or_create(session, customer, now=now)
    uow = UnitOfWork(session=session, customer=row, now=now)
    # A customer exists from its first reference with its include-by-default products
    # (``ensure_included`` takes the customer's lock first).
    uow.events += await fulfil.ensure_included(session, row, now=now)
    return uow
