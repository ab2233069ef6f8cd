"""The unit of work (``billing/unit_of_work.py``): one commit, then one announcement of what
it collected, nothing on rollback, retried when it lost a race; and refunds claimed, made
and recorded through it (``billing/refunds.py`` with ``billing/charges.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from recording_bus import RecordingBus
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from billgate.billing import charges, refunds, unit_of_work, writes
from billgate.billing.context import Billing, Scope
from billgate.billing.payment_settings import PaymentSettings
from billgate.billing.purchases import service
from billgate.billing.unit_of_work import UnitOfWork
from billgate.clock import FrozenClock
from billgate.db.engine import Database
from billgate.db.models import ChargeClaim, Customer, Purchase, Transaction
from billgate.errors import InvalidInput, PaymentFailed
from billgate.payments.rails import RefundResult
from billgate.payments.test_rails import TestRails
from billgate.types import CustomerRef, CustomerType

pytestmark = pytest.mark.usefixtures("example_catalog")

USER = CustomerRef(CustomerType.USER, "u-uow")
TOPIC = "customer:USER:u-uow"


class TestAfterCommit:
    async def test_a_committed_change_is_announced_once(self, db: Database,
                                                        clock: FrozenClock) -> None:
        bus = RecordingBus()
        actions: list[str] = []

        async def work(uow: UnitOfWork) -> None:
            uow.customer.email = "a@example.com"
            uow.after_commit(lambda: _append(actions, "sent"))
            uow.after_commit(lambda: _append(actions, "again"))

        await unit_of_work.run(Scope(db, clock, bus), USER, work)
        # The first reference granted Free's credits (an item event) and the change itself
        # is one customerChanged, however many things it wrote.
        assert bus.customers_changed == [TOPIC]
        assert [e.reason for e in bus.item_events] == ["purchase"]
        assert actions == ["sent", "again"]

    async def test_a_rolled_back_change_announces_nothing_and_writes_nothing(
            self, db: Database, clock: FrozenClock) -> None:
        bus = RecordingBus()
        actions: list[str] = []

        async def work(uow: UnitOfWork) -> None:
            uow.customer.email = "a@example.com"
            uow.after_commit(lambda: _append(actions, "sent"))
            raise InvalidInput("no")

        with pytest.raises(InvalidInput):
            await unit_of_work.run(Scope(db, clock, bus), USER, work)
        assert bus.messages == [] and actions == []
        async with db.read_session() as session:
            assert await session.scalar(select(Customer.id)) is None  # not even created

    async def test_the_change_is_dated_after_the_lock(self, db: Database,
                                                      clock: FrozenClock) -> None:
        seen = []

        async def work(uow: UnitOfWork) -> None:
            seen.append(uow.now)

        before = clock.now()
        clock.at = before.replace(year=before.year + 1)  # the clock moved since the caller looked
        await unit_of_work.run(Scope(db, clock), USER, work)
        assert seen == [clock.at]


class TestRetries:
    async def test_a_stale_row_is_read_again(self) -> None:
        tries = []

        async def once() -> str:
            tries.append(1)
            if len(tries) == 1:
                raise StaleDataError("UPDATE statement on table 'purchases' expected to "
                                     "update 1 row(s); 0 were matched.")
            return "done"

        assert await writes.attempt(once, what="a test") == "done"
        assert len(tries) == 2

    async def test_a_rule_error_is_not_retried(self) -> None:
        tries = []

        async def once() -> None:
            tries.append(1)
            raise InvalidInput("bad")

        with pytest.raises(InvalidInput):
            await writes.attempt(once, what="a test")
        assert len(tries) == 1


class RefundRails(TestRails):
    def __init__(self, *, succeed: bool = True) -> None:
        self.succeed = succeed
        self.keys: list[str] = []

    async def refund(self, *, reference: str | None, amount: int, currency: str,
                     idempotency_key: str) -> RefundResult:
        self.keys.append(idempotency_key)
        if not self.succeed:
            return RefundResult(False, failure_message="the processor said no")
        return await super().refund(reference=reference, amount=amount, currency=currency,
                                    idempotency_key=idempotency_key)


async def _bought(db: Database, clock: FrozenClock) -> Transaction:
    """Pro, monthly, bought through a test-mode checkout: its purchase transaction."""
    checkout = await service.create_checkout(
        db, USER, product_id="pro", inline=None, price_id="pro-monthly", currency=None,
        quantity=1, return_url=None, allowed_return_urls=[], by_server=True, clock=clock)
    await service.complete_checkout(db, checkout.code, rails=TestRails(), clock=clock,
                                    test_mode=True)
    async with db.read_session() as session:
        row = await session.scalar(select(Transaction).where(Transaction.kind == "purchase"))
    assert row is not None
    return row


def _billing(db: Database, clock: FrozenClock, bus: Any) -> Billing:
    return Billing(db=db, rails=TestRails(), test_mode=True, settings=PaymentSettings(),
                   base_url="http://billgate.test", bus=bus, clock=clock)


class TestRefunds:
    async def test_a_refund_that_ends_the_plan_is_claimed_recorded_and_announced(
            self, db: Database, clock: FrozenClock) -> None:
        bought = await _bought(db, clock)
        bus, rails = RecordingBus(), RefundRails()
        outcome = await refunds.refund_transaction(
            _billing(db, clock, bus), bought.id, amount=None, revoke_grants=True,
            rails_for=lambda test_mode: rails)
        assert outcome.refund.amount == -bought.amount and outcome.revoked
        async with db.read_session() as session:
            claim = await session.scalar(select(ChargeClaim))
            plan = await session.scalar(select(Purchase).where(Purchase.product_id == "pro"))
        assert claim is not None and (claim.operation, claim.status) == ("refund", "RECORDED")
        assert rails.keys == [claim.idempotency_key]
        assert plan is not None and plan.status == "CANCELED"
        assert bus.customers_changed == [TOPIC]  # the plan ended: apps re-read

    async def test_a_refused_refund_releases_its_reservation(self, db: Database,
                                                             clock: FrozenClock) -> None:
        bought = await _bought(db, clock)
        bus = RecordingBus()
        with pytest.raises(PaymentFailed):
            await refunds.refund_transaction(
                _billing(db, clock, bus), bought.id, amount=None, revoke_grants=False,
                rails_for=lambda test_mode: RefundRails(succeed=False))
        async with db.read_session() as session:
            fresh = await session.get(Transaction, bought.id)
            claim = await session.scalar(select(ChargeClaim))
        assert fresh is not None and fresh.refunded_amount == 0  # refundable again
        assert claim is not None and claim.status == "FAILED"
        assert bus.customers_changed == []  # nothing the customer sees changed
        rails = RefundRails()
        await refunds.refund_transaction(  # a retry claims anew (a key of its own)
            _billing(db, clock, bus), bought.id, amount=None, revoke_grants=False,
            rails_for=lambda test_mode: rails)
        assert rails.keys and rails.keys[0] != claim.idempotency_key

    async def test_an_abandoned_refund_claim_is_refunded_again_and_recorded(
            self, db: Database, clock: FrozenClock) -> None:
        bought = await _bought(db, clock)
        billing = _billing(db, clock, None)

        async def reserve(uow: UnitOfWork) -> ChargeClaim:  # the run that died after this
            return await refunds._reserve(bought.id, 500, uow)

        claim = await unit_of_work.run(billing, bought.customer_pk, reserve)
        rails = RefundRails()
        await refunds.recover(billing, claim, lambda test_mode: rails)
        async with db.read_session() as session:
            fresh = await session.get(Transaction, bought.id)
            row = await session.get(ChargeClaim, claim.id)
            refund = await session.scalar(select(Transaction).where(Transaction.kind == "refund"))
        assert rails.keys == [claim.idempotency_key]  # the processor refunds it once
        assert row is not None and row.status == charges.RECORDED
        assert fresh is not None and fresh.refunded_amount == 500
        assert refund is not None and refund.amount == -500


async def _append(actions: list[str], value: str) -> None:
    actions.append(value)
