"""Auto top-up crossings, noted on the ledger's side (``repository.persist``, the one place
the normal path writes a balance): a change that takes ``available`` (quantity - reserved)
from above the balance's enabled auto top-up threshold to at or below it writes one
``auto_top_up_crossings`` row (PENDING) in the change's own transaction, under the
balance row's lock. So every crossing is noted exactly once whatever the concurrency (the
changes of one balance are serialized by that lock, and only the one that goes across
sees "above" before and "at or below" after), a rolled-back change notes nothing, and a
crash after the commit leaves the row for the scheduler (``billing/auto_top_up.py`` buys).

``max_per_month`` is kept here too: a crossing in a calendar month (UTC, the billing
clock's ``now``) that already has that many noted crossings of the top-up is not noted.
The direct path declines every change that crosses (``direct._check_top_up``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing.items import rules
from billgate.billing.items.ledger import Entry
from billgate.billing.items.rows import BalanceRow
from billgate.db.models import AutoTopUp, AutoTopUpCrossing, ItemBalance

PENDING = "PENDING"


def month_start(now: datetime) -> datetime:
    """The calendar month ``now`` is in starts here (UTC)."""
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def crossing_of(threshold: int | None, available: int,
                entries: Sequence[Entry]) -> int | None:
    """``available`` after the first entry that crosses ``threshold`` (None: none does);
    ``available`` is the balance's before the entries."""
    for entry in entries:
        after = entry.quantity_after - entry.reserved_after
        if rules.top_up_crossed(threshold, available, after):
            return after
        available = after
    return None


async def note(session: AsyncSession, balance: BalanceRow, entries: Sequence[Entry],
               now: datetime) -> AutoTopUpCrossing | None:
    """Note the crossing ``entries`` make on the locked ``balance`` (a ``repo.BalanceRow``
    read before them), if any and the month allows it."""
    if balance.top_up is None or not entries:
        return None
    after = crossing_of(balance.top_up, balance.quantity - balance.reserved, entries)
    if after is None:
        return None
    top_up = await session.scalar(select(AutoTopUp).where(
        AutoTopUp.customer_pk == balance.customer_pk, AutoTopUp.enabled.is_(True),
        AutoTopUp.item_pk == select(ItemBalance.item_pk)
        .where(ItemBalance.id == balance.id).scalar_subquery()))
    if top_up is None:
        return None
    this_month = await session.scalar(select(func.count(AutoTopUpCrossing.id)).where(
        AutoTopUpCrossing.auto_top_up_id == top_up.id,
        AutoTopUpCrossing.created_at >= month_start(now)))
    if (this_month or 0) >= top_up.max_per_month:
        return None
    row = AutoTopUpCrossing(auto_top_up_id=top_up.id, customer_pk=top_up.customer_pk,
                            available_after=after, status=PENDING, created_at=now,
                            updated_at=now)
    session.add(row)
    await session.flush()
    return row
