"""Money leaving the process: claim -> charge -> record, with compensation.

1. **claim** (inside a unit of work, under the customer's lock): a ``ChargeClaim`` row with an
   idempotency key derived from the operation and the state acted on (the purchase, its
   ``version`` and how many claims it had). A racing twin that takes the lock next finds the
   PENDING claim and stops with a clear error; the partial unique index on
   ``charge_claims(purchase_id) WHERE status = 'PENDING'`` backs that up.
2. **charge** through the rails, outside any transaction, with the claim's key: a crashed
   run charged again with that key cannot charge twice (the processor deduplicates).
3. **record** (a new unit of work, the lock again): if the purchase is still at the claimed
   version, apply the operation and mark the claim RECORDED; if the charge failed, FAILED;
   if the state moved meanwhile (a cancel committed during the charge, say), the claim goes
   COMPENSATING, the charge is refunded after commit and the claim becomes COMPENSATED.

A claim whose run died (its lease ran out while PENDING) is finished by the scheduler
(``scheduled.recover_charges``): a renewal is charged again with its key and recorded, a
switch or a user's resume refunded, a refund made again with its key and recorded.

Refunds (``billing/refunds.py``) are claimed the same way (``claim_refund``): the amount is
reserved on the transaction under the lock, the processor refunds with the claim's key,
and the refund is recorded under the lock.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from sqlalchemy import func, select, update

from billgate.billing import unit_of_work
from billgate.billing.context import Billing
from billgate.billing.unit_of_work import UnitOfWork
from billgate.clock import utcnow
from billgate.db.models import ChargeClaim, Customer, Purchase, Transaction
from billgate.errors import InvalidInput, PaymentFailed
from billgate.ops.crash_points import crash_point
from billgate.payments.rails import ChargeRequest, ChargeResult
from billgate.types import CustomerRef, CustomerType

PENDING, RECORDED, FAILED = "PENDING", "RECORDED", "FAILED"
COMPENSATING, COMPENSATED = "COMPENSATING", "COMPENSATED"
SWITCH, RESUME, RENEWAL, REFUND = "switch", "resume", "renewal", "refund"
AUTO_TOP_UP = "auto_top_up"  # a purchase made for its crossing (``billing/auto_top_up.py``)
FINAL_INVOICE = "final_invoice"  # an ended plan's overage (``subscriptions/final_invoices.py``)
# Real time: how long a run may take between claim and record before the scheduler
# assumes it died and finishes the claim itself.
LEASE = timedelta(minutes=5)

T = TypeVar("T")


class ChangeInProgress(InvalidInput):
    """A twin of this change (or another paid change of the same subscription) is being
    charged right now."""


class StateChanged(InvalidInput):
    """The subscription changed while the payment was made; the payment was refunded."""


class Outcome(enum.Enum):
    RECORDED = "recorded"
    FAILED = "failed"
    COMPENSATED = "compensated"
    FINISHED_ELSEWHERE = "finished elsewhere"


@dataclass(frozen=True)
class Recorded(Generic[T]):
    outcome: Outcome
    value: T | None = None
    failure_message: str | None = None

    def value_or_raise(self) -> T:
        """What the operation produced, or the user error its caller answers with."""
        if self.outcome is Outcome.RECORDED:
            assert self.value is not None
            return self.value
        if self.outcome is Outcome.FAILED:
            raise PaymentFailed(self.failure_message or "the payment failed")
        if self.outcome is Outcome.COMPENSATED:
            raise StateChanged("the subscription changed while the payment was being made; "
                               "the payment was refunded and nothing else changed",
                               field=["subscriptionId"])
        raise ChangeInProgress("this change was finished by another request",
                               field=["subscriptionId"])


async def claim(uow: UnitOfWork, billing: Billing, *, operation: str, purchase: Purchase,
                amount: int, currency: str, description: str,
                invoice_key: str | None = None, invoice_id: int | None = None) -> ChargeClaim:
    """Claim a charge for ``purchase`` under the customer's lock (see the module doc)."""
    session = uow.session
    busy = await session.scalar(select(ChargeClaim.id).where(
        ChargeClaim.purchase_id == purchase.id, ChargeClaim.status.in_((PENDING, COMPENSATING))))
    if busy is not None:
        raise ChangeInProgress("another change to this subscription is being paid for right "
                               "now; try again in a moment", field=["subscriptionId"])
    await session.flush()  # the purchase's version is the one written so far
    earlier = await session.scalar(select(func.count(ChargeClaim.id)).where(
        ChargeClaim.purchase_id == purchase.id))
    customer = uow.customer
    key = invoice_key or (f"billgate:{operation}:{customer.stripe_customer_id or customer.id}:"
                          f"{purchase.id}:v{purchase.version}:c{earlier or 0}")
    row = ChargeClaim(
        customer_pk=customer.id, operation=operation, purchase_id=purchase.id,
        subject_version=purchase.version, idempotency_key=key, amount=amount, currency=currency,
        description=description, invoice_id=invoice_id,
        payment_method=(customer.default_payment_method or {}).get("id"),
        test_mode=billing.test_mode, status=PENDING, lease_until=utcnow() + LEASE,
        created_at=uow.now, updated_at=uow.now)
    session.add(row)
    await session.flush()
    return row


async def claim_new_purchase(uow: UnitOfWork, billing: Billing, *, operation: str, key: str,
                             amount: int, currency: str, description: str) -> ChargeClaim:
    """Claim a charge for a purchase that does not exist yet (an auto top-up): no
    purchase to version, so ``key`` names the state acted on (the caller's row, re-checked
    under the lock before it claims; a twin finds that row claimed and stops)."""
    customer = uow.customer
    row = ChargeClaim(
        customer_pk=customer.id, operation=operation, purchase_id=None, subject_version=None,
        idempotency_key=key, amount=amount, currency=currency, description=description,
        payment_method=(customer.default_payment_method or {}).get("id"),
        test_mode=billing.test_mode, status=PENDING, lease_until=utcnow() + LEASE,
        created_at=uow.now, updated_at=uow.now)
    uow.session.add(row)
    await uow.session.flush()
    return row


async def claim_refund(uow: UnitOfWork, transaction: Transaction, *, amount: int,
                       key: str) -> ChargeClaim:
    """Claim a refund of ``amount`` of ``transaction`` (reserved on it by the caller, under
    the customer's lock). ``invoice_id`` names the transaction refunded (no column of its
    own yet) and ``payment_reference`` the charge it goes back to."""
    row = ChargeClaim(
        customer_pk=uow.customer.id, operation=REFUND, purchase_id=None, subject_version=None,
        idempotency_key=key, amount=amount, currency=transaction.currency or "USD",
        description=f"Refund of transaction {transaction.id}", invoice_id=transaction.id,
        payment_reference=transaction.payment_reference, test_mode=transaction.test_mode,
        status=PENDING, lease_until=utcnow() + LEASE, created_at=uow.now, updated_at=uow.now)
    uow.session.add(row)
    await uow.session.flush()
    return row


async def charge(billing: Billing, row: ChargeClaim) -> ChargeResult:
    """Step 2: the processor call, with the claim's key, off-session."""
    crash_point("charge.claimed")
    customer = await _customer_ref(billing, row.customer_pk)
    result = await billing.rails.charge(ChargeRequest(
        customer=customer, amount=row.amount, currency=row.currency, description=row.description,
        idempotency_key=row.idempotency_key, payment_method=row.payment_method, off_session=True))
    crash_point("charge.charged")
    return result


Apply = Callable[[UnitOfWork, Purchase, ChargeClaim], Awaitable[T]]
Undo = Callable[[UnitOfWork, Purchase, ChargeClaim], Awaitable[object]]


async def record(billing: Billing, row: ChargeClaim, result: ChargeResult, *,
                 paid: Apply[T], failed: Apply[None], stale: Undo | None = None,
                 now: datetime | None = None) -> Recorded[T]:
    """Step 3 (see the module doc). ``paid`` applies the operation, ``failed`` records a
    declined charge; ``stale`` undoes what the claim wrote when the state moved."""

    async def work(uow: UnitOfWork) -> Recorded[T]:
        session = uow.session
        current = await session.get(ChargeClaim, row.id, populate_existing=True)
        assert current is not None
        if current.status != PENDING:
            return Recorded(Outcome.FINISHED_ELSEWHERE)
        purchase = await session.get(Purchase, current.purchase_id, populate_existing=True)
        assert purchase is not None
        current.lease_until = None
        if not result.succeeded:
            current.status, current.failure_message = FAILED, result.failure_message
            await failed(uow, purchase, current)
            return Recorded(Outcome.FAILED, failure_message=result.failure_message)
        current.payment_reference = result.reference
        if purchase.version != current.subject_version:
            current.status = COMPENSATING
            if stale is not None:
                await stale(uow, purchase, current)
            return Recorded(Outcome.COMPENSATED)
        current.status = RECORDED
        return Recorded(Outcome.RECORDED, await paid(uow, purchase, current))

    outcome = await unit_of_work.run(billing, row.customer_pk, work, now=now)
    if outcome.outcome is Outcome.COMPENSATED:
        await compensate(billing, row.id)
    return outcome


async def abandon(billing: Billing, row: ChargeClaim, result: ChargeResult, *,
                  now: datetime | None = None) -> None:
    """Finish a claim without applying it: FAILED, or refunded when the charge went through."""

    async def work(uow: UnitOfWork) -> bool:
        current = await uow.session.get(ChargeClaim, row.id, populate_existing=True)
        if current is None or current.status != PENDING:
            return False
        current.lease_until = None
        current.payment_reference = result.reference
        current.status = COMPENSATING if result.succeeded else FAILED
        current.failure_message = result.failure_message
        return result.succeeded

    if await unit_of_work.run(billing, row.customer_pk, work, now=now):
        await compensate(billing, row.id)


async def compensate(billing: Billing, claim_id: int) -> None:
    """Refund a COMPENSATING claim's charge (its own key, so a retry refunds once), then
    mark it COMPENSATED. Nothing but the claim row is written."""
    async with billing.db.read_session() as session:
        row = await session.get(ChargeClaim, claim_id)
    assert row is not None and row.status == COMPENSATING
    refund = await billing.rails.refund(reference=row.payment_reference, amount=row.amount,
                                        currency=row.currency,
                                        idempotency_key=f"{row.idempotency_key}:refund")
    if not refund.succeeded:  # left COMPENSATING: the scheduler tries again
        return

    async def work(uow: UnitOfWork) -> None:
        uow.quiet()  # the state the customer sees was never changed by this charge
        await uow.session.execute(update(ChargeClaim).where(
            ChargeClaim.id == claim_id, ChargeClaim.status == COMPENSATING)
            .values(status=COMPENSATED, updated_at=uow.now))

    await unit_of_work.run(billing, row.customer_pk, work)


async def pending_for(uow: UnitOfWork, purchase_id: int) -> ChargeClaim | None:
    return await uow.session.scalar(select(ChargeClaim).where(
        ChargeClaim.purchase_id == purchase_id, ChargeClaim.status == PENDING))


async def abandoned(billing: Billing, *, limit: int = 20) -> list[ChargeClaim]:
    """PENDING claims whose run died (lease over), and COMPENSATING ones not yet refunded."""
    real = utcnow()
    async with billing.db.read_session() as session:
        return list((await session.scalars(select(ChargeClaim).where(
            ((ChargeClaim.status == PENDING) & (ChargeClaim.lease_until < real))
            | ((ChargeClaim.status == COMPENSATING)
               & ((ChargeClaim.lease_until.is_(None)) | (ChargeClaim.lease_until < real))))
            .order_by(ChargeClaim.id).limit(limit))).all())


async def _customer_ref(billing: Billing, customer_pk: int) -> CustomerRef:
    async with billing.db.read_session() as session:
        customer = await session.get(Customer, customer_pk)
    assert customer is not None
    return CustomerRef(CustomerType(customer.type), customer.customer_id)
