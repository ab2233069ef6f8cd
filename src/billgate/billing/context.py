"""What billing work runs with: the database, the payment rails chosen by the runtime, the
payment settings of the moment, and where committed item changes are announced."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from billgate.billing import items
from billgate.billing.payment_settings import PaymentSettings
from billgate.db.engine import Database
from billgate.payments.rails import PaymentRails


@dataclass
class Billing:
    db: Database
    rails: PaymentRails
    test_mode: bool
    settings: PaymentSettings
    base_url: str
    publish: items.Publish | None = None
    # Item events of committed units of work, announced by ``flush_events``.
    events: list[items.ChangeEvent] = field(default_factory=list)
    bus: Any = None  # where ``customerChanged`` is announced (None: not announced)
    # BILLGATE_GRANT_CREDITS_DURING_GRACE: a PAST_DUE subscription's repeats are granted
    # at their time rather than once paid (``subscriptions/paid_credits.py``).
    grant_credits_during_grace: bool = False


async def flush_events(billing: Billing) -> None:
    """Publish the item events collected by committed work."""
    if billing.publish and billing.events:
        events, billing.events = billing.events, []
        await billing.publish(events)
