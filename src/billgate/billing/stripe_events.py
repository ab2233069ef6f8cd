"""The Stripe webhook events billgate has taken in: each event id once.

``take`` inserts the event id (``INSERT ... ON CONFLICT DO NOTHING`` on a unique column), so
of two deliveries of one event, replayed or concurrent, exactly one goes on to act. When
acting fails, ``forget`` removes the row again, so Stripe's next delivery retries it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite

from billgate.db.engine import Database
from billgate.db.models import StripeEvent


async def take(db: Database, event_id: str, *, type: str, object_id: str | None,
               now: datetime) -> bool:
    """Record the event; False when it was recorded before (a replay: ignore it)."""
    async with db.session() as session, session.begin():
        module = postgresql if db.dialect == "postgresql" else sqlite
        stmt = (module.insert(StripeEvent)
                .values(event_id=event_id[:255], type=type[:100],
                        object_id=object_id[:255] if object_id else None, received_at=now)
                .on_conflict_do_nothing(index_elements=["event_id"])
                .returning(StripeEvent.id))
        return (await session.execute(stmt)).scalar_one_or_none() is not None


async def done(db: Database, event_id: str, *, now: datetime) -> None:
    async with db.session() as session, session.begin():
        await session.execute(update(StripeEvent).where(StripeEvent.event_id == event_id)
                              .values(processed_at=now))


async def forget(db: Database, event_id: str) -> None:
    async with db.session() as session, session.begin():
        await session.execute(delete(StripeEvent).where(StripeEvent.event_id == event_id))
