"""Queueing emails in the transaction of what they report. ``notifications.sender``
delivers them later (the scheduler's ``email.send`` job)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billgate.db.models import Customer, EmailOutbox

log = logging.getLogger(__name__)

RECEIPT = "payment_receipt"
PAYMENT_FAILED = "payment_failed"
TRIAL_ENDING = "trial_ending"          # billing/reminders.py
RENEWAL_UPCOMING = "renewal_upcoming"  # billing/reminders.py
PRICE_CHANGE = "price_change"          # billing/subscriptions/price_migration.py


def enqueue(session: AsyncSession, customer: Customer, template: str, context: dict[str, Any], *,
            now: datetime) -> EmailOutbox | None:
    """Queue ``template`` for the customer; a customer without an email gets none (logged)."""
    if not customer.email:
        log.info("no email for customer %s %s: %s not sent", customer.type, customer.customer_id,
                 template)
        return None
    row = EmailOutbox(to_address=customer.email, template=template, context=context,
                      next_attempt_at=now, created_at=now, attempts=0)
    session.add(row)
    return row
