"""Refunds of recorded charges (server callers only), and what Stripe reports on its own.

``refund_transaction`` refunds a charge (a purchase, renewal or proration transaction) in
full or in part, in three steps so no database transaction waits on the processor:

1. reserve the amount: one conditional UPDATE of ``refunded_amount`` that never lets the
   refunds of a charge exceed it, however many run at once;
2. refund through the rails the charge was made on: Stripe for live charges, the test
   rails (no network, no money) for test-mode charges, whatever the mode is now;
3. record a ``refund`` transaction with the negative amount and, when asked, revoke what
   the purchase granted: the purchase ends (a one-time purchase becomes REFUNDED, a
   subscription is canceled now), its expiring grants lose their unused remainder, and the
   items it granted for good (``NEVER``) are taken back.

A refund the processor refuses releases the reservation and records nothing.

``record_external_refunds`` records refunds made outside billgate (the Stripe Dashboard),
reported by the ``charge.refunded`` webhook. ``note_dispute`` logs a dispute opened on a
charge (``charge.dispute.created``): billgate changes nothing, the merchant answers it in
Stripe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import charges, invoices, items, locks, unit_of_work, webhook_events
from billgate.billing.purchases import fulfil
from billgate.billing.purchases.ownership import LIVE_SUBSCRIPTION, SUBSCRIPTION
from billgate.billing.subscriptions import lifecycle
from billgate.billing.unit_of_work import UnitOfWork
from billgate.db.models import ChargeClaim, ItemBalance, ItemChange, ItemDefinition, Transaction
from billgate.errors import InvalidInput, PaymentFailed
from billgate.payments.rails import PaymentRails, RefundResult
from billgate.payments.stripe_rails import REFUND_METADATA_KEY, ChargeInfo, DisputeInfo
from billgate.types import ItemExpiry

log = logging.getLogger(__name__)

REFUNDABLE_KINDS = ("purchase", "renewal", "proration")


@dataclass(frozen=True)
class RefundOutcome:
    original: Transaction
    refund: Transaction
    revoked: bool


async def refund_transaction(billing: lifecycle.Billing, transaction_id: int, *,
                             amount: int | None, revoke_grants: bool,
                             rails_for: Callable[[bool], PaymentRails | None],
                             now: datetime | None = None) -> RefundOutcome:
    """Refund ``amount`` minor units (default: all that is not refunded yet) of a charge.

    ``rails_for(test_mode)`` gives the rails a charge of that mode is refunded through
    (None: none configured, refused with ``PAYMENT_FAILED``). Claim -> refund -> record
    (``billing/charges.py``), each step under the customer's lock.
    """
    customer_pk = await _customer_of(billing, transaction_id)
    claim = await unit_of_work.run(billing, customer_pk,
                                   partial(_reserve, transaction_id, amount), now=now)
    rails = rails_for(claim.test_mode)
    if rails is None:
        await _finish(billing, claim, None, revoke_grants=False, now=now)
        raise PaymentFailed("this live charge can only be refunded through Stripe, which is "
                            "not configured (set BILLGATE_STRIPE_SECRET_KEY)")
    try:
        result = await refund_claimed(rails, claim)
    except Exception:
        await _finish(billing, claim, None, revoke_grants=False, now=now)
        raise
    outcome = await _finish(billing, claim, result, revoke_grants=revoke_grants, now=now)
    if outcome is None:
        raise PaymentFailed(result.failure_message or "the refund failed")
    return outcome


async def _customer_of(billing: lifecycle.Billing, transaction_id: int) -> int:
    async with billing.db.read_session() as session:
        customer_pk = await session.scalar(select(Transaction.customer_pk)
                                           .where(Transaction.id == transaction_id))
    if customer_pk is None:
        raise InvalidInput(f"no transaction {transaction_id}", field=["transactionId"])
    return customer_pk


async def _reserve(transaction_id: int, amount: int | None, uow: UnitOfWork) -> ChargeClaim:
    """Check the refund, add it to ``refunded_amount`` and claim it, under the lock (a
    concurrent refund of the same charge waits and then sees this one's reservation)."""
    uow.quiet()  # nothing is refunded yet
    row = await locks.transaction(uow.session, transaction_id)
    if row is None:
        raise InvalidInput(f"no transaction {transaction_id}", field=["transactionId"])
    if row.kind not in REFUNDABLE_KINDS or row.amount <= 0:
        raise InvalidInput(f"a {row.kind} transaction of {row.amount} cannot be refunded: only "
                           "charges can", field=["transactionId"])
    remaining = row.amount - row.refunded_amount
    wanted = remaining if amount is None else amount
    if remaining <= 0:
        raise InvalidInput("the transaction is refunded in full already", field=["transactionId"])
    if not 1 <= wanted <= remaining:
        raise InvalidInput(f"amount must be from 1 to {remaining} (minor units not refunded yet)",
                           field=["amount"])
    tries = await uow.session.scalar(select(func.count(ChargeClaim.id)).where(
        ChargeClaim.operation == charges.REFUND, ChargeClaim.invoice_id == row.id))
    key = (f"billgate:refund:{row.payment_reference or row.id}:{row.refunded_amount}:{wanted}"
           f":c{tries or 0}")
    row.refunded_amount += wanted
    return await charges.claim_refund(uow, row, amount=wanted, key=key)


async def refund_claimed(rails: PaymentRails, claim: ChargeClaim) -> RefundResult:
    """Step 2: the processor refund, with the claim's key (a retry refunds once)."""
    return await rails.refund(reference=claim.payment_reference, amount=claim.amount,
                              currency=claim.currency, idempotency_key=claim.idempotency_key)


async def _finish(billing: lifecycle.Billing, claim: ChargeClaim, result: RefundResult | None, *,
                  revoke_grants: bool, now: datetime | None) -> RefundOutcome | None:
    """Step 3, under the lock: record the refund (and revoke what the purchase granted),
    or release the reservation when it did not happen. None: not refunded."""
    async def work(uow: UnitOfWork) -> RefundOutcome | None:
        session = uow.session
        current = await locks.charge_claim(session, claim.id)
        assert current is not None and current.invoice_id is not None
        original = await locks.transaction(session, current.invoice_id)
        assert original is not None
        if current.status != charges.PENDING:  # finished by a twin or the scheduler
            uow.quiet()
            return None
        current.lease_until, current.updated_at = None, uow.now
        if result is None or not result.succeeded:
            uow.quiet()
            current.status = charges.FAILED
            current.failure_message = result.failure_message if result else "not refunded"
            original.refunded_amount -= current.amount
            return None
        current.status, current.payment_reference = charges.RECORDED, result.reference
        refund = _refund_row(original, current.amount, reference=result.reference, now=uow.now)
        session.add(refund)
        if revoke_grants and original.purchase_id is not None:
            await revoke_purchase(uow, original.purchase_id)
        await webhook_events.refunded(session, original, amount=current.amount, now=uow.now)
        await invoices.credit_note_for_refund(session, original, refund, now=uow.now)
        return RefundOutcome(original=original, refund=refund, revoked=revoke_grants)

    return await unit_of_work.run(billing, claim.customer_pk, work, now=now)


async def recover(billing: lifecycle.Billing, claim: ChargeClaim,
                  rails_for: Callable[[bool], PaymentRails | None]) -> None:
    """An abandoned refund claim (its run died between claim and record): refund again
    with its key (the processor refunds once) and record it; the grants are not revoked
    after the fact (the caller was never told it succeeded)."""
    rails = rails_for(claim.test_mode)
    if rails is None:  # it may have been refunded: never released blind
        log.warning("refund claim %s waits for the rails of its mode", claim.id)
        return
    await _finish(billing, claim, await refund_claimed(rails, claim), revoke_grants=False,
                  now=None)


def _refund_row(original: Transaction, amount: int, *, reference: str | None,
                now: datetime) -> Transaction:
    return Transaction(customer_pk=original.customer_pk, purchase_id=original.purchase_id,
                       kind="refund", amount=-amount, currency=original.currency,
                       quantity=original.quantity, product=original.product,
                       test_mode=original.test_mode, payment_reference=reference, created_at=now)


async def revoke_purchase(uow: UnitOfWork, purchase_id: int) -> None:
    """End the purchase as refunded and take back the items it granted for good. Safe to
    repeat: an ended purchase is not ended again, items already taken back are not."""
    session, customer, now = uow.session, uow.customer, uow.now
    purchase = await locks.purchase(session, purchase_id)
    if purchase is None or purchase.customer_pk != customer.id:
        return
    if purchase.kind == SUBSCRIPTION:
        if purchase.status in LIVE_SUBSCRIPTION:
            await lifecycle.end_subscription(uow, purchase, at=now)
    elif purchase.status == "ACTIVE":
        uow.events += await fulfil.end(session, customer, purchase, now=now, status="REFUNDED")
    source = fulfil.source_of(purchase)
    forever = {entry["itemId"] for entry in purchase.product.get("includedItems") or []
               if entry.get("expires", ItemExpiry.NEVER) == ItemExpiry.NEVER}
    for item, granted, revoked in await _granted_by(session, source):
        if item.item_id in forever and granted - revoked > 0:
            uow.events += await items.revoke(
                session, customer, item, quantity=granted - revoked, now=now, reason="refund",
                source=source, description=f"Refund of {purchase.product.get('displayName')}")


async def _granted_by(session: AsyncSession, source: str) -> list[tuple[ItemDefinition, int, int]]:
    """Per item: what ``source`` granted (purchase, repeats and more seats) and what refunds
    took back."""
    granted = func.coalesce(func.sum(ItemChange.delta).filter(
        ItemChange.reason.in_(("purchase", "repeat", "renewal", "seats")), ItemChange.delta > 0), 0)
    revoked = func.coalesce(func.sum(-ItemChange.delta).filter(ItemChange.reason == "refund"), 0)
    rows = await session.execute(
        select(ItemDefinition, granted, revoked)
        .join(ItemBalance, ItemBalance.item_pk == ItemDefinition.id)
        .join(ItemChange, ItemChange.balance_id == ItemBalance.id)
        .where(ItemChange.source == source)
        .group_by(ItemDefinition.id))
    return [(row[0], int(row[1]), int(row[2])) for row in rows]


async def record_external_refunds(billing: lifecycle.Billing, charge: ChargeInfo, *,
                                  now: datetime | None = None) -> int:
    """Record the refunds of a Stripe charge that billgate did not make (the Dashboard):
    each once, against the charge's transaction, under its customer's lock (and announced
    like every change). billgate's own refunds carry ``metadata.billgate_refund`` and are
    recorded by whoever made them."""
    if not charge.payment_intent:
        return 0
    async with billing.db.read_session() as session:
        found = (await session.execute(
            select(Transaction.id, Transaction.customer_pk)
            .where(Transaction.payment_reference == charge.payment_intent,
                   Transaction.kind.in_(REFUNDABLE_KINDS))
            .order_by(Transaction.id).limit(1))).one_or_none()
    if found is None:
        log.info("charge %s (%s) is not one of billgate's", charge.id, charge.payment_intent)
        return 0

    async def work(uow: UnitOfWork) -> int:
        session = uow.session
        original = await locks.transaction(session, found.id)
        assert original is not None
        recorded = 0
        for refund in charge.refunds:
            if refund.metadata.get(REFUND_METADATA_KEY) or refund.status != "succeeded":
                continue
            known = await session.scalar(select(Transaction.id).where(
                Transaction.kind == "refund", Transaction.payment_reference == refund.id))
            if known is not None:
                continue
            amount = min(refund.amount, original.amount - original.refunded_amount)
            if amount <= 0:
                continue
            original.refunded_amount += amount
            row = _refund_row(original, amount, reference=refund.id, now=uow.now)
            session.add(row)
            await webhook_events.refunded(session, original, amount=amount, now=uow.now)
            await invoices.credit_note_for_refund(session, original, row, now=uow.now)
            recorded += 1
        if not recorded:
            uow.quiet()
        return recorded

    recorded = await unit_of_work.run(billing, found.customer_pk, work, now=now)
    if recorded:
        log.info("recorded %s refund(s) of charge %s made outside billgate", recorded, charge.id)
    return recorded


async def note_dispute(billing: lifecycle.Billing, dispute: DisputeInfo) -> Transaction | None:
    """A dispute (chargeback) was opened: log it with the transaction it concerns. Access
    is not revoked automatically; answer the dispute in the Stripe Dashboard."""
    async with billing.db.read_session() as session:
        original = await session.scalar(
            select(Transaction).where(Transaction.payment_reference == dispute.payment_intent)
            .order_by(Transaction.id).limit(1)) if dispute.payment_intent else None
    log.warning("Stripe dispute %s (%s, %s %s, status %s) on charge %s, transaction %s of "
                "customer %s: answer it in the Stripe Dashboard", dispute.id, dispute.reason,
                dispute.amount, dispute.currency.upper(), dispute.status, dispute.charge,
                original.id if original else None, original.customer_pk if original else None)
    if original is not None:  # announced like every change of the customer's billing
        await unit_of_work.run(billing, original.customer_pk, _nothing_written)
    return original


async def _nothing_written(uow: UnitOfWork) -> None:
    """A dispute writes nothing of billgate's, but the customer's apps re-read its state
    (``customerChanged``), as after every billing event."""
