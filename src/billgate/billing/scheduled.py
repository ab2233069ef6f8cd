"""The billing work the scheduler finds due, one unit of work per customer: repeat grants,
renewals (``subscriptions/lifecycle.process_due``), dated expiries and abandoned charges."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from billgate.billing import charges, items, refunds, unit_of_work, writes
from billgate.billing.auto_top_up import purchase as auto_top_up
from billgate.billing.context import Billing
from billgate.billing.items import holds
from billgate.billing.publishing import publish_changes
from billgate.billing.purchases import fulfil
from billgate.billing.subscriptions import final_invoices, lifecycle
from billgate.billing.unit_of_work import UnitOfWork
from billgate.payments.rails import PaymentRails


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
    conditional updates keep it right, no customer lock is needed (one of the ledger's
    own writers named in ``unit_of_work``'s docstring)."""
    events = await writes.apart(billing.db, lambda session: items.settle_due(session, now=at))
    await publish_changes(billing.bus, events)
    return len(events)


async def holds_due(billing: Billing, now: datetime) -> datetime | None:
    async with billing.db.read_session() as session:
        return await holds.next_expiry(session, now)


async def run_hold_expiries(billing: Billing, at: datetime) -> int:
    """Release the reservations whose time is up (EXPIRED). Balances only, like
    ``run_expiries``: each under its balance row's lock (``items/holds.py``)."""
    events = await writes.apart(billing.db, lambda session: holds.expire_due(session, now=at))
    await publish_changes(billing.bus, events)
    return len(events)


async def abandoned_charges_due(billing: Billing, now: datetime) -> datetime | None:
    """``now`` when a charge's run died between claim and record (leases run on real time)."""
    return now if await charges.abandoned(billing, limit=1) else None


async def recover_charges(billing: Billing, at: datetime) -> int:
    """Finish the claims whose run died (``charges`` module doc): refunds, auto top-ups
    and final invoices here, charges by ``lifecycle.recover_abandoned_claims``."""
    done = 0
    for claim in await charges.abandoned(billing):
        if claim.operation == charges.REFUND:
            await refunds.recover(billing, claim, partial(_rails_of, billing))
            done += 1
        elif claim.operation == charges.AUTO_TOP_UP:
            await auto_top_up.recover(billing, claim, now=at)
            done += 1
        elif claim.operation == final_invoices.OPERATION:
            await final_invoices.recover(billing, claim, now=at)
            done += 1
    return done + await lifecycle.recover_abandoned_claims(billing, now=at)


def _rails_of(billing: Billing, test_mode: bool) -> PaymentRails | None:
    """A refund claim is made again on the rails of its mode, when those are the ones the
    scheduler holds now."""
    return billing.rails if billing.test_mode == test_mode else None
