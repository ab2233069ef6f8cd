"""The test clock's offset, stored so every process of one deployment agrees on it.

In test mode billgate's billing time is real time plus this offset; ``advanceTestClock``
moves it forward (never back). Processes pick up a change on their next scheduler tick or
request that reads it.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import writes
from billgate.db.engine import Database
from billgate.db.models import AppSetting

KEY = "test_clock_offset_seconds"


async def load_offset(session: AsyncSession) -> timedelta:
    value = await session.scalar(select(AppSetting.value).where(AppSetting.key == KEY))
    return timedelta(seconds=float(value or 0))


async def advance(session: AsyncSession, seconds: int) -> timedelta:
    """Add ``seconds`` to the stored offset (inside the caller's write transaction, which
    holds the write lock, so two advances add up) and return the new offset."""
    row = await session.get(AppSetting, KEY, with_for_update=True)
    if row is None:
        row = AppSetting(key=KEY, value=0)
        session.add(row)
    row.value = float(row.value or 0) + seconds
    await session.flush()
    return timedelta(seconds=row.value)


async def advance_stored(db: Database, seconds: int) -> timedelta:
    """``advance`` in its own transaction (``advanceTestClock``)."""
    return await writes.apart(db, lambda session: advance(session, seconds))
