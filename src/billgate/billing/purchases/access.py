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

from sqlalchemy import and_, bindparam, outerjoin, select

from billgate.billing import customers
from billgate.billing.catalog import version_statement
from billgate.billing.purchases import ownership
from billgate.billing.purchases.ownership import SUBSCRIPTION
from billgate.billing.subscriptions.states import PAST_DUE
from billgate.billing.subscriptions.states import has_access as subscription_access
from billgate.db.direct import DirectDatabase, Statement, json_of, or_none, time_of
from billgate.db.engine import Database
from billgate.db.models import Customer, Purchase
from billgate.types import CustomerRef


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


def _which(product_id: Any | None) -> Any:
    return (ownership.live_subscription() if product_id is None
            else and_(Purchase.product_id == product_id, ownership.owned()))


def owned_states(customer_pk: Any, product_id: Any | None) -> Any:
    """What access depends on, of the customer's owned purchases of the product
    (``ownership.owned``), or (``product_id`` None) of its live subscriptions
    (``ownership.live_subscription``): one definition for both paths."""
    return select(*_STATE).where(Purchase.customer_pk == customer_pk, _which(product_id))


def _owned_states_of_ref(product_id: Any | None) -> Any:
    """``owned_states`` of the customer named by type and id, each row beside the customer's
    pk and ``included_version`` and the catalog's version (one row of NULL states when it
    owns none; no row when it does not exist): the customer's check in the same statement."""
    purchases = outerjoin(Customer, Purchase, and_(Purchase.customer_pk == Customer.id,
                                                   _which(product_id)))
    return (select(Customer.id, Customer.included_version,
                   version_statement().label("catalog_version"), *_STATE)
            .select_from(purchases)
            .where(Customer.type == bindparam("type"),
                   Customer.customer_id == bindparam("customer_id")))


# The same statements compiled for the direct path (``db/direct.py``).
OWNED_OF_PRODUCT = Statement.of(owned_states(bindparam("customer_pk"), bindparam("product_id")))
LIVE_SUBSCRIPTIONS = Statement.of(owned_states(bindparam("customer_pk"), None))
OWNED_OF_PRODUCT_BY_REF = Statement.of(_owned_states_of_ref(bindparam("product_id")))
LIVE_SUBSCRIPTIONS_BY_REF = Statement.of(_owned_states_of_ref(None))


async def has_access(db: Database, customer_pk: int, product_id: str | None, *, now: datetime,
                     grace_period_days: Callable[[], Awaitable[int]]) -> bool:
    """``grace_period_days`` is asked only for a PAST_DUE subscription. ``product_id``
    None: any live subscription that grants access."""
    return await _grants_access(await owned_of_product(db, customer_pk, product_id), now,
                                grace_period_days)


async def has_access_checking_customer(
        db: Database, ref: CustomerRef, product_id: str | None, *, now: datetime,
        grace_period_days: Callable[[], Awaitable[int]]) -> tuple[int, bool] | None:
    """``has_access`` in one direct statement that is also the customer's check (it exists
    and has the catalog's include-by-default products: ``customers.is_ensured``), for a
    request that has not checked the customer yet: the customer's pk and the answer. None
    when that statement is not the whole answer; the caller then ensures the customer and
    asks ``has_access``."""
    if db.direct is None:
        return None
    rows = await or_none(_owned_direct_by_ref(db.direct, ref, product_id))
    if not rows or not customers.is_ensured(rows[0][1], json_of(rows[0][2])):
        return None
    owned = [OwnedState(kind, status, time_of(end), bool(cancel), time_of(past_due))
             for _, _, _, kind, status, end, cancel, past_due in rows if kind is not None]
    return int(rows[0][0]), await _grants_access(owned, now, grace_period_days)


async def _owned_direct_by_ref(direct: DirectDatabase, ref: CustomerRef,
                               product_id: str | None) -> list[Any]:
    async with direct.read() as conn:
        if product_id is None:
            return list(await conn.fetchall(LIVE_SUBSCRIPTIONS_BY_REF, type=ref.type.value,
                                            customer_id=ref.customer_id))
        return list(await conn.fetchall(OWNED_OF_PRODUCT_BY_REF, type=ref.type.value,
                                        customer_id=ref.customer_id, product_id=product_id))


async def _grants_access(states: list[OwnedState], now: datetime,
                         grace_period_days: Callable[[], Awaitable[int]]) -> bool:
    for owned in states:
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
