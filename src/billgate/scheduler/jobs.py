"""The kinds of due work, each with a dotted name, a way to find what is due and a way to
do one unit of it. Jobs are edges: each calls billing functions that run units of work
(``billing/unit_of_work.py``) and is safe to run from several processes at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from billgate.billing import reminders, scheduled
from billgate.billing.auto_top_up import purchase as auto_top_up
from billgate.billing.subscriptions import final_invoices, lifecycle
from billgate.db.models import EmailOutbox, ItemBalance, Purchase
from billgate.notifications.sender import parse_smtp_url, send_due
from billgate.notifications.webhooks import delivery as webhook_delivery
from billgate.notifications.webhooks.url_policy import UrlPolicy


@dataclass(frozen=True)
class Job:
    name: str
    # The earliest due time at or before ``now`` (None: nothing due).
    next_due: Callable[[lifecycle.Billing, datetime], Awaitable[datetime | None]]
    # Do the work due at ``at`` (a bounded batch).
    run: Callable[[lifecycle.Billing, datetime], Awaitable[int]]


async def _min(billing: lifecycle.Billing, column: object, *where: object) -> datetime | None:
    async with billing.db.read_session() as session:
        return await session.scalar(select(func.min(column)).where(*where))  # type: ignore[arg-type]


async def _subscriptions_due(billing: lifecycle.Billing, now: datetime) -> datetime | None:
    return await _min(billing, Purchase.next_action_at, Purchase.kind == "SUBSCRIPTION",
                      Purchase.next_action_at <= now)


async def _run_subscriptions(billing: lifecycle.Billing, at: datetime) -> int:
    async with billing.db.read_session() as session:
        due = await lifecycle.due_subscriptions(session, now=at, limit=100)
    done = 0
    for purchase_id, _ in due:
        done += await lifecycle.process_due(billing, purchase_id, now=at)
    return done


async def _expiries_due(billing: lifecycle.Billing, now: datetime) -> datetime | None:
    return await _min(billing, ItemBalance.next_expiry_at, ItemBalance.next_expiry_at <= now)


SUBSCRIPTION_RENEW = Job("subscription.renew", _subscriptions_due, _run_subscriptions)
ITEM_REPEAT = Job("item.repeat", scheduled.repeats_due, scheduled.run_repeats)
ITEM_EXPIRE = Job("item.expire", _expiries_due, scheduled.run_expiries)
HOLD_EXPIRE = Job("item.hold_expire", scheduled.holds_due, scheduled.run_hold_expiries)
AUTO_TOP_UP = Job("auto_top_up.purchase", auto_top_up.next_due, auto_top_up.run_due)
FINAL_INVOICE = Job("invoice.final_charge", final_invoices.next_due, final_invoices.run_due)
CHARGE_RECOVER = Job("charge.recover", scheduled.abandoned_charges_due, scheduled.recover_charges)
SUBSCRIPTION_REMIND = Job("subscription.remind", reminders.next_due, reminders.send_due)

# Ordered: at one instant, expiries first (dated grants, then holds), then subscriptions (a
# plan that ends at its
# period end grants no repeat then), then repeats (a WHEN_REPEATED grant expires as the
# next arrives); auto top-ups (after what lowered the balances); final overage invoices
# (after the ends that issued them); abandoned charges, then reminder emails, last.
BILLING_JOBS = (ITEM_EXPIRE, HOLD_EXPIRE, SUBSCRIPTION_RENEW, ITEM_REPEAT, AUTO_TOP_UP,
                FINAL_INVOICE, CHARGE_RECOVER, SUBSCRIPTION_REMIND)


async def outbox_due(billing: lifecycle.Billing, now: datetime) -> datetime | None:
    return await _min(billing, EmailOutbox.next_attempt_at, EmailOutbox.sent_at.is_(None),
                      EmailOutbox.next_attempt_at <= now)


def email_job(*, smtp_url: str | None, sender: str, templates_dir: str | None = None,
              batch: int = 50, max_batches: int = 20) -> Job:
    """``email.send``: deliver the email outbox (``notifications.sender``) with these mail
    settings. Not one of ``BILLING_JOBS``: a mail server outage must never hold up billing,
    so the scheduler runs it after the billing work of each tick."""
    if smtp_url:
        parse_smtp_url(smtp_url)  # a bad BILLGATE_SMTP_URL fails at start-up, not per email

    async def run(billing: lifecycle.Billing, at: datetime) -> int:
        sent = 0
        for _ in range(max_batches):
            count = await send_due(billing.db, smtp_url=smtp_url, sender=sender,
                                   templates_dir=templates_dir, now=at, limit=batch,
                                   base_url=billing.base_url)
            sent += count
            if count < batch:
                break
        return sent

    return Job("email.send", outbox_due, run)


def webhook_job(policy: UrlPolicy, *, batch: int = webhook_delivery.BATCH,
                max_batches: int = 20) -> Job:
    """``webhook.deliver``: send the outgoing webhook outbox
    (``notifications.webhooks.delivery``). Like ``email.send`` it runs after the billing
    work of each tick, so a receiver that is down never holds up billing. Each run also
    refreshes the oldest-pending-event gauge."""

    async def due(billing: lifecycle.Billing, now: datetime) -> datetime | None:
        return await webhook_delivery.next_due(billing.db, now)

    async def run(billing: lifecycle.Billing, at: datetime) -> int:
        sent = 0
        for _ in range(max_batches):
            count = await webhook_delivery.deliver_due(billing.db, now=at, policy=policy, limit=batch,
                                                       base_url=billing.base_url)
            sent += count
            if count < batch:
                break
        await webhook_delivery.update_oldest_pending(billing.db, at)
        return sent

    return Job("webhook.deliver", due, run)
