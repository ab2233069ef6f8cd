"""The Stripe webhook events billgate has taken in, and whether their handling committed.

An event counts as handled only once ``done`` has recorded it (after the handler's own
transaction committed). Until then it is *taken* by one delivery at a time with a lease on
real time: ``take`` inserts the event id (``INSERT ... ON CONFLICT DO NOTHING``) or takes
over an unhandled one whose lease ran out (its handler failed or its process died), so
Stripe's redelivery acts again. A delivery that arrives while another holds the lease is
told to come back later (``BUSY``); one for a handled event is a duplicate.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import writes
from billgate.clock import utcnow
from billgate.db.engine import Database
from billgate.db.models import StripeEvent

# Longer than any handler takes (each reads one object from Stripe and writes once).
LEASE = timedelta(seconds=60)
MAX_ERROR = 500


class Taken(enum.Enum):
    NEW = "new"  # first delivery: act on it
    RETRY = "retry"  # seen before but never handled (failed or interrupted): act again
    BUSY = "busy"  # another delivery is acting on it right now
    DUPLICATE = "duplicate"  # handled before: acknowledge and ignore


async def take(db: Database, event_id: str, *, type: str, object_id: str | None,
               now: datetime) -> Taken:
    """Take the event for this delivery (see the module doc)."""
    real = utcnow()
    event_id = event_id[:255]

    async def work(session: AsyncSession) -> Taken:
        module = postgresql if db.dialect == "postgresql" else sqlite
        inserted = (await session.execute(
            module.insert(StripeEvent)
            .values(event_id=event_id, type=type[:100],
                    object_id=object_id[:255] if object_id else None, received_at=now,
                    lease_until=real + LEASE, attempts=1)
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(StripeEvent.id))).scalar_one_or_none()
        if inserted is not None:
            return Taken.NEW
        retaken = (await session.execute(
            update(StripeEvent)
            .where(StripeEvent.event_id == event_id, StripeEvent.processed_at.is_(None),
                   StripeEvent.lease_until.is_(None) | (StripeEvent.lease_until < real))
            .values(lease_until=real + LEASE, attempts=StripeEvent.attempts + 1)
            .returning(StripeEvent.id))).scalar_one_or_none()
        if retaken is not None:
            return Taken.RETRY
        processed = await session.scalar(select(StripeEvent.processed_at)
                                         .where(StripeEvent.event_id == event_id))
        return Taken.DUPLICATE if processed is not None else Taken.BUSY

    return await writes.apart(db, work)


async def done(db: Database, event_id: str, *, now: datetime) -> None:
    await writes.apart(db, lambda session: session.execute(
        update(StripeEvent).where(StripeEvent.event_id == event_id)
        .values(processed_at=now, lease_until=None, last_error=None)))


async def failed(db: Database, event_id: str, error: str) -> None:
    """Handling failed: free the event for the next delivery at once."""
    await writes.apart(db, lambda session: session.execute(
        update(StripeEvent).where(StripeEvent.event_id == event_id)
        .values(lease_until=None, last_error=error[:MAX_ERROR])))
