"""The one way a billing write transaction is opened: ``attempt`` runs it again when it
lost a lock race. ``unit_of_work.run`` builds every customer's change on it; ``apart`` is
for a change that belongs to no customer (catalog entries, payment settings, the test
clock), the ledger's settling of due expiries and the leases (Stripe's webhook inbox, the
operator actions log), so it takes no customer lock and announces nothing.

Retried: a deadlock or serialization failure (PostgreSQL picks a victim), a SQLite writer
that waited out the busy timeout, a ``StaleDataError`` (a row changed under an ORM
update). Each attempt starts from nothing: the transaction rolled back, so the work reads
everything again.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from billgate.db.engine import Database

log = logging.getLogger(__name__)

T = TypeVar("T")
ATTEMPTS = 5
# PostgreSQL: deadlock_detected, serialization_failure.
RETRYABLE_SQLSTATES = {"40P01", "40001"}


async def attempt(run: Callable[[], Awaitable[T]], *, what: str) -> T:
    """``run()`` (one whole transaction), again when it lost a race."""
    for number in range(1, ATTEMPTS + 1):
        try:
            return await run()
        except (DBAPIError, StaleDataError) as exc:
            if number == ATTEMPTS or not is_retryable(exc):
                raise
            log.info("billing change on %s lost a race (%s); retrying", what,
                     type(getattr(exc, "orig", exc)).__name__)
            await asyncio.sleep(random.uniform(0.005, 0.05) * number)
    raise AssertionError("unreachable")


def is_retryable(exc: DBAPIError | StaleDataError) -> bool:
    if isinstance(exc, StaleDataError):  # a row changed under us: read it again
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        return True
    # SQLite: a writer that waited out the busy timeout.
    return "database is locked" in str(exc.orig)


async def apart(db: Database, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """A change that belongs to no customer: one write transaction, retried."""
    async def once() -> T:
        async with db.session() as session, session.begin():
            return await work(session)

    return await attempt(once, what="a change apart")


async def rolled_back(db: Database, work: Callable[[AsyncSession], Awaitable[object]]) -> None:
    """Run ``work`` with every check it makes, then roll it back: nothing is written (the
    console's catalog preview)."""
    async with db.session() as session:
        transaction = await session.begin()
        try:
            await work(session)
        finally:
            await transaction.rollback()
