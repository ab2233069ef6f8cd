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

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import invoices, items, webhook_events
from billgate.billing.errors import InvalidInput, PaymentFailed
from billgate.billing.purchases import fulfil
from billgate.billing.purchases.repository import LIVE_SUBSCRIPTION, SUBSCRIPTION
from billgate.billing.subscriptions import lifecycle
from billgate.billing.unit_of_work import UnitOfWork
from billgate.db.models import Customer, ItemBalance, ItemChange, ItemDefinition, Purchase, Transaction
from billgate.payments.rails import PaymentRails
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
                             now: datetime) -> RefundOutcome:
    """Refund ``amount`` minor units (default: all that is not refunded yet) of a charge.

    ``rails_for(test_mode)`` gives the rails a charge of that mode is refunded through
    (None: none configured, refused with ``PAYMENT_FAILED``).
    """
    original, amount = await _reserve(billing, transaction_id, amount)
    rails = rails_for(original.test_mode)
    try:
        if rails is None:
            raise PaymentFailed("this live charge can only be refunded through Stripe, which is "
                                "not configured (set BILLGATE_STRIPE_SECRET_KEY)")
        key = (f"billgate:refund:{original.payment_reference or original.id}:"
               f"{original.refunded_amount}:{amount}")
        result = await rails.refund(reference=original.payment_reference, amount=amount,
                                    currency=original.currency or "USD", idempotency_key=key)
        if not result.succeeded:
            raise PaymentFailed(result.failure_message or "the refund failed")
    except Exception:
        await _release(billing, original.id, amount)
        raise
    async with billing.db.session() as session, session.begin():
        refund = _refund_row(original, amount, reference=result.reference, now=now)
        session.add(refund)
        if revoke_grants and original.purchase_id is not None:
            await revoke_purchase(billing, session, original.purchase_id, now=now)
        fresh = await session.get(Transaction, original.id, populate_existing=True)
        assert fresh is not None
        await webhook_events.refunded(session, fresh, amount=amount, now=now)
        await invoices.credit_note_for_refund(session, fresh, refund, now=now)
    await lifecycle.flush_events(billing)
    return RefundOutcome(original=fresh, refund=refund, revoked=revoke_grants)


async def _reserve(billing: lifecycle.Billing, transaction_id: int,
                   amount: int | None) -> tuple[Transaction, int]:
    """Check the refund and add it to ``refunded_amount`` (returns the row as it was)."""
    async with billing.db.session() as session, session.begin():
        row = await session.get(Transaction, transaction_id)
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
        reserved = await session.execute(
            update(Transaction)
            .where(Transaction.id == row.id,
                   Transaction.refunded_amount + wanted <= Transaction.amount)
            .values(refunded_amount=Transaction.refunded_amount + wanted)
            .execution_options(synchronize_session=False))
        if reserved.rowcount != 1:  # type: ignore[attr-defined]
            raise InvalidInput("another refund of this transaction was made meanwhile; try again",
                               field=["amount"])
        session.expunge(row)
    return row, wanted


async def _release(billing: lifecycle.Billing, transaction_id: int, amount: int) -> None:
    async with billing.db.session() as session, session.begin():
        await session.execute(update(Transaction).where(Transaction.id == transaction_id)
                              .values(refunded_amount=Transaction.refunded_amount - amount))


def _refund_row(original: Transaction, amount: int, *, reference: str | None,
                now: datetime) -> Transaction:
    return Transaction(customer_pk=original.customer_pk, purchase_id=original.purchase_id,
                       kind="refund", amount=-amount, currency=original.currency,
                       quantity=original.quantity, product=original.product,
                       test_mode=original.test_mode, payment_reference=reference, created_at=now)


async def revoke_purchase(billing: lifecycle.Billing, session: AsyncSession, purchase_id: int, *,
                          now: datetime) -> None:
    """End the purchase as refunded and take back the items it granted for good. Safe to
    repeat: an ended purchase is not ended again, items already taken back are not."""
    purchase = await session.get(Purchase, purchase_id)
    customer = await session.get(Customer, purchase.customer_pk) if purchase else None
    if purchase is None or customer is None:
        return
    if purchase.kind == SUBSCRIPTION:
        if purchase.status in LIVE_SUBSCRIPTION:
            uow = UnitOfWork(session=session, customer=customer, now=now,
                             test_mode=billing.test_mode)
            await lifecycle.end_subscription(uow, purchase, at=now)
            billing.events += uow.events
    elif purchase.status == "ACTIVE":
        billing.events += await fulfil.end(session, customer, purchase, now=now, status="REFUNDED")
    source = fulfil.source_of(purchase)
    forever = {entry["itemId"] for entry in purchase.product.get("includedItems") or []
               if entry.get("expires", ItemExpiry.NEVER) == ItemExpiry.NEVER}
    for item, granted, revoked in await _granted_by(session, source):
        if item.item_id in forever and granted - revoked > 0:
            billing.events += await items.revoke(
                session, customer, item, quantity=granted - revoked, now=now, reason="refund",
                source=source, description=f"Refund of {purchase.product.get('displayName')}")


async def _granted_by(session: AsyncSession, source: str) -> list[tuple[ItemDefinition, int, int]]:
    """Per item: what ``source`` granted (purchase and repeats) and what refunds took back."""
    granted = func.coalesce(func.sum(ItemChange.delta).filter(
        ItemChange.reason.in_(("purchase", "repeat", "renewal")), ItemChange.delta > 0), 0)
    revoked = func.coalesce(func.sum(-ItemChange.delta).filter(ItemChange.reason == "refund"), 0)
    rows = await session.execute(
        select(ItemDefinition, granted, revoked)
        .join(ItemBalance, ItemBalance.item_pk == ItemDefinition.id)
        .join(ItemChange, ItemChange.balance_id == ItemBalance.id)
        .where(ItemChange.source == source)
        .group_by(ItemDefinition.id))
    return [(row[0], int(row[1]), int(row[2])) for row in rows]


async def record_external_refunds(billing: lifecycle.Billing, charge: ChargeInfo, *,
                                  now: datetime) -> int:
    """Record the refunds of a Stripe charge that billgate did not make (the Dashboard):
    each once, against the charge's transaction. billgate's own refunds carry
    ``metadata.billgate_refund`` and are recorded by whoever made them."""
    if not charge.payment_intent:
        return 0
    recorded = 0
    async with billing.db.session() as session, session.begin():
        original = await session.scalar(
            select(Transaction).where(Transaction.payment_reference == charge.payment_intent,
                                      Transaction.kind.in_(REFUNDABLE_KINDS))
            .order_by(Transaction.id).limit(1).with_for_update())
        if original is None:
            log.info("charge %s (%s) is not one of billgate's", charge.id, charge.payment_intent)
            return 0
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
            row = _refund_row(original, amount, reference=refund.id, now=now)
            session.add(row)
            await webhook_events.refunded(session, original, amount=amount, now=now)
            await invoices.credit_note_for_refund(session, original, row, now=now)
            recorded += 1
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
    return original
