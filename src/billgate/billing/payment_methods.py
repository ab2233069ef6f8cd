"""Saved cards and the payment processor's customer (live mode: Stripe).

- A Stripe customer is created the first time a customer needs one (saving a card, a
  hosted checkout) and remembered in ``customers.stripe_customer_id``. Two first uses at
  once both ask Stripe with one idempotency key and settle on one id by a conditional
  UPDATE.
- A card is saved through a SetupIntent: ``create_setup_intent`` gives its client secret
  to Stripe Elements; once the browser confirmed it, ``set_default_from_setup_intent``
  checks that the intent succeeded and belongs to this customer, attaches its payment
  method (Stripe does not always do that on its own), makes it the default at Stripe and
  in billgate, and retries PAST_DUE subscriptions at once.
- The default card is stored as ``{id, brand, last4, expMonth, expYear}`` plus where it
  came from (``source``: the intent and its creation time), so a late or replayed webhook
  of an older intent never replaces a newer card.

Test mode never calls Stripe: these operations answer ``LIVE_MODE_ONLY`` there (save a
test card with ``setTestPaymentMethod``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from billgate.billing import customers, unit_of_work
from billgate.billing.context import Scope
from billgate.billing.subscriptions import lifecycle
from billgate.billing.unit_of_work import UnitOfWork
from billgate.clock import Clock, utcnow
from billgate.db.engine import Database
from billgate.db.models import Customer, Purchase
from billgate.errors import Forbidden, InvalidInput, LiveModeOnly, PaymentFailed
from billgate.payments.rails import PaymentRails
from billgate.payments.stripe_rails import (
    Card,
    Intent,
    ProcessorError,
    ResolveCustomer,
    StripeRails,
)
from billgate.types import CustomerRef, CustomerType

log = logging.getLogger(__name__)
SETUP_METADATA_KEY = "billgate_setup"


@dataclass(frozen=True)
class BillingInfo:
    has_customer: bool
    default_payment_method: dict[str, Any] | None


def require_stripe(rails: PaymentRails | None, *, test_mode: bool) -> StripeRails:
    """The Stripe rails for a live-mode operation: ``LIVE_MODE_ONLY`` in test mode,
    ``PAYMENT_FAILED`` when live mode has no Stripe configured."""
    if test_mode:
        raise LiveModeOnly("test mode never calls Stripe: save a test card with "
                           "setTestPaymentMethod, or turn test mode off")
    if not isinstance(rails, StripeRails):
        raise PaymentFailed("live mode is on but Stripe is not configured "
                            "(set BILLGATE_STRIPE_SECRET_KEY)")
    return rails


def processor_failure(exc: ProcessorError) -> PaymentFailed:
    return PaymentFailed(exc.message if exc.declined else
                         f"the payment processor refused the request: {exc.message}")


async def billing_info(db: Database, ref: CustomerRef) -> BillingInfo:
    """``hasCustomer``: the customer has a payment-processor customer (or, in test mode, a
    saved test card); ``defaultPaymentMethod``: the card renewals are charged to."""
    async with db.read_session() as session:
        row = await customers.find(session, ref)
    if row is None:
        return BillingInfo(False, None)
    card = public_card(row.default_payment_method)
    return BillingInfo(row.stripe_customer_id is not None or card is not None, card)


def public_card(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    if not stored or not stored.get("id"):
        return None
    return {key: stored.get(key) for key in ("id", "brand", "last4", "expMonth", "expYear")}


def customer_resolver(db: Database) -> ResolveCustomer:
    """For ``StripeRails``: the Stripe customer id of a billgate customer (None: none yet)."""

    async def resolve(ref: CustomerRef) -> str | None:
        async with db.read_session() as session:
            row = await customers.find(session, ref)
        return row.stripe_customer_id if row is not None else None

    return resolve


def _customer_key(row: Customer) -> str:
    """Stripe's idempotency key for creating this customer: the same for two racing first
    uses, different for every billgate deployment sharing a Stripe account."""
    seed = f"{row.type}:{row.customer_id}:{row.created_at.isoformat()}:{row.id}"
    return "billgate:customer:" + hashlib.sha256(seed.encode()).hexdigest()[:40]


async def ensure_stripe_customer(db: Database, stripe: StripeRails, ref: CustomerRef, *,
                                 clock: Clock | None = None, bus: Any = None) -> str:
    """The customer's Stripe customer id, creating (and remembering) it on first use."""
    scope = Scope(db, clock, bus)

    async def known(uow: UnitOfWork) -> tuple[int, str | None, str | None, str]:
        uow.quiet()  # the customer is created if new; nothing it owns changes
        row = uow.customer
        return row.id, row.stripe_customer_id, row.email, _customer_key(row)

    pk, existing, email, key = await unit_of_work.run(scope, ref, known)
    if existing:
        return existing
    try:
        created = await stripe.create_customer(ref, email=email, idempotency_key=key)
    except ProcessorError as exc:
        raise processor_failure(exc) from exc
    async def remember(uow: UnitOfWork) -> str | None:
        if uow.customer.stripe_customer_id is None:
            uow.customer.stripe_customer_id = created
        else:  # a racing first use remembered its own: nothing changed here
            uow.quiet()
        return uow.customer.stripe_customer_id

    current = await unit_of_work.run(scope, pk, remember)
    assert current is not None
    if current != created:
        log.warning("two Stripe customers were created for %s; keeping %s, %s is unused",
                    ref, current, created)
    return current


async def create_setup_intent(db: Database, stripe: StripeRails, ref: CustomerRef, *,
                              clock: Clock | None = None, bus: Any = None) -> Intent:
    """A SetupIntent that saves a card of this customer for off-session charges."""
    customer = await ensure_stripe_customer(db, stripe, ref, clock=clock, bus=bus)
    try:
        return await stripe.create_setup_intent(
            customer, metadata={SETUP_METADATA_KEY: f"{ref.type.value}:{ref.customer_id}"})
    except ProcessorError as exc:
        raise processor_failure(exc) from exc


async def stripe_account_id(stripe: StripeRails) -> str:
    """The Stripe account cards are saved to (read once per process, ``StripeRails``)."""
    try:
        return await stripe.account_id()
    except ProcessorError as exc:
        raise processor_failure(exc) from exc


async def set_default_from_setup_intent(db: Database, stripe: StripeRails, ref: CustomerRef,
                                        setup_intent_id: str, *, clock: Clock | None = None,
                                        bus: Any = None) -> dict[str, Any]:
    """Make the card of a succeeded SetupIntent of this customer its default payment
    method (at Stripe and in billgate) and return it. The intent is read from Stripe, never
    taken from the caller: it must have succeeded and belong to this customer."""
    async with db.read_session() as session:
        row = await customers.find(session, ref)
    stripe_customer = row.stripe_customer_id if row is not None else None
    try:
        intent = await stripe.retrieve_setup_intent(setup_intent_id)
    except ProcessorError as exc:
        if exc.http_status == 404:
            raise InvalidInput(f"no setup intent {setup_intent_id!r}",
                               field=["setupIntentId"]) from None
        raise processor_failure(exc) from exc
    if row is None or stripe_customer is None or intent.customer != stripe_customer:
        raise Forbidden(f"setup intent {setup_intent_id!r} does not belong to {ref}",
                        field=["setupIntentId"])
    card = await _card_of(stripe, intent, stripe_customer)
    await _store_default(Scope(db, clock, bus), row.id, card, intent, only_if_newer=False)
    return public_card(card.as_json()) or {}


async def _card_of(stripe: StripeRails, intent: Intent, stripe_customer: str) -> Card:
    if not intent.succeeded or not intent.payment_method:
        raise InvalidInput(f"setup intent {intent.id!r} has not succeeded (status {intent.status})",
                           field=["setupIntentId"])
    try:
        card = await stripe.attach_payment_method(intent.payment_method, stripe_customer)
        await stripe.set_default_payment_method(stripe_customer, card.id)
    except ProcessorError as exc:
        if exc.code == "payment_method_not_owned":
            raise Forbidden("the setup intent's payment method belongs to another customer",
                            field=["setupIntentId"]) from None
        raise processor_failure(exc) from exc
    return card


async def _store_default(scope: Scope, customer_pk: int, card: Card, intent: Intent | None, *,
                         only_if_newer: bool) -> bool:
    """Save ``card`` as the default; with ``only_if_newer``, only when the current default
    did not come from a newer intent (a late webhook never regresses the card). Without an
    intent (a card attached directly), the card counts as made now."""
    created = intent.created if intent else int(utcnow().timestamp())
    source: dict[str, Any] = {"type": intent.object if intent else "payment_method",
                              "id": intent.id if intent else card.id, "created": created}
    stored = {**card.as_json(), "source": source}

    async def work(uow: UnitOfWork) -> bool:
        row = uow.customer  # locked by the unit of work
        current = row.default_payment_method or {}
        if only_if_newer and current:
            previous = current.get("source") or {}
            if current.get("id") == card.id or int(previous.get("created") or 0) >= created:
                uow.quiet()
                return False
        row.default_payment_method = stored
        return True

    return await unit_of_work.run(scope, customer_pk, work)


async def remember_card(db: Database, customer_pk: int, card: Card, intent: Intent | None, *,
                        replace: bool, clock: Clock | None = None, bus: Any = None) -> bool:
    """After a paid checkout: keep the card as the default when the customer has none, or
    (``replace``, a subscription) when it is newer than the current one."""
    async with db.read_session() as session:
        row = await session.get(Customer, customer_pk)
    if row is None or (row.default_payment_method and not replace):
        return False
    return await _store_default(Scope(db, clock, bus), customer_pk, card, intent,
                                only_if_newer=True)


async def default_from_webhook(db: Database, stripe: StripeRails, intent: Intent, *,
                               clock: Clock | None = None, bus: Any = None) -> int | None:
    """``setup_intent.succeeded``: the customer whose Stripe customer owns the intent gets
    its card as default, unless a newer card is already there. Returns the customer's pk
    when the default changed."""
    if not intent.customer or not intent.succeeded or not intent.metadata.get(SETUP_METADATA_KEY):
        return None
    async with db.read_session() as session:
        row = await session.scalar(select(Customer).where(
            Customer.stripe_customer_id == intent.customer))
    if row is None:
        return None
    expected = f"{row.type}:{row.customer_id}"
    if intent.metadata.get(SETUP_METADATA_KEY) != expected:
        log.warning("setup intent %s names %s but belongs to %s: ignored", intent.id,
                    intent.metadata.get(SETUP_METADATA_KEY), expected)
        return None
    card = await _card_of(stripe, intent, intent.customer)
    changed = await _store_default(Scope(db, clock, bus), row.id, card, intent, only_if_newer=True)
    return row.id if changed else None


async def set_test_card(billing: lifecycle.Billing, ref: CustomerRef, number: str, *,
                        now: datetime) -> None:
    """Test mode: a test card becomes the customer's default payment method, and every
    PAST_DUE subscription is retried with it at once."""
    async def save(uow: UnitOfWork) -> int:
        uow.customer.default_payment_method = {
            "id": f"pm_card_{number}", "brand": "visa" if number.startswith("4") else "card",
            "last4": number[-4:], "expMonth": 12, "expYear": now.year + 3}
        return uow.customer.id

    pk = await unit_of_work.run(billing, ref, save, now=now)
    await retry_past_due(billing, pk, now=now)


async def retry_past_due(billing: lifecycle.Billing, customer_pk: int, *, now: datetime) -> int:
    """A new default card retries every PAST_DUE subscription of the customer at once."""
    async def due_now(uow: UnitOfWork) -> list[int]:
        subs = (await uow.session.scalars(select(Purchase).where(
            Purchase.customer_pk == customer_pk, Purchase.status == "PAST_DUE"))).all()
        for sub in subs:
            sub.next_action_at = uow.now
        return [sub.id for sub in subs]

    ids = await unit_of_work.run(billing, customer_pk, due_now, now=now)
    for purchase_id in ids:
        await lifecycle.process_due(billing, purchase_id, now=now)
    return len(ids)


async def customer_pk(db: Database, ref: CustomerRef) -> int | None:
    async with db.read_session() as session:
        row = await customers.find(session, ref)
    return row.id if row is not None else None


def ref_of(row: Customer) -> CustomerRef:
    return CustomerRef(CustomerType(row.type), row.customer_id)
