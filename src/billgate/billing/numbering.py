"""Gapless document numbers: ``{prefix}{year}-{sequence}`` (``INV-2026-000042``).

One counter row per prefix and year (``InvoiceCounter``). ``next_number`` increments it
with one UPDATE inside the caller's transaction: PostgreSQL keeps the row locked until that
transaction ends and SQLite writes one transaction at a time, so replicas issuing at once
wait for each other rather than sharing a number, and a transaction that rolls back takes
its increment back with it: no number is skipped. The lock is held to commit, so issue last.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.db.models import InvoiceCounter
from billgate.db.upsert import insert_ignore

SEQUENCE_DIGITS = 6
CREDIT_NOTE_PREFIX = "CN-"


def format_number(prefix: str, year: int, sequence: int) -> str:
    return f"{prefix}{year}-{sequence:0{SEQUENCE_DIGITS}d}"


async def next_number(session: AsyncSession, prefix: str, year: int) -> str:
    """The next number of ``prefix`` in ``year``, taken in the caller's transaction."""
    table: Any = InvoiceCounter.__table__
    await insert_ignore(session, table, {"prefix": prefix, "year": year, "last": 0},
                        ["prefix", "year"])
    sequence = await session.scalar(
        update(InvoiceCounter)
        .where(InvoiceCounter.prefix == prefix, InvoiceCounter.year == year)
        .values(last=InvoiceCounter.last + 1).returning(InvoiceCounter.last))
    assert sequence is not None
    return format_number(prefix, year, int(sequence))
