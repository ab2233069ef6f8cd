"""Buying what a noted crossing asks for (``items/top_up_crossings.py`` notes them): the
scheduler's ``auto_top_up.purchase`` job, after the consumer's change has committed, so
no consumer ever waits for a charge.

Per crossing, through ``billing/charges.py``:

1. claim, a unit of work on the customer: the crossing is read again under the lock and
   must still be PENDING (a twin on another server that takes the lock next finds it
   CHARGING and stops), the auto top-up still enabled (else SKIPPED), the product still
   buyable for this customer (else the top-up is turned off, FAILED); then a charge claim
   keyed by the crossing (``billgate:auto_top_up:<crossing id>``), crossing CHARGING;
2. charge the default card off-session (test mode: the saved test card, or nothing at no
   cost without one), outside any transaction;
3. record, the lock again: paid -> one purchase of the product (``fulfil.start``, as a
   checkout starts it: its items granted, a transaction, a PAID invoice and a receipt),
   crossing PURCHASED, ``lastTriggeredAt``, ``auto_top_up.succeeded``; declined -> the
   top-up turned off with ``disabledReason``, crossing FAILED, ``auto_top_up.failed`` and
   the payment-failed email; if the product can no longer be bought as claimed (the
   catalog changed during the charge), the charge is refunded (COMPENSATED) and the
   crossing FAILED.

A run that died after its claim is finished by ``charge.recover`` (``recover``): charged
again with the claim's key (the processor answers with the first charge) and recorded
once, since recording needs the claim PENDING under the customer's lock.
"""

from __future__ import annotations

import enum
from datetime import datetime
from functools import partial

from sqlalchemy import func, select

from billgate.billing import charges, invoices, locks, unit_of_work
from billgate.billing.auto_top_up.settings import view_of
from billgate.billing.context import Billing
from billgate.billing.items import top_up_crossings
from billgate.billing.purchases import fulfil, request, rules
from billgate.billing.purchases import service as purchases
from billgate.billing.purchases.request import PurchaseRequest
from billgate.billing.unit_of_work import UnitOfWork
from billgate.db.models import AutoTopUp, AutoTopUpCrossing, ChargeClaim, ItemDefinition, Purchase
from billgate.errors import BillgateError, PaymentFailed
from billgate.money import from_minor
from billgate.notifications import outbox
from billgate.notifications.webhooks import emit
from billgate.payments.rails import ChargeResult

PENDING = top_up_crossings.PENDING
CHARGING, PURCHASED, FAILED, SKIPPED = "CHARGING", "PURCHASED", "FAILED", "SKIPPED"
ORIGIN = "auto_top_up"  # ``Purchase.origin`` of what a top-up bought
BATCH = 20


class Outcome(enum.Enum):
    NOTHING = "nothing"  # not PENDING any more: another run has it
    DONE = "done"  # skipped or failed without a charge, or bought at no cost
    CLAIMED = "claimed"


async def next_due(billing: Billing, now: datetime) -> datetime | None:
    """The earliest PENDING crossing noted at or before ``now``."""
    async with billing.db.read_session() as session:
        return await session.scalar(select(func.min(AutoTopUpCrossing.created_at)).where(
            AutoTopUpCrossing.status == PENDING, AutoTopUpCrossing.created_at <= now))


async def run_due(billing: Billing, at: datetime) -> int:
    """Buy for up to ``BATCH`` PENDING crossings noted at or before ``at``, oldest first."""
    async with billing.db.read_session() as session:
        due = (await session.execute(
            select(AutoTopUpCrossing.id, AutoTopUpCrossing.customer_pk)
            .where(AutoTopUpCrossing.status == PENDING, AutoTopUpCrossing.created_at <= at)
            .order_by(AutoTopUpCrossing.created_at, AutoTopUpCrossing.id).limit(BATCH))).all()
    done = 0
    for crossing_id, customer_pk in due:
        done += await buy(billing, crossing_id, customer_pk, now=at)
    return done


async def buy(billing: Billing, crossing_id: int, customer_pk: int, *, now: datetime) -> int:
    """Steps 1-3 for one crossing; 0 when another run has it."""
    outcome, claim = await unit_of_work.run(billing, customer_pk,
                                            partial(_claim, billing, crossing_id), now=now)
    if claim is not None:
        await settle(billing, claim, await charges.charge(billing, claim), now=now)
    return 0 if outcome is Outcome.NOTHING else 1


async def _claim(billing: Billing, crossing_id: int,
                 uow: UnitOfWork) -> tuple[Outcome, ChargeClaim | None]:
    session = uow.session
    crossing = await session.get(AutoTopUpCrossing, crossing_id, populate_existing=True)
    if crossing is None or crossing.status != PENDING:
        return Outcome.NOTHING, None
    top_up = await session.get(AutoTopUp, crossing.auto_top_up_id, populate_existing=True)
    assert top_up is not None
    uow.quiet()  # nothing the customer sees changes until it is bought or turned off
    if not top_up.enabled:
        _finish(crossing, SKIPPED, uow.now, "the auto top-up was turned off before it bought")
        return Outcome.DONE, None
    try:
        req, amount = await _priced(uow, top_up)
    except BillgateError as exc:
        await _fail(billing, uow, top_up, crossing, exc.message)
        return Outcome.DONE, None
    if amount == 0:  # nothing to charge: bought at once
        await _bought(billing, uow, top_up, crossing, req, amount=0, reference=None)
        return Outcome.DONE, None
    if not billing.test_mode and not uow.customer.default_payment_method:
        await _fail(billing, uow, top_up, crossing, "no default payment method to charge")
        return Outcome.DONE, None
    claim = await charges.claim_new_purchase(
        uow, billing, operation=charges.AUTO_TOP_UP, key=f"billgate:auto_top_up:{crossing.id}",
        amount=amount, currency=req.currency or "USD",
        description=f"Auto top-up: {req.product.display_name}")
    crossing.status, crossing.claim_id, crossing.updated_at = CHARGING, claim.id, uow.now
    return Outcome.CLAIMED, claim


async def _priced(uow: UnitOfWork, top_up: AutoTopUp) -> tuple[PurchaseRequest, int]:
    """The purchase the top-up makes now, checked against what the customer owns, and what
    it costs (tax included, as a checkout charges it)."""
    req = await request.resolve(uow.session, customer=unit_of_work.ref_of(uow.customer),
                                product_id=top_up.product_id, inline=None,
                                price_id=top_up.price_id, currency=None,
                                quantity=top_up.quantity, by_server=True, needs_price=True)
    rules.check(req, await locks.owned_purchases(uow.session, uow.customer.id))
    amount = req.total
    if amount > 0:
        amount += (await invoices.tax_due(uow.session, uow.customer, amount))[0]
    return req, amount


async def settle(billing: Billing, claim: ChargeClaim, result: ChargeResult, *,
                 now: datetime) -> charges.Outcome:
    """Step 3 (see the module doc)."""
    outcome = await unit_of_work.run(billing, claim.customer_pk,
                                     partial(_record, billing, claim.id, result), now=now)
    if outcome is charges.Outcome.COMPENSATED:
        await charges.compensate(billing, claim.id)
    return outcome


async def _record(billing: Billing, claim_id: int, result: ChargeResult,
                  uow: UnitOfWork) -> charges.Outcome:
    session = uow.session
    claim = await session.get(ChargeClaim, claim_id, populate_existing=True)
    assert claim is not None
    if claim.status != charges.PENDING:
        uow.quiet()
        return charges.Outcome.FINISHED_ELSEWHERE
    crossing = await session.scalar(select(AutoTopUpCrossing).where(
        AutoTopUpCrossing.claim_id == claim.id).execution_options(populate_existing=True))
    assert crossing is not None
    top_up = await session.get(AutoTopUp, crossing.auto_top_up_id, populate_existing=True)
    assert top_up is not None
    claim.lease_until, claim.updated_at = None, uow.now
    if not result.succeeded:
        claim.status = charges.FAILED
        claim.failure_message = result.failure_message or "the payment failed"
        await _fail(billing, uow, top_up, crossing, claim.failure_message, declined=claim)
        return charges.Outcome.FAILED
    claim.payment_reference = result.reference
    try:
        req, amount = await _priced(uow, top_up)
        if (amount, req.currency) != (claim.amount, claim.currency):
            raise PaymentFailed("the price changed while the card was charged")
    except BillgateError as exc:  # refunded after commit; the top-up stays as it is
        uow.quiet()
        claim.status = charges.COMPENSATING
        _finish(crossing, FAILED, uow.now, f"{exc.message}; the charge was refunded")
        return charges.Outcome.COMPENSATED
    claim.status = charges.RECORDED
    await _bought(billing, uow, top_up, crossing, req, amount=amount,
                  reference=result.reference)
    return charges.Outcome.RECORDED


async def _bought(billing: Billing, uow: UnitOfWork, top_up: AutoTopUp,
                  crossing: AutoTopUpCrossing, req: PurchaseRequest, *, amount: int,
                  reference: str | None) -> Purchase:
    """The purchase, as a paid checkout records it, and the top-up's success."""
    session, customer, now = uow.session, uow.customer, uow.now
    uow.announce(customer)  # what it owns changed (``_claim`` quieted the unit)
    owned = await locks.owned_purchases(session, customer.id)
    purchase, started = await fulfil.start(session, customer, req, now=now, origin=ORIGIN,
                                           owned=owned)
    uow.events += started
    invoice = await purchases.record_paid(session, customer, purchase, req, amount=amount,
                                          test_mode=billing.test_mode, reference=reference,
                                          now=now)
    _finish(crossing, PURCHASED, now)
    crossing.purchase_id = purchase.id
    top_up.last_triggered_at = top_up.updated_at = now
    await emit.auto_top_up_succeeded(session, customer, item_id=await _item_id(uow, top_up),
                                     auto_top_up=await _payload(uow, top_up), purchase=purchase,
                                     invoice=invoice, now=now, test_mode=billing.test_mode)
    return purchase


async def _fail(billing: Billing, uow: UnitOfWork, top_up: AutoTopUp,
                crossing: AutoTopUpCrossing, reason: str, *,
                declined: ChargeClaim | None = None) -> None:
    """The top-up could not buy: turned off with ``reason``; a declined charge also sends
    the payment-failed email."""
    session, customer, now = uow.session, uow.customer, uow.now
    uow.announce(customer)
    _finish(crossing, FAILED, now, reason)
    top_up.enabled, top_up.disabled_reason, top_up.updated_at = False, reason, now
    item_id = await _item_id(uow, top_up)
    await emit.auto_top_up_failed(session, customer, item_id=item_id,
                                  auto_top_up=await _payload(uow, top_up), reason=reason,
                                  now=now, test_mode=billing.test_mode)
    if declined is not None:
        outbox.enqueue(session, customer, outbox.PAYMENT_FAILED, {
            "customer": customer.customer_id, "reason": reason, "auto_top_up": item_id,
            "amount": from_minor(declined.amount, declined.currency),
            "currency": declined.currency,
            "lines": [{"description": declined.description, "amount": declined.amount}],
        }, now=now)


def _finish(crossing: AutoTopUpCrossing, status: str, now: datetime,
            message: str | None = None) -> None:
    crossing.status, crossing.failure_message, crossing.updated_at = status, message, now


async def _item_id(uow: UnitOfWork, top_up: AutoTopUp) -> str:
    item = await uow.session.get(ItemDefinition, top_up.item_pk)
    assert item is not None
    return item.item_id


async def _payload(uow: UnitOfWork, top_up: AutoTopUp) -> dict[str, object]:
    view = view_of(top_up, await _item_id(uow, top_up))
    return {"threshold": view.threshold, "productId": view.product_id,
            "priceId": view.price_id, "quantity": view.quantity,
            "maxPerMonth": view.max_per_month, "enabled": view.enabled,
            "lastTriggeredAt": view.last_triggered_at.isoformat()
            if view.last_triggered_at else None, "disabledReason": view.disabled_reason}


async def recover(billing: Billing, claim: ChargeClaim, *, now: datetime) -> None:
    """Finish a top-up claim whose run died (``charges.abandoned``): a COMPENSATING one is
    refunded again; a PENDING one is charged again with its key and recorded."""
    if claim.status == charges.COMPENSATING:
        await charges.compensate(billing, claim.id)
        return
    await settle(billing, claim, await charges.charge(billing, claim), now=now)
