"""What billing work runs with.

``Scope``: what every unit of work needs (the database, the clock that dates the change,
the bus its announcements go to, the payment mode). ``Billing``: that, plus the payment
rails chosen by the runtime and the payment settings of the moment, for work that moves
money. Both are built by the runtime (``runtime.scope()`` / ``runtime.billing()``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from billgate.billing.payment_settings import PaymentSettings
from billgate.clock import Clock
from billgate.db.engine import Database
from billgate.payments.rails import PaymentRails


@dataclass
class Scope:
    db: Database
    clock: Clock | None = None  # None: every caller passes ``now``
    bus: Any = None  # where committed changes are announced (None: not announced)
    test_mode: bool = True


@dataclass
class Billing:
    db: Database
    rails: PaymentRails
    test_mode: bool
    settings: PaymentSettings
    base_url: str
    bus: Any = None  # where committed changes are announced (None: not announced)
    clock: Clock | None = None  # None: every caller passes ``now``
    # BILLGATE_GRANT_CREDITS_DURING_GRACE: a PAST_DUE subscription's repeats are granted
    # at their time rather than once paid (``subscriptions/paid_credits.py``).
    grant_credits_during_grace: bool = False
