"""Hosted checkout in live mode, paid through Stripe.

Three ways in, one way to record (``service.record_checkout``: whoever records first wins,
so a checkout is granted once whichever path reports the payment first):

- The page (``prepare``): a PaymentIntent for the checkout's amount and currency (the card
  is saved for later off-session renewals), or a SetupIntent when nothing is due today (a
  free trial still needs a card), for Stripe.js's Payment Element. The browser pays Stripe
  directly; billgate never takes the browser's word for it.
- Stripe's webhook and the page's return address (``sync_intent``): the intent is read
  from Stripe, and only a ``succeeded`` intent completes the checkout.
- The server-side confirmation (``confirm``, for API-driven flows and tests): claim the code,
  attach the card and confirm the intent with it (outside any transaction), then record
  from the intent as Stripe reports it afterwards. A decline releases the code, records
  nothing and emails the customer.

A payment that succeeded but can no longer be recorded (the customer bought the product
meanwhile, the catalog price changed) is refunded in full, and the link reopens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select, update

from billgate.billing import payment_methods
from billgate.billing.purchases import service
from billgate.billing.purchases.service import Failure
from billgate.billing.unit_of_work import UnitOfWork
from billgate.clock import Clock
from billgate.db.engine import Database
from billgate.db.models import CheckoutSession, Customer
from billgate.errors import BillgateError, CheckoutUnavailable, PaymentFailed
from billgate.payments.stripe_rails import (
    CHECKOUT_METADATA_KEY,
    Card,
    Intent,
    ProcessorError,
    StripeRails,
)

log = logging.getLogger(__name__)

PAYABLE = ("requires_payment_method", "requires_confirmation", "requires_action")


@dataclass(frozen=True)
class PaymentForm:
    """What the page's Payment Element pays: ``payment`` (a PaymentIntent), ``setup`` (a
    SetupIntent: nothing due today, a card for later) or ``none`` (free: no card)."""

    kind: Literal["payment", "setup", "none"]
    amount: int
    currency: str
    intent_id: str | None = None
    client_secret: str | None = None


async def prepare(db: Database, stripe: StripeRails, code: str, *, clock: Clock,
                  bus: Any = None) -> PaymentForm | service.Completed:
    """The intent the page's Payment Element confirms, made once per checkout and amount
    and reused on reload. When Stripe already reports it paid (a lost webhook), the
    checkout is completed now and its ``Completed`` returned instead."""
    claim = await service.check_checkout(db, code, clock=clock)
    if claim.total == 0:
        return PaymentForm("none", 0, claim.currency)
    stripe_customer = await payment_methods.ensure_stripe_customer(db, stripe, claim.customer,
                                                                   clock=clock)
    kind: Literal["payment", "setup"] = "payment" if claim.amount > 0 else "setup"
    previous = await stored_intent(stripe, claim.payment_reference)
    if previous is not None and previous.succeeded:
        done = await sync_intent(db, stripe, previous, clock=clock, bus=bus)
        if done is not None:
            return done
    if previous is not None and _reusable(previous, kind, claim):
        return PaymentForm(kind, claim.amount, claim.currency, previous.id, previous.client_secret)
    intent = await _new_intent(stripe, claim, stripe_customer, kind, replacing=previous)
    stored = await _store_reference(db, claim.checkout_id, intent.id,
                                    previous.id if previous else None, clock=clock)
    if stored != intent.id:  # another page view made one first: use theirs
        await _cancel(stripe, intent)
        theirs = await stored_intent(stripe, stored)
        if theirs is None or not _reusable(theirs, kind, claim):
            raise CheckoutUnavailable("this checkout is being paid in another window")
        intent = theirs
    elif previous is not None and previous.status in PAYABLE:
        await _cancel(stripe, previous)
    return PaymentForm(kind, claim.amount, claim.currency, intent.id, intent.client_secret)


def _reusable(intent: Intent, kind: str, claim: service.CheckoutClaim) -> bool:
    if intent.status not in PAYABLE:
        return False
    if kind == "setup":
        return intent.object == "setup_intent"
    return (intent.object == "payment_intent" and intent.amount == claim.amount
            and (intent.currency or "").upper() == claim.currency)


@dataclass(frozen=True)
class CheckoutState:
    status: str
    return_url: str
    payment_reference: str | None


async def checkout_state(db: Database, code: str) -> CheckoutState | None:
    """A checkout in any state (the page's return address runs after it completed too)."""
    async with db.read_session() as session:
        row = await session.scalar(select(CheckoutSession).where(CheckoutSession.code == code))
    if row is None:
        return None
    return CheckoutState(row.status, row.return_url, row.payment_reference)


async def stored_intent(stripe: StripeRails, reference: str | None) -> Intent | None:
    """The checkout's intent as Stripe has it now (None: none, or Stripe forgot it)."""
    if not reference:
        return None
    try:
        if reference.startswith("seti_"):
            return await stripe.retrieve_setup_intent(reference)
        return await stripe.retrieve_payment_intent(reference)
    except ProcessorError as exc:
        if exc.http_status == 404:
            return None
        raise payment_methods.processor_failure(exc) from exc


async def _new_intent(stripe: StripeRails, claim: service.CheckoutClaim, stripe_customer: str,
                      kind: str, *, replacing: Intent | None) -> Intent:
    metadata = {CHECKOUT_METADATA_KEY: claim.code}
    try:
        if kind == "setup":
            return await stripe.create_setup_intent(
                stripe_customer, metadata=metadata,
                idempotency_key=f"billgate:checkout:{claim.code}:setup:{_after(replacing)}")
        return await stripe.create_payment_intent(
            customer=stripe_customer, amount=claim.amount, currency=claim.currency,
            description=claim.description, metadata=metadata,
            idempotency_key=(f"billgate:checkout:{claim.code}:{claim.amount}:{claim.currency}:"
                             f"{_after(replacing)}"))
    except ProcessorError as exc:
        raise payment_methods.processor_failure(exc) from exc


def _after(previous: Intent | None) -> str:
    return previous.id if previous else "first"


async def _cancel(stripe: StripeRails, intent: Intent) -> None:
    if intent.object == "payment_intent" and intent.status in PAYABLE:
        await stripe.cancel_payment_intent(intent.id)


async def _store_reference(db: Database, checkout_id: int, new: str, old: str | None, *,
                           clock: Clock) -> str | None:
    """Remember the checkout's intent unless another one was stored meanwhile; returns the
    one that is stored now."""
    async def work(uow: UnitOfWork) -> str | None:
        uow.quiet()
        await uow.session.execute(
            update(CheckoutSession)
            .where(CheckoutSession.id == checkout_id, CheckoutSession.status == service.OPEN,
                   CheckoutSession.payment_reference.is_(None) if old is None
                   else CheckoutSession.payment_reference == old)
            .values(payment_reference=new))
        return await uow.session.scalar(select(CheckoutSession.payment_reference).where(
            CheckoutSession.id == checkout_id))

    return await service.on_checkout(db, checkout_id, work, clock=clock)


async def confirm(db: Database, stripe: StripeRails, code: str, payment_method: str, *,
                  clock: Clock, base_url: str, bus: Any = None) -> service.Completed:
    """Pay the checkout server-side with ``payment_method`` (a Stripe PaymentMethod id the
    caller collected). Claim the code, attach the card to the customer, confirm the intent,
    and record from what Stripe reports. A decline: ``PaymentFailed``, nothing granted, the
    code released, and a payment-failed email (once per failed attempt)."""
    claim = await service.claim_checkout(db, code, clock=clock)
    intent: Intent | None = None
    try:
        card = None
        if claim.total > 0:  # a card is needed now, or for the first charge after a trial
            stripe_customer = await payment_methods.ensure_stripe_customer(
                db, stripe, claim.customer, clock=clock)
            card = await stripe.attach_payment_method(payment_method, stripe_customer)
        if claim.amount > 0:
            assert card is not None
            previous = await stored_intent(stripe, claim.payment_reference)
            intent = previous if previous is not None and _reusable(previous, "payment", claim) \
                else await _new_intent(stripe, claim, stripe_customer, "payment", replacing=previous)
            if intent.id != claim.payment_reference:
                await _set_reference(db, claim.checkout_id, intent.id, clock=clock)
            intent = await stripe.confirm_payment_intent(
                intent.id, card.id, idempotency_key=f"billgate:checkout:{code}:confirm:{card.id}")
            if not intent.succeeded:
                raise _declined(intent)
    except ProcessorError as exc:
        await service.release_checkout(db, claim.checkout_id, clock=clock, failure=Failure(
            f"attach:{payment_method}", exc.message, base_url) if exc.declined else None)
        raise payment_methods.processor_failure(exc) from exc
    except _Declined as exc:
        await service.release_checkout(db, claim.checkout_id, clock=clock, failure=Failure(
            _attempt(exc.intent), exc.message, base_url)
            if exc.intent.status == "requires_payment_method" else None)
        raise PaymentFailed(exc.message) from None
    except Exception:
        await service.release_checkout(db, claim.checkout_id, clock=clock)
        raise
    return await _record(db, stripe, claim.checkout_id, payment=intent, source=intent,
                         paid=_paid(intent, claim.currency), card=card, clock=clock,
                         bus=bus, replace_default=claim.is_subscription)


class _Declined(Exception):
    def __init__(self, intent: Intent, message: str) -> None:
        super().__init__(message)
        self.intent = intent
        self.message = message


def _declined(intent: Intent) -> _Declined:
    if intent.status == "requires_action":
        return _Declined(intent, "the card needs the customer's authentication: pay on the "
                                 "checkout page")
    return _Declined(intent, intent.failure_message or f"the payment did not succeed ({intent.status})")


def _attempt(intent: Intent) -> str:
    return intent.latest_charge or f"{intent.id}:{intent.payment_method}"


async def _set_reference(db: Database, checkout_id: int, reference: str, *,
                         clock: Clock) -> None:
    async def work(uow: UnitOfWork) -> None:
        uow.quiet()
        await uow.session.execute(update(CheckoutSession).where(CheckoutSession.id == checkout_id)
                                  .values(payment_reference=reference))

    await service.on_checkout(db, checkout_id, work, clock=clock)


async def sync_intent(db: Database, stripe: StripeRails, intent: Intent, *, clock: Clock,
                      bus: Any = None, base_url: str = "") -> service.Completed | None:
    """Act on a checkout intent as Stripe reports it now (``intent`` must be a fresh read):
    a succeeded one completes its checkout (once), a declined one emails the customer
    (once per attempt). Anything else changes nothing. None when the intent is not a
    checkout's, belongs to another customer, or did not complete it."""
    code = intent.metadata.get(CHECKOUT_METADATA_KEY)
    if not code:
        return None
    async with db.read_session() as session:
        row = (await session.execute(
            select(CheckoutSession, Customer).join(Customer, Customer.id == CheckoutSession.customer_pk)
            .where(CheckoutSession.code == code))).one_or_none()
    if row is None:
        return None
    checkout, customer = row
    if intent.customer is None or intent.customer != customer.stripe_customer_id:
        log.warning("intent %s names checkout %s of another customer: ignored", intent.id, code)
        return None
    if intent.object == "payment_intent" and intent.status == "requires_payment_method" \
            and intent.failure_code:
        failure = Failure(_attempt(intent), intent.failure_message or "the payment was declined",
                          base_url)
        await service.on_checkout(db, checkout.id, lambda uow: _notify(uow, checkout.id, failure),
                                  clock=clock)
        return None
    if not intent.succeeded or checkout.status not in (service.OPEN, service.PROCESSING):
        return None
    if intent.object == "payment_intent" and await _refunded(stripe, intent):
        return None  # paid, but could not be recorded and was given back
    card = None
    if intent.payment_method:
        try:
            card = await stripe.attach_payment_method(intent.payment_method, intent.customer)
        except ProcessorError as exc:
            log.warning("could not keep the card of %s: %s", intent.id, exc.message)
    if intent.object == "setup_intent" and card is None:
        return None
    payment = intent if intent.object == "payment_intent" else None
    return await _record(db, stripe, checkout.id, payment=payment, source=intent,
                         paid=_paid(payment, checkout.currency), card=card, clock=clock,
                         bus=bus, replace_default=_is_subscription(checkout))


def _paid(payment: Intent | None, currency: str) -> tuple[int, str]:
    """What Stripe took: the PaymentIntent's amount, or nothing (a card saved for a trial)."""
    if payment is None:
        return 0, currency
    return payment.amount or 0, (payment.currency or "").upper()


def _is_subscription(checkout: CheckoutSession) -> bool:
    price = next((p for p in checkout.product.get("prices") or []
                  if p.get("priceId") == checkout.price_id), None)
    return bool(price and price.get("interval"))


async def _record(db: Database, stripe: StripeRails, checkout_id: int, *, payment: Intent | None,
                  source: Intent | None, paid: tuple[int, str], card: Card | None, clock: Clock,
                  bus: Any, replace_default: bool) -> service.Completed:
    """Record the completion from Stripe's result (``paid`` must still be what the checkout
    costs); a payment that cannot be recorded is refunded and the link reopens."""
    try:
        done = await service.record_checkout(
            db, checkout_id, reference=payment.id if payment else None, paid=paid,
            test_mode=False, clock=clock, bus=bus)
    except BillgateError as exc:
        if payment is not None and payment.succeeded and not await _refunded(stripe, payment):
            result = await stripe.refund(reference=payment.id, amount=payment.amount or 0,
                                         currency=payment.currency or "",
                                         idempotency_key=f"billgate:checkout-refund:{payment.id}")
            log.warning("checkout %s paid by %s could not be recorded (%s); refunded: %s",
                        checkout_id, payment.id, exc.message, result)
        await service.release_checkout(db, checkout_id, clock=clock)
        if payment is not None:
            await _forget_reference(db, checkout_id, payment.id, clock=clock)
        raise
    if card is not None and not done.already:
        await payment_methods.remember_card(db, done.purchase.customer_pk, card, source,
                                            replace=replace_default, clock=clock, bus=bus)
    return done


async def _refunded(stripe: StripeRails, payment: Intent) -> bool:
    """Whether the payment was refunded in full already (so it is never refunded twice,
    whichever of the webhook, the return address or a reload sees it next)."""
    if not payment.latest_charge:
        return False
    charge = await stripe.retrieve_charge(payment.latest_charge)  # ProcessorError: retry later
    return charge.amount_refunded >= charge.amount > 0


async def _forget_reference(db: Database, checkout_id: int, reference: str, *,
                            clock: Clock) -> None:
    """A refunded payment is no longer the checkout's: the page makes a new one."""
    async def work(uow: UnitOfWork) -> None:
        uow.quiet()
        await uow.session.execute(
            update(CheckoutSession)
            .where(CheckoutSession.id == checkout_id, CheckoutSession.status == service.OPEN,
                   CheckoutSession.payment_reference == reference)
            .values(payment_reference=None))

    await service.on_checkout(db, checkout_id, work, clock=clock)


async def _notify(uow: UnitOfWork, checkout_id: int, failure: Failure) -> bool:
    uow.quiet()  # an email is queued; nothing the customer owns changed
    return await service.notify_failure(uow, checkout_id, failure)
