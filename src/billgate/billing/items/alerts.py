"""Low-balance alerts: an item's ``low_balance_thresholds`` turn a change that takes a
balance from above a threshold to at or below it into one ``item.balance_low`` webhook
event, written in the change's own transaction (so a rolled-back change alerts no one)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import payment_settings
from billgate.billing.items.results import ChangeEvent
from billgate.notifications.webhooks import emit
from billgate.types import CustomerRef, CustomerType


def crossed(thresholds: Sequence[int], before: int, after: int) -> list[int]:
    """The thresholds a change from ``before`` to ``after`` crosses downward."""
    return [t for t in thresholds if before > t >= after]


async def record_low_balances(session: AsyncSession, changes: Sequence[ChangeEvent], *,
                              thresholds: Sequence[int], now: datetime) -> int:
    """Record one ``item.balance_low`` per threshold crossed by each change of one balance
    (``thresholds``: its item's, read with the balance row). Returns how many."""
    if not thresholds:
        return 0
    hits = [(c, t) for c in changes if c.delta < 0
            for t in crossed(thresholds, c.quantity - c.delta, c.quantity)]
    if not hits:
        return 0
    test_mode = (await payment_settings.load(session)).test_mode
    for change, threshold in hits:
        await emit.item_balance_low(
            session, CustomerRef(CustomerType(change.customer_type), change.customer_id),
            item_id=change.item_id, quantity=change.quantity, threshold=threshold, now=now,
            test_mode=test_mode)
    return len(hits)
