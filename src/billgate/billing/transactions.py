"""Transactions: what was charged (or granted for free) and refunded, in minor units.

Kinds: ``purchase`` (checkout, or the first charge after a trial), ``renewal``, ``proration``
(a plan switch: positive when charged, negative when credited), ``refund`` and ``grant``
(a product given without payment, amount 0).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.db.models import Transaction

KINDS = ("purchase", "renewal", "proration", "refund", "grant")


async def list_page(session: AsyncSession, customer_pk: int, *, before_id: int | None,
                    limit: int) -> Sequence[Transaction]:
    """The customer's transactions, newest first (keyset on id)."""
    stmt = (select(Transaction).where(Transaction.customer_pk == customer_pk)
            .order_by(Transaction.id.desc()).limit(limit))
    if before_id is not None:
        stmt = stmt.where(Transaction.id < before_id)
    return (await session.scalars(stmt)).all()
