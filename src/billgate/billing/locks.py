"""Row locks of a billing change, each taken through one named helper, in one order.

Lock order, everywhere in the engine (two transactions that lock in one order never wait
on each other; seen without it: purchases vs item schedules deadlocking on PostgreSQL):

    1. customer                      ``customer``            (the unit of work takes it first)
    2. purchases / subscriptions     ``owned_purchases``, ``purchase``
       checkouts, charge claims      ``checkout``, ``charge_claim``
       promo codes                   ``promo_code`` (shared by customers: after their own rows)
    3. item schedules                (written under 1 and 2, never locked alone)
    4. balances                      ``items.repository.lock`` (the ledger's own, one UPDATE)
    5. transactions / invoices       ``transaction``
    6. outboxes                      (inserts only)

Only the unit of work (``billing/unit_of_work.py``) calls ``customer``; every other helper
runs inside a unit of work, after it. The writers that take no customer lock are named in
the unit of work's docstring (the ledger's hot path, the leases).

On PostgreSQL each helper is ``SELECT ... FOR UPDATE`` (like Saleor's
``checkout/lock_objects.py``); SQLite's ``BEGIN IMMEDIATE`` write transactions are
serialized already and ignore ``FOR UPDATE``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing.purchases.repository import owned_statement
from billgate.db.models import (
    ChargeClaim,
    CheckoutSession,
    Customer,
    PromoCode,
    Purchase,
    Transaction,
)


async def customer(session: AsyncSession, customer_pk: int) -> None:
    """1. Hold the customer's row lock until commit, so the changes of one customer run one
    after the other and each reads what the one before it committed. Locking the owned rows
    alone is not enough: a customer may own nothing yet, and a row lock does not show rows
    committed meanwhile."""
    await session.execute(select(Customer.id).where(Customer.id == customer_pk).with_for_update())


async def owned_purchases(session: AsyncSession, customer_pk: int) -> Sequence[Purchase]:
    """2. The customer's owned purchases, oldest first, locked (after the customer), so the
    rules are checked against what the customer owns now."""
    return (await session.scalars(owned_statement(customer_pk).with_for_update())).all()


async def purchase(session: AsyncSession, purchase_id: int) -> Purchase | None:
    """2. One purchase, re-read from the database and locked."""
    return await session.get(Purchase, purchase_id, with_for_update=True, populate_existing=True)


async def checkout(session: AsyncSession, checkout_id: int) -> CheckoutSession | None:
    """2. One checkout, re-read and locked."""
    return await session.get(CheckoutSession, checkout_id, with_for_update=True,
                             populate_existing=True)


async def promo_code(session: AsyncSession, promo_code_id: int) -> PromoCode | None:
    """2b. One promo code, re-read and locked: its redemptions are counted and taken under
    this lock, so two servers never both take its last redemption. Taken after the
    customer's own rows (and by ``updatePromoCode`` alone, which locks nothing else)."""
    return await session.get(PromoCode, promo_code_id, with_for_update=True,
                             populate_existing=True)


async def charge_claim(session: AsyncSession, claim_id: int) -> ChargeClaim | None:
    """2. One charge claim, re-read and locked."""
    return await session.get(ChargeClaim, claim_id, with_for_update=True, populate_existing=True)


async def transaction(session: AsyncSession, transaction_id: int) -> Transaction | None:
    """5. One recorded charge (a refund reserves against it), re-read and locked."""
    return await session.get(Transaction, transaction_id, with_for_update=True,
                             populate_existing=True)
