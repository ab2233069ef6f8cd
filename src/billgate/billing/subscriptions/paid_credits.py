"""When a subscription's repeating item grants are due: only for time that is paid for.

The rule (one home; ``purchases/fulfil.py`` applies it to the scheduler's repeats and
``lifecycle._paid`` calls ``grant_paid_repeats`` when a period is paid):

* A repeat of a one-time or included product is due at its time, as always.
* A repeat of a subscription is due only inside the period paid for: before its
  ``current_period_end``, which moves on only when a period is paid (a renewal, a dunning
  retry, a new default card, a trial's first charge, a granted plan's free renewal). A
  renewal that fails (``PAST_DUE``) holds the new period's repeats; paying it grants them
  at once, dated when paid; a subscription that ends unpaid never gets them.
* ``BILLGATE_GRANT_CREDITS_DURING_GRACE=true`` (``grant_during_grace``): a ``PAST_DUE``
  subscription's repeats are granted at their time anyway, for operators who prefer not
  to interrupt a customer during the grace period.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from billgate.billing.items import ChangeEvent
from billgate.billing.subscriptions.states import PAST_DUE
from billgate.db.models import ItemSchedule, Purchase

SUBSCRIPTION = "SUBSCRIPTION"


def repeat_is_paid(purchase: Purchase, at: datetime, *, grant_during_grace: bool) -> bool:
    """May the repeat of ``purchase`` due ``at`` be granted now? (The rule above.)"""
    if purchase.kind != SUBSCRIPTION or purchase.current_period_end is None:
        return True
    if grant_during_grace and purchase.status == PAST_DUE:
        return True
    return at < purchase.current_period_end


def paid_repeat_condition(*, grant_during_grace: bool) -> ColumnElement[bool]:
    """``repeat_is_paid`` as SQL over ``ItemSchedule`` joined to its ``Purchase``, so a held
    repeat is never reported due (the scheduler would otherwise keep finding it)."""
    paid = or_(Purchase.kind != SUBSCRIPTION, Purchase.current_period_end.is_(None),
               ItemSchedule.next_at < Purchase.current_period_end)
    return or_(paid, Purchase.status == PAST_DUE) if grant_during_grace else paid


async def grant_paid_repeats(session: AsyncSession, sub: Purchase, *, now: datetime,
                             grant_during_grace: bool) -> list[ChangeEvent]:
    """A period of ``sub`` was just paid (in the caller's unit of work): grant the repeats
    it held, dated ``now``."""
    from billgate.billing.purchases.fulfil import run_due_repeat

    events: list[ChangeEvent] = []
    held = await session.scalars(select(ItemSchedule.id).where(
        ItemSchedule.purchase_id == sub.id, ItemSchedule.active.is_(True),
        ItemSchedule.next_at <= now).order_by(ItemSchedule.next_at, ItemSchedule.id))
    for schedule_id in held.all():
        events += await run_due_repeat(session, schedule_id, now=now, not_before=now,
                                       grant_during_grace=grant_during_grace)
    return events
