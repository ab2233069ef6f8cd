"""Payment settings are one row written by start-up (``BILLGATE_TEST_MODE``) and by
``updatePaymentSettings``; replicas starting together on a new database all write it."""

from __future__ import annotations

import asyncio

from billgate.billing import payment_settings
from billgate.db.engine import Database


async def update_in_own_transaction(db: Database, grace: int) -> None:
    async with db.session() as session, session.begin():
        await payment_settings.update(session, test_mode=True, grace_period_days=grace)


async def test_concurrent_first_writes_on_a_new_database_all_succeed(db: Database) -> None:
    """The first write used to be a plain INSERT: on PostgreSQL a second process writing at
    the same moment failed on the primary key and exited at start-up."""
    await asyncio.gather(*(update_in_own_transaction(db, grace) for grace in range(1, 9)))
    async with db.read_session() as session:
        stored = await payment_settings.load(session)
    assert stored.test_mode is True
    assert stored.grace_period_days in range(1, 9)


async def test_an_update_keeps_what_it_does_not_change(db: Database) -> None:
    await update_in_own_transaction(db, 3)
    async with db.session() as session, session.begin():
        await payment_settings.update(session, block_new_purchases=True)
    async with db.read_session() as session:
        stored = await payment_settings.load(session)
    assert (stored.grace_period_days, stored.block_new_purchases, stored.test_mode) == (3, True, True)
