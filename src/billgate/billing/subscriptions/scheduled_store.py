"""Reading and closing scheduled changes (``db.models.ScheduledChange``). Plain queries in
the caller's transaction, with no billing imports, so ``purchases/fulfil.end`` (which every
ending of a subscription passes through) can close a subscription's pending change without
an import cycle. The use cases are in ``scheduled_changes.py``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.db.models import ScheduledChange

PENDING, APPLIED, CANCELED, REPLACED, ENDED, DROPPED = (
    "PENDING", "APPLIED", "CANCELED", "REPLACED", "ENDED", "DROPPED")
SWITCH, MIGRATION = "switch", "migration"


async def pending(session: AsyncSession, purchase_id: int) -> ScheduledChange | None:
    """The subscription's pending change, re-read (the caller holds the customer's lock)."""
    return await session.scalar(
        select(ScheduledChange).where(ScheduledChange.purchase_id == purchase_id,
                                      ScheduledChange.status == PENDING)
        .execution_options(populate_existing=True))


async def pending_many(session: AsyncSession,
                       purchase_ids: Sequence[int]) -> dict[int, ScheduledChange]:
    """Pending changes by subscription (a page of subscriptions read at once)."""
    if not purchase_ids:
        return {}
    rows = await session.scalars(select(ScheduledChange).where(
        ScheduledChange.purchase_id.in_(list(purchase_ids)), ScheduledChange.status == PENDING))
    return {row.purchase_id: row for row in rows}


async def close(session: AsyncSession, change: ScheduledChange, status: str, *,
                now: datetime) -> None:
    """Close a pending change (flushed, so a new pending row may follow it at once)."""
    change.status = status
    change.resolved_at = now
    await session.flush()


async def close_pending(session: AsyncSession, purchase_id: int, status: str, *,
                        now: datetime) -> bool:
    """Close the subscription's pending change, if any; True when there was one."""
    done = await session.execute(
        update(ScheduledChange)
        .where(ScheduledChange.purchase_id == purchase_id, ScheduledChange.status == PENDING)
        .values(status=status, resolved_at=now).execution_options(synchronize_session=False))
    return bool(done.rowcount)  # type: ignore[attr-defined]
