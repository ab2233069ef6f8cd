"""The purchase state machine: every status change goes through ``transition``.

Subscriptions:

    TRIALING -> ACTIVE (first charge) | PAST_DUE (first charge failed) | CANCELED | PAUSED
    ACTIVE   -> PAST_DUE (renewal failed) | PAUSED | CANCELED
    PAST_DUE -> ACTIVE (retry succeeded) | CANCELED (last retry failed, or canceled) | PAUSED
    PAUSED   -> ACTIVE (resumed) | CANCELED
    CANCELED -> (final)

One-time purchases: ACTIVE -> REFUNDED | CANCELED. Include-by-default products:
ACTIVE <-> SUSPENDED (a paid plan of their line steps in and out).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from billgate.db.models import Purchase
from billgate.errors import InvalidInput

TRIALING, ACTIVE, PAST_DUE, PAUSED, CANCELED = "TRIALING", "ACTIVE", "PAST_DUE", "PAUSED", "CANCELED"

ALLOWED: dict[str, set[str]] = {
    TRIALING: {ACTIVE, PAST_DUE, CANCELED, PAUSED},
    ACTIVE: {PAST_DUE, PAUSED, CANCELED},
    PAST_DUE: {ACTIVE, CANCELED, PAUSED},
    PAUSED: {ACTIVE, CANCELED},
    CANCELED: set(),
}
REFUNDED, SUSPENDED = "REFUNDED", "SUSPENDED"
ALLOWED_BY_KIND: dict[str, dict[str, set[str]]] = {
    "SUBSCRIPTION": ALLOWED,
    "ONE_TIME": {ACTIVE: {REFUNDED, CANCELED}, REFUNDED: set(), CANCELED: set()},
    "INCLUDED": {ACTIVE: {SUSPENDED}, SUSPENDED: {ACTIVE}},
}


class InvalidTransition(InvalidInput):
    pass


def transition(subscription: Purchase, to: str, *, now: datetime) -> None:
    """Move the purchase to ``to`` or raise ``InvalidTransition``."""
    allowed = ALLOWED_BY_KIND.get(subscription.kind, ALLOWED).get(subscription.status, set())
    if to not in allowed:
        noun = "subscription" if subscription.kind == "SUBSCRIPTION" else "purchase"
        raise InvalidTransition(
            f"a {subscription.status} {noun} cannot become {to}", field=["subscriptionId"])
    subscription.status = to
    subscription.updated_at = now


class AccessState(Protocol):
    """What access depends on (a ``Purchase``, or the few columns of one)."""

    @property
    def status(self) -> str: ...
    @property
    def current_period_end(self) -> datetime | None: ...
    @property
    def cancel_at_period_end(self) -> bool: ...
    @property
    def past_due_since(self) -> datetime | None: ...


def has_access(subscription: AccessState, *, now: datetime, grace_period_days: int) -> bool:
    """The "checkAccess" question: ACTIVE and TRIALING yes; PAST_DUE inside the grace period;
    PAUSED and CANCELED no; a pending period-end cancel ends access at the period end even
    before the scheduler has processed it."""
    if subscription.status in (TRIALING, ACTIVE):
        end = subscription.current_period_end
        return not (subscription.cancel_at_period_end and end is not None and now >= end)
    if subscription.status == PAST_DUE and subscription.past_due_since is not None:
        return now < subscription.past_due_since + timedelta(days=grace_period_days)
    return False
