"""One owner of every change to billing state: the unit of work.

Every operation that changes a customer's purchases, subscriptions, checkouts, charges,
refunds, invoices, account credit, saved card or item grants runs as
``await unit_of_work.run(scope, customer, work)``:

1. open the write transaction and lock the customer first (``locks.customer``:
   ``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already
   serializes writers), then take the time (``uow.now``) from the scope's clock, so
   timestamps follow the commit order; a customer named by reference is created on first
   use with its include-by-default products;
2. ``work(uow)`` re-reads the state it acts on inside that transaction (``billing/locks.py``
   for the rows it changes) and re-checks the rules; it writes through ``uow.session``;
   emails and outgoing webhook events are outbox rows written in the same transaction;
3. commit, then fire what the work collected, once: the item events (``uow.events``),
   ``customerChanged`` of each customer it changed (``uow.changed``: the unit's own
   customer always) and the actions queued with ``uow.after_commit``. A rollback fires
   nothing and the outbox rows vanish with it.

Lock order, everywhere in the engine (see ``billing/locks.py``):

    customer -> purchases/subscriptions, checkouts, charge claims -> item schedules
             -> balances -> transactions/invoices -> outboxes

A deadlock or serialization failure (PostgreSQL picks a victim), a SQLite writer that
waited out the busy timeout, or a ``StaleDataError`` (a row changed under an ORM update)
is retried from step 1 a few times, so it never reaches the caller as "Unexpected error".

Money that leaves the process is never charged inside ``work``: see ``billing/charges.py``
(claim under the lock -> charge -> record under the lock).

The only other writers, each of which takes no customer lock on purpose:

- ``writes.apart``: a change that belongs to no customer (catalog entries, payment
  settings, the test clock), one transaction retried like the others (``billing/writes.py``
  opens every write transaction of both);
- the item ledger's hot path (``items/service.py`` ``_run``, ``items/direct.py``; through
  ``writes.apart`` the holds of ``items/holds.py``, ``scheduled.run_hold_expiries`` and the
  expiry settling of ``items/reads.py`` and ``scheduled.run_expiries``): one balance row,
  locked by its own conditional UPDATE;
- the leases: the scheduler's and the outboxes' claims (``notifications/``, ``scheduler/``),
  Stripe's webhook inbox (``stripe_events.py``) and the operator actions log (both through
  ``writes.apart``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import customers, items, locks, writes
from billgate.billing.publishing import publish_changes, publish_customer_changed
from billgate.billing.purchases import fulfil
from billgate.clock import Clock, SystemClock
from billgate.db.engine import Database
from billgate.db.models import Customer
from billgate.types import CustomerRef, CustomerType

log = logging.getLogger(__name__)

T = TypeVar("T")


class Context(Protocol):
    """What a unit of work runs with (``context.Scope`` or ``context.Billing``)."""

    db: Database
    bus: Any
    test_mode: bool
    clock: Clock | None


AfterCommit = Callable[[], Awaitable[object]]


@dataclass
class UnitOfWork:
    session: AsyncSession
    customer: Customer
    now: datetime
    events: list[items.ChangeEvent] = field(default_factory=list)
    test_mode: bool = True  # the payment mode the change is made in (events record it)
    # Customers whose ``customerChanged`` is announced after commit (the unit's own first).
    changed: dict[tuple[str, str], None] = field(default_factory=dict)
    after: list[AfterCommit] = field(default_factory=list)

    def announce(self, customer: Customer) -> None:
        """Announce ``customerChanged`` of ``customer`` after commit (once)."""
        self.changed[(customer.type, customer.customer_id)] = None

    def quiet(self) -> None:
        """Nothing a customer sees changes (a claim, a lease, a stored reference): no
        ``customerChanged`` for this unit (item events are still announced)."""
        self.changed.clear()

    def after_commit(self, action: AfterCommit) -> None:
        """Run ``action`` once the change is committed (never on rollback). It must not
        raise for the change's sake: a failure is logged, the change stays committed."""
        self.after.append(action)


Work = Callable[[UnitOfWork], Awaitable[T]]


async def run(ctx: Context, customer: CustomerRef | int, work: Work[T], *,
              now: datetime | None = None) -> T:
    """Run ``work`` as one unit of work on the customer (by reference, created with its
    include-by-default products on first use; or by primary key). The change is dated by
    the scope's clock, read after the lock; ``now`` dates it instead (the scheduler's
    billing time: a renewal is dated at its period end even when the clock jumped)."""
    async def attempt() -> tuple[T, UnitOfWork]:
        async with ctx.db.session() as session, session.begin():
            uow = await _begin(ctx, session, customer, now=now)
            result = await work(uow)
        return result, uow

    result, uow = await writes.attempt(attempt, what=f"customer {customer}")
    await _fire(ctx, uow)
    return result


def _now(ctx: Context, given: datetime | None) -> datetime:
    if given is not None:
        return given
    # A scope without a clock is only built for writes that date nothing they write.
    return (ctx.clock or SystemClock()).now()


async def _begin(ctx: Context, session: AsyncSession, customer: CustomerRef | int, *,
                 now: datetime | None) -> UnitOfWork:
    if isinstance(customer, int):
        row = await session.get(Customer, customer)
        if row is None:
            raise LookupError(f"customer {customer} does not exist")
        await locks.customer(session, row.id)
    else:
        row = await customers.get_or_create(session, customer, now=_now(ctx, now))
        await locks.customer(session, row.id)
    uow = UnitOfWork(session=session, customer=row, now=_now(ctx, now), test_mode=ctx.test_mode)
    uow.announce(row)
    if not isinstance(customer, int):
        # A customer exists from its first reference with its include-by-default products.
        uow.events += await fulfil.ensure_included(session, row, now=uow.now)
    return uow


async def _fire(ctx: Context, uow: UnitOfWork) -> None:
    """Step 3: what the committed unit collected, announced once (never raises)."""
    await publish_changes(ctx.bus, uow.events)
    for customer_type, customer_id in uow.changed:
        await publish_customer_changed(ctx.bus, customer_type, customer_id)
    for action in uow.after:
        try:
            await action()
        except Exception:  # committed already; whatever failed here is retried elsewhere
            log.exception("an after-commit action of customer %s failed", uow.customer.id)


def ref_of(customer: Customer) -> CustomerRef:
    return CustomerRef(CustomerType(customer.type), customer.customer_id)
