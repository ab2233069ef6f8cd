"""What one period of a subscription costs the customer.

A subscription that ``grantProduct`` started (origin ``grant``: promotions, support, admin)
was never paid for and is never charged: it renews (its period advances and its items repeat)
until it is cancelled, each renewal a PAID invoice of 0. Because nothing was paid for its
current period, switching away from it credits nothing either: proration credits only what
was actually paid (``operations.plan_switch``).
"""

from __future__ import annotations

from billgate.db.models import Purchase

GRANT = "grant"


def is_granted(sub: Purchase) -> bool:
    return sub.origin == GRANT


def period_total(sub: Purchase) -> int:
    """Minor units charged for each period of ``sub`` (renewal, resume) and credited for its
    unused time on a switch: the unit price times the quantity, or 0 when granted."""
    if is_granted(sub):
        return 0
    return (sub.unit_amount or 0) * sub.quantity
