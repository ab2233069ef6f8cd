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
from typing import Any

from sqlalchemy import and_, bindparam, select

from billgate.billing.purchases import ownership
from billgate.billing.purchases.ownership import SUBSCRIPTION
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


_STATE = (Purchase.kind, Purchase.status, Purchase.current_period_end,
          Purchase.cancel_at_period_end, Purchase.past_due_since)


def owned_states(customer_pk: Any, product_id: Any | None) -> Any:
    """What access depends on, of the customer's owned purchases of the product
    (``ownership.owned``), or (``product_id`` None) of its live subscriptions
    (``ownership.live_subscription``): one definition for both paths."""
    which = (ownership.live_subscription() if product_id is None
             else and_(Purchase.product_id == product_id, ownership.owned()))
    return select(*_STATE).where(Purchase.customer_pk == customer_pk, which)


# The same statements compiled for the direct path (``db/direct.py``).
OWNED_OF_PRODUCT = Statement.of(owned_states(bindparam("customer_pk"), bindparam("product_id")))
LIVE_SUBSCRIPTIONS = Statement.of(owned_states(bindparam("customer_pk"), None))


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
    async with db.read_session() as session:
        rows = await session.execute(owned_states(customer_pk, product_id))
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
