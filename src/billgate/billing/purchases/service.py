"""Purchase operations: server grants, hosted checkout, and what a customer owns.

Each operation runs in one transaction and returns the item events to publish after it
commits (``publish`` callback), so a rolled-back purchase is never announced.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import customers, items, payment_settings
from billgate.billing.errors import CheckoutUnavailable, NewPurchasesBlocked, PaymentFailed
from billgate.billing.purchases import fulfil, repository, request, rules
from billgate.billing.purchases.request import PurchaseRequest
from billgate.billing.return_urls import check as check_return_url
from billgate.clock import Clock
from billgate.db.engine import Database
from billgate.db.models import (
    CheckoutSession,
    Customer,
    Invoice,
    Product,
    Purchase,
    Transaction,
)
from billgate.payments.rails import ChargeRequest, PaymentRails
from billgate.types import CustomerRef, CustomerType

CHECKOUT_TTL = timedelta(hours=24)
NO_PUBLISH: items.Publish | None = None


@dataclass(frozen=True)
class Completed:
    purchase: Purchase
    return_url: str | None = None


async def _publish(publish: items.Publish | None, events: list[items.ChangeEvent]) -> None:
    if publish is not None and events:
        await publish(events)


async def grant_product(db: Database, ref: CustomerRef, *, product_id: str | None,
                        inline: dict[str, Any] | None, price_id: str | None,
                        currency: str | None, quantity: int, clock: Clock,
                        publish: items.Publish | None = NO_PUBLISH) -> Purchase:
    """Give a product without checkout (server callers: promotions, support, admin).

    The same ownership rules as a purchase apply; nothing is charged. A grant of a product
    with a recurring price starts a subscription that renews through the normal schedule.
    """
    now = clock.now()
    async with db.session() as session, session.begin():
        customer = await customers.get_or_create(session, ref)
        events = await fulfil.ensure_included(session, customer, now=now)
        req = await request.resolve(session, customer=ref, product_id=product_id, inline=inline,
                                    price_id=price_id, currency=currency, quantity=quantity,
                                    by_server=True, needs_price=False)
        owned = await repository.list_owned_for_update(session, customer.id)
        rules.check(req, owned)
        purchase, started = await fulfil.start(session, customer, req, now=now, origin="grant",
                                               owned=owned)
        session.add(_transaction(customer, purchase, req, kind="grant", amount=0, test_mode=True,
                                 now=now))
    await _publish(publish, events + started)
    return purchase


async def create_checkout(db: Database, ref: CustomerRef, *, product_id: str | None,
                          inline: dict[str, Any] | None, price_id: str | None,
                          currency: str | None, quantity: int, return_url: str,
                          allowed_return_urls: Sequence[str], by_server: bool,
                          clock: Clock,
                          publish: items.Publish | None = NO_PUBLISH) -> CheckoutSession:
    """Open a single-use hosted checkout for the product, valid for 24 hours.

    Every rule is checked now and again on completion (the catalog or the customer may
    change in between), against what the customer owns including its include-by-default
    products (an add-on to the free plan is buyable by a customer seen for the first time).
    """
    check_return_url(return_url, allowed_return_urls)
    now = clock.now()
    async with db.session() as session, session.begin():
        await _check_not_blocked(session)
        customer = await customers.get_or_create(session, ref)
        events = await fulfil.ensure_included(session, customer, now=now)
        req = await request.resolve(session, customer=ref, product_id=product_id, inline=inline,
                                    price_id=price_id, currency=currency, quantity=quantity,
                                    by_server=by_server, needs_price=True)
        rules.check(req, await repository.list_owned(session, customer.id))
        checkout = CheckoutSession(
            code=secrets.token_urlsafe(24), customer_pk=customer.id, product_id=req.product_id,
            product=req.snapshot(), price_id=req.price["priceId"] if req.price else None,
            currency=req.currency or "USD", quantity=quantity, return_url=return_url,
            by_server=by_server, status="OPEN", expires_at=now + CHECKOUT_TTL, created_at=now)
        session.add(checkout)
    await _publish(publish, events)
    return checkout


async def _check_not_blocked(session: AsyncSession) -> None:
    if (await payment_settings.load(session)).block_new_purchases:
        raise NewPurchasesBlocked("new purchases are blocked in the payment settings")


async def get_checkout(db: Database, code: str, *, clock: Clock) -> tuple[CheckoutSession, Customer]:
    """An open checkout by its code; ``CheckoutUnavailable`` when unknown, used or expired."""
    async with db.read_session() as session:
        row = (await session.execute(
            select(CheckoutSession, Customer).join(Customer, Customer.id == CheckoutSession.customer_pk)
            .where(CheckoutSession.code == code))).one_or_none()
    if row is None or row[0].status != "OPEN" or row[0].expires_at <= clock.now():
        raise CheckoutUnavailable("this checkout link is unknown, already used or expired")
    return row[0], row[1]


async def complete_checkout(db: Database, code: str, *, rails: PaymentRails, clock: Clock,
                            test_mode: bool, payment_method: str | None = None,
                            publish: items.Publish | None = NO_PUBLISH) -> Completed:
    """Complete a checkout: claim the code (one conditional UPDATE, so concurrent
    completions grant once), re-check every rule, charge through the rails, and record the
    purchase, its transaction and its paid invoice — all in one transaction.
    """
    now = clock.now()
    async with db.session() as session, session.begin():
        claimed = (await session.execute(
            update(CheckoutSession)
            .where(CheckoutSession.code == code, CheckoutSession.status == "OPEN",
                   CheckoutSession.expires_at > now)
            .values(status="COMPLETED", completed_at=now)
            .returning(CheckoutSession.id))).scalar_one_or_none()
        if claimed is None:
            raise CheckoutUnavailable("this checkout link is unknown, already used or expired")
        checkout = await session.get(CheckoutSession, claimed)
        assert checkout is not None
        await _check_not_blocked(session)
        customer = await session.get(Customer, checkout.customer_pk)
        assert customer is not None
        events = await fulfil.ensure_included(session, customer, now=now)
        ref = CustomerRef(CustomerType(customer.type), customer.customer_id)
        req = await request.resolve(
            session, customer=ref, product_id=checkout.product_id,
            inline=request.inline_input(checkout.product) if checkout.product_id is None else None,
            price_id=checkout.price_id, currency=checkout.currency, quantity=checkout.quantity,
            by_server=checkout.by_server, needs_price=True)
        owned = await repository.list_owned_for_update(session, customer.id)
        rules.check(req, owned)
        trialing = req.is_subscription and bool(
            (req.price or {}).get("freeTrial") or req.product.free_trial)
        amount = 0 if trialing else req.total
        reference = None
        if amount > 0:
            reference = await _charge(rails, req, amount=amount, key=f"checkout:{checkout.code}",
                                      payment_method=None if test_mode else payment_method)
        purchase, started = await fulfil.start(session, customer, req, now=now,
                                               origin="checkout", owned=owned)
        checkout.purchase_id = purchase.id
        checkout.payment_reference = reference
        if not trialing:
            await _record_paid(session, customer, purchase, req, amount=amount,
                               test_mode=test_mode, reference=reference, now=now)
    await _publish(publish, events + started)
    return Completed(purchase=purchase, return_url=checkout.return_url)


async def _charge(rails: PaymentRails, req: PurchaseRequest, *, amount: int, key: str,
                  payment_method: str | None) -> str | None:
    assert req.currency is not None
    result = await rails.charge(ChargeRequest(
        customer=req.customer, amount=amount, currency=req.currency,
        description=req.product.display_name, idempotency_key=key, payment_method=payment_method))
    if not result.succeeded:
        raise PaymentFailed(result.failure_message or "the payment failed")
    return result.reference


def _transaction(customer: Customer, purchase: Purchase, req: PurchaseRequest, *, kind: str,
                 amount: int, test_mode: bool, now: datetime,
                 reference: str | None = None) -> Transaction:
    return Transaction(customer_pk=customer.id, purchase_id=purchase.id, kind=kind, amount=amount,
                       currency=req.currency, quantity=req.quantity, product=req.snapshot(),
                       test_mode=test_mode, payment_reference=reference, created_at=now)


async def _record_paid(session: AsyncSession, customer: Customer, purchase: Purchase,
                       req: PurchaseRequest, *, amount: int, test_mode: bool,
                       reference: str | None, now: datetime) -> None:
    """What was charged (a transaction) and its PAID invoice."""
    transaction = _transaction(customer, purchase, req, kind="purchase", amount=amount,
                               test_mode=test_mode, now=now, reference=reference)
    session.add(transaction)
    await session.flush()
    assert req.currency is not None
    session.add(Invoice(
        public_id=secrets.token_urlsafe(24), customer_pk=customer.id, purchase_id=purchase.id,
        transaction_id=transaction.id, status="PAID", currency=req.currency, amount_total=amount,
        lines=[{"kind": "plan", "description": req.product.display_name,
                "priceId": purchase.price_id, "quantity": req.quantity,
                "unitAmount": req.unit_amount, "amount": amount}],
        created_at=now, paid_at=now))


async def owned_purchases(db: Database, ref: CustomerRef, *, clock: Clock,
                          publish: items.Publish | None = NO_PUBLISH) -> list[Purchase]:
    """What the customer owns now, oldest first (include-by-default products included)."""
    async with db.read_session() as session:
        customer = await customers.find(session, ref)
        owned = list(await repository.list_owned(session, customer.id)) if customer else []
    if customer is None or await _missing_included(db, customer):
        now = clock.now()
        async with db.session() as session, session.begin():
            customer = await customers.get_or_create(session, ref)
            events = await fulfil.ensure_included(session, customer, now=now)
            owned = list(await repository.list_owned(session, customer.id))
        await _publish(publish, events)
    return owned


async def _missing_included(db: Database, customer: Customer) -> bool:
    async with db.read_session() as session:
        defaults = set(await session.scalars(
            select(Product.product_id).where(
                Product.included_by_default.is_(True), Product.archived_at.is_(None),
                Product.customer_type == customer.type)))
        if not defaults:
            return False
        have = set(await session.scalars(select(Purchase.product_id).where(
            Purchase.customer_pk == customer.id, Purchase.kind == repository.INCLUDED)))
    return not defaults <= have
