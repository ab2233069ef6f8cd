"""The billing work the scheduler finds due, one unit of work per customer: repeat grants,
renewals (``subscriptions/lifecycle.process_due``), dated expiries and abandoned charges."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from billgate.billing import charges, items, unit_of_work
from billgate.billing.context import Billing, flush_events
from billgate.billing.purchases import fulfil
from billgate.billing.subscriptions import lifecycle
from billgate.billing.unit_of_work import UnitOfWork


async def run_repeats(billing: Billing, at: datetime) -> int:
    """Grant every due repeat, each under its customer's lock."""
    async with billing.db.read_session() as session:
        due = await fulfil.due_repeats(session, now=at,
                                       grant_during_grace=billing.grant_credits_during_grace)
    granted = 0
    for schedule_id, customer_pk in due:
        granted += await unit_of_work.run(
            billing, customer_pk,
            partial(_repeat, schedule_id, billing.grant_credits_during_grace), now=at)
    return granted


async def repeats_due(billing: Billing, now: datetime) -> datetime | None:
    async with billing.db.read_session() as session:
        return await fulfil.next_repeat_due(session, now=now,
                                            grant_during_grace=billing.grant_credits_during_grace)


async def _repeat(schedule_id: int, grant_during_grace: bool, uow: UnitOfWork) -> int:
    events = await fulfil.run_due_repeat(uow.session, schedule_id, now=uow.now,
                                         grant_during_grace=grant_during_grace)
    uow.events += events
    return len(events)


async def run_expiries(billing: Billing, at: datetime) -> int:
    """Settle balances whose dated expiry is due. Balances only: the item ledger's own
    conditional updates keep it right, no customer lock is needed."""
    async with billing.db.session() as session, session.begin():
        events = await items.settle_due(session, now=at)
    billing.events += events
    await flush_events(billing)
    return len(events)


async def abandoned_charges_due(billing: Billing, now: datetime) -> datetime | None:
    """``now`` when a charge's run died between claim and record (leases run on real time)."""
    return now if await charges.abandoned(billing, limit=1) else None


async def recover_charges(billing: Billing, at: datetime) -> int:
    return await lifecycle.recover_abandoned_claims(billing, now=at)
