"""``hasAccess``: should a customer get what a product gives, now?

Yes for an owned one-time or include-by-default product, and for a subscription by its
state (``subscriptions/states.has_access``: a PAST_DUE one only inside the grace period).
Without a product (StackBE's ``checkAccess(customerId)``): true when any live subscription
of the customer grants access now, by the same ``has_access`` rule (one-time and included
products do not count). Apps ask this on every request, so the purchases are read in one
direct statement (``db/direct.py``) and the payment settings only for a PAST_DUE
subscription.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from billgate.billing.purchases.repository import LIVE_SUBSCRIPTION, OWNED_CONDITION, SUBSCRIPTION
from billgate.billing.subscriptions.states import PAST_DUE
from billgate.billing.subscriptions.states import has_access as subscription_access
from billgate.db.direct import DirectDatabase, Statement, or_none, time_of
from billgate.db.engine import Database
from billgate.db.models import Purchase


@dataclass(frozen=True)
class OwnedState:
    """What access depends on, of one owned purchase."""

    kind: str
    status: str
    current_period_end: datetime | None
    cancel_at_period_end: bool
    past_due_since: datetime | None


_LIVE = ", ".join(f"'{status}'" for status in LIVE_SUBSCRIPTION)
# The product's purchases that ``repository.OWNED_CONDITION`` counts as owned.
OWNED_OF_PRODUCT = Statement(f"""
    SELECT kind, status, current_period_end, cancel_at_period_end, past_due_since
    FROM purchases WHERE customer_pk = :customer_pk AND product_id = :product_id
      AND ((kind = '{SUBSCRIPTION}' AND status IN ({_LIVE}))
           OR (kind <> '{SUBSCRIPTION}' AND status = 'ACTIVE'))""")
# Without a product: the customer's live subscriptions (one direct statement too).
LIVE_SUBSCRIPTIONS = Statement(f"""
    SELECT kind, status, current_period_end, cancel_at_period_end, past_due_since
    FROM purchases WHERE customer_pk = :customer_pk
      AND kind = '{SUBSCRIPTION}' AND status IN ({_LIVE})""")


async def has_access(db: Database, customer_pk: int, product_id: str | None, *, now: datetime,
                     grace_period_days: Callable[[], Awaitable[int]]) -> bool:
    """``grace_period_days`` is asked only for a PAST_DUE subscription. ``product_id``
    None: any live subscription that grants access."""
    for owned in await owned_of_product(db, customer_pk, product_id):
        if owned.kind != SUBSCRIPTION:
            return True
        grace = await grace_period_days() if owned.status == PAST_DUE else 0
        if subscription_access(owned, now=now, grace_period_days=grace):
            return True
    return False


async def owned_of_product(db: Database, customer_pk: int,
                           product_id: str | None) -> list[OwnedState]:
    """The owned purchases of the product, or (``product_id`` None) the live subscriptions."""
    if db.direct is not None:
        found = await or_none(_owned_direct(db.direct, customer_pk, product_id))
        if found is not None:
            return found
    which = (Purchase.product_id == product_id if product_id is not None
             else Purchase.kind == SUBSCRIPTION)
    async with db.read_session() as session:
        rows = await session.execute(
            select(Purchase.kind, Purchase.status, Purchase.current_period_end,
                   Purchase.cancel_at_period_end, Purchase.past_due_since)
            .where(Purchase.customer_pk == customer_pk, which, OWNED_CONDITION))
        return [OwnedState(*row) for row in rows]


async def _owned_direct(direct: DirectDatabase, customer_pk: int,
                        product_id: str | None) -> list[OwnedState]:
    async with direct.read() as conn:
        if product_id is None:
            rows = await conn.fetchall(LIVE_SUBSCRIPTIONS, customer_pk=customer_pk)
        else:
            rows = await conn.fetchall(OWNED_OF_PRODUCT, customer_pk=customer_pk,
                                       product_id=product_id)
    return [OwnedState(kind, status, time_of(end), bool(cancel), time_of(past_due))
            for kind, status, end, cancel, past_due in rows]
