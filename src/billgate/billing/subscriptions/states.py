"""The subscription state machine: every status change goes through ``transition``.

    TRIALING -> ACTIVE (first charge) | PAST_DUE (first charge failed) | CANCELED | PAUSED
    ACTIVE   -> PAST_DUE (renewal failed) | PAUSED | CANCELED
    PAST_DUE -> ACTIVE (retry succeeded) | CANCELED (last retry failed, or canceled) | PAUSED
    PAUSED   -> ACTIVE (resumed) | CANCELED
    CANCELED -> (final)
"""

from __future__ import annotations

from datetime import datetime, timedelta

from billgate.billing.errors import InvalidInput
from billgate.db.models import Purchase

TRIALING, ACTIVE, PAST_DUE, PAUSED, CANCELED = "TRIALING", "ACTIVE", "PAST_DUE", "PAUSED", "CANCELED"

ALLOWED: dict[str, set[str]] = {
    TRIALING: {ACTIVE, PAST_DUE, CANCELED, PAUSED},
    ACTIVE: {PAST_DUE, PAUSED, CANCELED},
    PAST_DUE: {ACTIVE, CANCELED, PAUSED},
    PAUSED: {ACTIVE, CANCELED},
    CANCELED: set(),
}


class InvalidTransition(InvalidInput):
    pass


def transition(subscription: Purchase, to: str, *, now: datetime) -> None:
    """Move ``subscription`` to ``to`` or raise ``InvalidTransition``."""
    if to not in ALLOWED[subscription.status]:
        raise InvalidTransition(
            f"a {subscription.status} subscription cannot become {to}", field=["subscriptionId"])
    subscription.status = to
    subscription.updated_at = now


def has_access(subscription: Purchase, *, now: datetime, grace_period_days: int) -> bool:
    """The "checkAccess" question: ACTIVE and TRIALING yes; PAST_DUE inside the grace period;
    PAUSED and CANCELED no; a pending period-end cancel ends access at the period end even
    before the scheduler has processed it."""
    if subscription.status in (TRIALING, ACTIVE):
        end = subscription.current_period_end
        return not (subscription.cancel_at_period_end and end is not None and now >= end)
    if subscription.status == PAST_DUE and subscription.past_due_since is not None:
        return now < subscription.past_due_since + timedelta(days=grace_period_days)
    return False
