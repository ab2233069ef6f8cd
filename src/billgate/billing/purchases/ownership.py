"""What "owned" and "live" mean, written once, in SQL and in Python side by side.

- A subscription is *live* while TRIALING, ACTIVE, PAST_DUE or PAUSED (it has not ended;
  whether it grants access now is ``subscriptions/states.has_access``).
- A purchase is *owned* when it is a live subscription, or any other kind (one-time,
  include-by-default) that is ACTIVE.

Every reader takes these from here: ``customer.products`` and ``hasAccess`` (with and
without ``productId``; the direct path compiles its SQL from ``owned``/``live_subscription``),
``currentSubscription``, the purchase rules, fulfilment, refunds and the audit. The Python
predicates (``is_live``, ``is_owned``) are for rows already loaded; a test holds them equal to
the SQL conditions on every (kind, status) pair (``tests/billing/test_ownership_rules.py``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from billgate.billing.subscriptions.states import ACTIVE, PAST_DUE, PAUSED, TRIALING
from billgate.db.models import Purchase

ONE_TIME = "ONE_TIME"
SUBSCRIPTION = "SUBSCRIPTION"
INCLUDED = "INCLUDED"
KINDS = (ONE_TIME, SUBSCRIPTION, INCLUDED)

LIVE_SUBSCRIPTION = (TRIALING, ACTIVE, PAST_DUE, PAUSED)


def is_live(status: str) -> bool:
    """A subscription in ``status`` has not ended."""
    return status in LIVE_SUBSCRIPTION


def is_owned(kind: str, status: str) -> bool:
    """Python twin of ``owned``."""
    return is_live(status) if kind == SUBSCRIPTION else status == ACTIVE


def live_subscription(p: Any = Purchase) -> ColumnElement[bool]:
    """``p`` (``Purchase`` or an alias/table) is a live subscription."""
    return and_(p.kind == SUBSCRIPTION, p.status.in_(LIVE_SUBSCRIPTION))


def owned(p: Any = Purchase) -> ColumnElement[bool]:
    """``p`` is owned: a live subscription, or another kind that is ACTIVE."""
    return or_(live_subscription(p), and_(p.kind != SUBSCRIPTION, p.status == ACTIVE))


OWNED_CONDITION = owned()
