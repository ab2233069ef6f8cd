"""Purchase operations: server grants, hosted checkout, and what a customer owns.

Each write is a unit of work on the customer (``billing/unit_of_work.py``): the customer's
lock first, the rules checked again under it, and what changed announced once after the
commit (``bus``: where; None announces nothing), so a rolled-back purchase is never
announced.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import (
    customers,
    invoices,
    locks,
    payment_settings,
    promo_codes,
    unit_of_work,
    webhook_events,
)
from billgate.billing.context import Scope
from billgate.billing.purchases import checkout_switch, fulfil, repository, request, rules
from billgate.billing.purchases.request import PurchaseRequest
from billgate.billing.return_urls import check as check_return_url
from billgate.billing.subscriptions import amounts, operations
from billgate.billing.unit_of_work import UnitOfWork
from billgate.clock import Clock, utcnow
from billgate.db.engine import Database
from billgate.db.models import (
    CheckoutSession,
    Customer,
    Invoice,
    PromoCode,
    PromoRedemption,
    Purchase,
    Transaction,
)
from billgate.errors import (
    BillgateError,
    CheckoutUnavailable,
    NewPurchasesBlocked,
    PaymentFailed,
    PriceNotFound,
    ProductNotFound,
)
from billgate.money import from_minor
from billgate.notifications import outbox
from billgate.payments.rails import ChargeRequest, PaymentRails
from billgate.types import CustomerRef, CustomerType

T = TypeVar("T")
CHECKOUT_TTL = timedelta(hours=24)
# A completion holds its checkout this long (real time) while it charges.
CHECKOUT_LEASE = timedelta(minutes=5)
OPEN, PROCESSING = "OPEN", "PROCESSING"
# The email a customer gets when a checkout payment is declined (nothing was bought).
CHECKOUT_PAYMENT_FAILED = "checkout_payment_failed"


@dataclass(frozen=True)
class Completed:
    purchase: Purchase
    # Who bought: whose live state (``customerChanged``) to announce after the commit.
    customer: CustomerRef
    return_url: str | None = None
    already: bool = False  # recorded before (by a concurrent confirmation or a webhook)


@dataclass(frozen=True)
class CheckoutClaim:
    """An open checkout checked against every rule: what completing it charges now."""

    checkout_id: int
    code: str
    customer: CustomerRef
    customer_pk: int
    amount: int  # due now: 0 during a free trial
    total: int  # the price times the quantity (what a trial's first charge will be)
    currency: str
    description: str
    is_subscription: bool
    payment_reference: str | None  # the processor payment made for this checkout, if any
    return_url: str
    # A plan change (``checkout_switch``): the replaced plan's name and its unused time's
    # credit, which ``amount`` already takes off.
    replaces: str | None = None
    credit: int = 0
    # The tax ``amount`` includes (``invoices.tax_due``) and its line's text ("VAT 20%").
    tax: int = 0
    tax_label: str | None = None
    # A promo code's discount (``promo_codes``), which ``amount`` already takes off.
    discount: int = 0
    discount_label: str | None = None


async def grant_product(db: Database, ref: CustomerRef, *, product_id: str | None,
                        inline: dict[str, Any] | None, price_id: str | None,
                        currency: str | None, quantity: int, clock: Clock,
                        bus: Any = None) -> Purchase:
    """Give a product without checkout (server callers: promotions, support, admin).

    The same ownership rules as a purchase apply; nothing is charged. A grant of a product
    with a recurring price starts a subscription that renews through the normal schedule.
    """
    async def work(uow: UnitOfWork) -> Purchase:
        session, customer, now = uow.session, uow.customer, uow.now
        req = await request.resolve(session, customer=ref, product_id=product_id, inline=inline,
                                    price_id=price_id, currency=currency, quantity=quantity,
                                    by_server=True, needs_price=False)
        owned = await locks.owned_purchases(session, customer.id)
        rules.check(req, owned)
        purchase, started = await fulfil.start(session, customer, req, now=now,
                                               origin=amounts.GRANT, owned=owned)
        uow.events += started
        session.add(_transaction(customer, purchase, req, kind="grant", amount=0, test_mode=True,
                                 now=now))
        await webhook_events.product_granted(session, customer, purchase, now=now)
        return purchase

    return await unit_of_work.run(Scope(db, clock, bus), ref, work)


async def create_checkout(db: Database, ref: CustomerRef, *, product_id: str | None,
                          inline: dict[str, Any] | None, price_id: str | None,
                          currency: str | None, quantity: int, return_url: str | None,
                          allowed_return_urls: Sequence[str], by_server: bool,
                          clock: Clock, cancel_url: str | None = None,
                          bus: Any = None, promo_code: str | None = None) -> CheckoutSession:
    """Open a single-use hosted checkout for the product, valid for 24 hours.

    Every rule is checked now and again on completion (the catalog or the customer may
    change in between), against what the customer owns including its include-by-default
    products (an add-on to the free plan is buyable by a customer seen for the first time).
    Without ``return_url`` (REST callers may leave it out, as Stack Auth allows) the hosted
    page ends on billgate's own "Payment complete" page; one that is given must be allowed.
    A ``promo_code`` is checked now (``PromoCodeInvalid`` says why it cannot be used) and
    counted only when the checkout is paid (``promo_codes``).
    """
    # Stored as browsers will read them (``return_urls.check``), so the page renders and
    # redirects to exactly what was checked.
    if return_url is not None:
        return_url = check_return_url(return_url, allowed_return_urls)
    if cancel_url is not None:
        cancel_url = check_return_url(cancel_url, allowed_return_urls, field="cancelUrl")
    async def work(uow: UnitOfWork) -> CheckoutSession:
        session, customer, now = uow.session, uow.customer, uow.now
        uow.quiet()  # an open link changes nothing the customer owns
        await _check_not_blocked(session)
        req = await request.resolve(session, customer=ref, product_id=product_id, inline=inline,
                                    price_id=price_id, currency=currency, quantity=quantity,
                                    by_server=by_server, needs_price=True)
        rules.check(req, await repository.list_owned(session, customer.id))
        checkout = CheckoutSession(
            code=secrets.token_urlsafe(24), customer_pk=customer.id, product_id=req.product_id,
            product=req.snapshot(), price_id=req.price["priceId"] if req.price else None,
            currency=req.currency or "USD", quantity=quantity, return_url=return_url or "",
            cancel_url=cancel_url, by_server=by_server, status="OPEN", expires_at=now + CHECKOUT_TTL,
            created_at=now)
        session.add(checkout)
        if promo_code is not None:
            await session.flush()
            await promo_codes.attach(session, checkout, customer, promo_code, now=now)
        return checkout

    return await unit_of_work.run(Scope(db, clock, bus), ref, work)


def checkout_url(base_url: str, checkout: CheckoutSession) -> str:
    """The absolute link to a checkout's hosted page (``web/checkout.py``)."""
    return f"{base_url}/checkout/{checkout.code}"


async def _check_not_blocked(session: AsyncSession) -> None:
    if (await payment_settings.load(session)).block_new_purchases:
        raise NewPurchasesBlocked("new purchases are blocked in the payment settings")


async def set_promo_code(db: Database, code: str, promo_code: str | None, *,
                         clock: Clock) -> None:
    """The hosted page's "Promo code" field: put the code on the open checkout (checked now,
    ``PromoCodeInvalid`` says why not; counted only when paid), replacing the one it had;
    an empty field takes the code off. A checkout being paid (PROCESSING) is left alone."""
    async with db.read_session() as session:
        checkout_id = await session.scalar(select(CheckoutSession.id)
                                           .where(CheckoutSession.code == code))
    if checkout_id is None:
        raise CheckoutUnavailable("this checkout link is unknown, already used or expired")

    async def work(uow: UnitOfWork) -> None:
        uow.quiet()  # nothing the customer owns changes
        checkout = await locks.checkout(uow.session, checkout_id)
        if checkout is None or checkout.status != OPEN or checkout.expires_at <= uow.now:
            raise CheckoutUnavailable("this checkout link is unknown, already used or expired")
        await promo_codes.attach(uow.session, checkout, uow.customer, promo_code, now=uow.now)

    await on_checkout(db, checkout_id, work, clock=clock)


async def promo_code_of(db: Database, code: str) -> str | None:
    """The code on a checkout (what the page's field shows), or None."""
    async with db.read_session() as session:
        return await session.scalar(
            select(PromoCode.code)
            .join(PromoRedemption, PromoRedemption.promo_code_id == PromoCode.id)
            .join(CheckoutSession, CheckoutSession.id == PromoRedemption.checkout_id)
            .where(CheckoutSession.code == code))


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
                            bus: Any = None, base_url: str = "") -> Completed:
    """Complete a checkout by charging through ``rails`` in three steps, so no database
    transaction waits on the processor and concurrent completions grant once:

    1. claim the code (one conditional UPDATE, OPEN -> PROCESSING) and re-check every rule;
    2. charge (outside any transaction; the key ``checkout:<code>`` deduplicates it);
    3. record the purchase, its transaction and its paid invoice (PROCESSING -> COMPLETED).

    A failed charge releases the code back to OPEN, records nothing and queues the
    payment-failed email, as a declined live checkout does; a rule that fails at step 3
    (the customer changed meanwhile) refunds the charge and releases the code. Test mode
    charges nothing real: the test rails decide by the test card given, and succeed
    without one.
    """
    claim = await claim_checkout(db, code, clock=clock)
    reference = None
    failure: str | None = None
    try:
        if claim.amount > 0:
            result = await rails.charge(ChargeRequest(
                customer=claim.customer, amount=claim.amount, currency=claim.currency,
                description=claim.description, idempotency_key=f"checkout:{code}",
                payment_method=payment_method))
            if not result.succeeded:
                failure = result.failure_message or "the payment failed"
                raise PaymentFailed(failure)
            reference = result.reference
    except Exception:
        # The code is given back and, for a decline, the payment-failed email of this
        # attempt queued, in one unit of work.
        declined = None if failure is None else Failure(
            attempt=f"charge:{secrets.token_hex(8)}", reason=failure, base_url=base_url)
        await release_checkout(db, claim.checkout_id, clock=clock, failure=declined)
        raise
    try:
        return await record_checkout(db, claim.checkout_id, reference=reference, paid=None,
                                     test_mode=test_mode, clock=clock, bus=bus)
    except BillgateError:
        if claim.amount > 0:
            await rails.refund(reference=reference, amount=claim.amount, currency=claim.currency,
                               idempotency_key=f"checkout:{code}:refund")
        await release_checkout(db, claim.checkout_id, clock=clock)
        raise


@dataclass(frozen=True)
class Failure:
    """A declined attempt to pay a checkout: its payment-failed email is queued once per
    ``attempt`` (the server-side confirmation and Stripe's webhook may both report it)."""

    attempt: str
    reason: str
    base_url: str


async def on_checkout(db: Database, checkout_id: int, work: unit_of_work.Work[T], *,
                      clock: Clock | None, bus: Any = None) -> T:
    """Run ``work`` as a unit of work on the checkout's customer (every write to a checkout
    takes its customer's lock first, like every other billing change)."""
    async with db.read_session() as session:
        customer_pk = await session.scalar(select(CheckoutSession.customer_pk)
                                           .where(CheckoutSession.id == checkout_id))
    if customer_pk is None:
        raise CheckoutUnavailable("this checkout link is unknown, already used or expired")
    return await unit_of_work.run(Scope(db, clock, bus), customer_pk, work)


async def notify_failure(uow: UnitOfWork, checkout_id: int, failure: Failure) -> bool:
    """Queue the payment-failed email of one failed attempt, once (in ``uow``)."""
    session = uow.session
    changed = await session.execute(
        update(CheckoutSession)
        .where(CheckoutSession.id == checkout_id,
               or_(CheckoutSession.failure_notified_ref.is_(None),
                   CheckoutSession.failure_notified_ref != failure.attempt))
        .values(failure_notified_ref=failure.attempt)
        .execution_options(synchronize_session=False))
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    checkout = await session.get(CheckoutSession, checkout_id, populate_existing=True)
    assert checkout is not None
    customer = uow.customer
    price = next((p for p in checkout.product.get("prices") or []
                  if p.get("priceId") == checkout.price_id), None)
    amount = int(price["amounts"].get(checkout.currency, 0)) * checkout.quantity if price else 0
    outbox.enqueue(session, customer, CHECKOUT_PAYMENT_FAILED, {
        "customer": customer.customer_id, "product": checkout.product.get("displayName"),
        "amount": from_minor(amount, checkout.currency), "currency": checkout.currency,
        "reason": failure.reason, "url": f"{failure.base_url}/checkout/{checkout.code}",
        "lines": [{"description": checkout.product.get("displayName"), "amount": amount}],
    }, now=uow.now)
    return True


async def check_checkout(db: Database, code: str, *, clock: Clock) -> CheckoutClaim:
    """What completing the open checkout would charge now, with every rule checked
    (nothing written, nothing claimed): for pages that prepare a payment."""
    now = clock.now()
    async with db.read_session() as session:
        checkout = await session.scalar(select(CheckoutSession).where(
            CheckoutSession.code == code, CheckoutSession.status == OPEN,
            CheckoutSession.expires_at > now))
        if checkout is None:
            raise CheckoutUnavailable("this checkout link is unknown, already used or expired")
        await _check_not_blocked(session)
        return await _evaluate(session, checkout, now=now, lock=False)


async def claim_checkout(db: Database, code: str, *, clock: Clock) -> CheckoutClaim:
    """Take the code for one completion: one conditional UPDATE (OPEN -> PROCESSING with a
    lease, or a PROCESSING one whose lease ran out), then every rule again in the same
    transaction, so a rule that fails leaves the link as it was."""
    async with db.read_session() as session:
        customer_pk = await session.scalar(select(CheckoutSession.customer_pk)
                                           .where(CheckoutSession.code == code))
    if customer_pk is None:
        raise CheckoutUnavailable("this checkout link is unknown, already used or expired")

    async def work(uow: UnitOfWork) -> CheckoutClaim:
        session, now, real = uow.session, uow.now, utcnow()
        uow.quiet()  # a claim changes nothing the customer sees
        claimed = (await session.execute(
            update(CheckoutSession)
            .where(CheckoutSession.code == code, CheckoutSession.expires_at > now,
                   (CheckoutSession.status == OPEN)
                   | ((CheckoutSession.status == PROCESSING) & (CheckoutSession.lease_until < real)))
            .values(status=PROCESSING, lease_until=real + CHECKOUT_LEASE)
            .returning(CheckoutSession.id))).scalar_one_or_none()
        if claimed is None:
            raise CheckoutUnavailable("this checkout link is unknown, already used or expired")
        checkout = await session.get(CheckoutSession, claimed, populate_existing=True)
        assert checkout is not None
        await _check_not_blocked(session)
        return await _evaluate(session, checkout, now=now, lock=True,
                               lease_until=real + CHECKOUT_LEASE)

    return await unit_of_work.run(Scope(db, clock), customer_pk, work)


async def release_checkout(db: Database, checkout_id: int, *, clock: Clock | None,
                           failure: Failure | None = None) -> None:
    """Give a claimed (PROCESSING) checkout back: OPEN again, usable again; with
    ``failure``, queue that attempt's payment-failed email in the same unit of work."""
    async def work(uow: UnitOfWork) -> None:
        uow.quiet()
        await uow.session.execute(
            update(CheckoutSession)
            .where(CheckoutSession.id == checkout_id, CheckoutSession.status == PROCESSING)
            .values(status=OPEN, lease_until=None))
        await promo_codes.release(uow.session, checkout_id)  # its reservation is voided
        if failure is not None:
            await notify_failure(uow, checkout_id, failure)

    await on_checkout(db, checkout_id, work, clock=clock)


async def record_checkout(db: Database, checkout_id: int, *, reference: str | None,
                          paid: tuple[int, str] | None, test_mode: bool, clock: Clock,
                          bus: Any = None) -> Completed:
    """Record a paid (or free) completion: the checkout becomes COMPLETED by one
    conditional UPDATE (from OPEN or PROCESSING), in the transaction that starts the
    purchase and writes its transaction and PAID invoice. Whoever records first wins; a
    second recorder (the server-side confirmation and Stripe's webhook, say) gets the same
    purchase back with ``already=True``.

    ``paid``: the (amount, currency) the processor reports as paid; when it differs from
    what the checkout costs now, nothing is recorded (``PaymentFailed``; the caller refunds).
    Expiry is not checked: money that was taken is honoured.
    """
    async def work(uow: UnitOfWork) -> Completed:
        session, customer, now = uow.session, uow.customer, uow.now
        uow.test_mode = test_mode
        taken = (await session.execute(
            update(CheckoutSession)
            .where(CheckoutSession.id == checkout_id,
                   CheckoutSession.status.in_((OPEN, PROCESSING)))
            .values(status="COMPLETED", completed_at=now, lease_until=None)
            .returning(CheckoutSession.id))).scalar_one_or_none()
        checkout = await session.get(CheckoutSession, checkout_id, populate_existing=True)
        if taken is None:
            uow.quiet()
            if checkout is not None and checkout.status == "COMPLETED" and checkout.purchase_id:
                done = await session.get(Purchase, checkout.purchase_id)
                assert done is not None
                return Completed(purchase=done, return_url=checkout.return_url, already=True,
                                 customer=unit_of_work.ref_of(customer))
            raise CheckoutUnavailable("this checkout link is unknown, already used or expired")
        assert checkout is not None
        uow.events += await fulfil.ensure_included(session, customer, now=now)
        req, owned = await _request_for(session, checkout, customer, lock=True)
        rules.check(req, owned)
        switch = await checkout_switch.plan(session, req, owned, by_server=checkout.by_server,
                                            now=now)
        trialing = switch is None and _trialing(req)
        discount = await _discount(session, checkout, customer, req, switch, now=now,
                                   stage="apply")
        amount = switch.due_now if switch else 0 if trialing else req.total - _off(discount)
        if switch is None and amount > 0:  # the tax the checkout showed (``_evaluate``)
            amount += (await invoices.tax_due(session, customer, amount))[0]
        if paid is not None and (paid[0] != amount or paid[1].upper() != (req.currency or "")):
            raise PaymentFailed(
                f"the payment ({paid[0]} {paid[1].upper()}) does not match the checkout's total "
                f"({amount} {req.currency}) any more")
        if switch is not None:  # recorded as switchSubscription records it
            purchase = await operations.apply_switch(uow, switch.old, req, switch.amounts,
                                                     reference=reference, test_mode=test_mode)
        else:
            purchase, started = await fulfil.start(session, customer, req, now=now,
                                                   origin="checkout", owned=owned)
            uow.events += started
        if discount is not None:
            await promo_codes.mark_applied(session, discount, customer, purchase, now=now,
                                           test_mode=test_mode)
        checkout.purchase_id = purchase.id
        checkout.payment_reference = reference or checkout.payment_reference
        if switch is not None:  # the switch recorded its own events (``plan_switched``)
            await webhook_events.checkout_completed(session, customer, checkout, purchase,
                                                    now=now, test_mode=test_mode)
        else:
            invoice = None if trialing else await record_paid(
                session, customer, purchase, req, amount=amount, test_mode=test_mode,
                reference=reference, now=now, discount=discount)
            await webhook_events.checkout_recorded(session, customer, checkout, purchase,
                                                   invoice, now=now, test_mode=test_mode)
        return Completed(purchase=purchase, return_url=checkout.return_url,
                         customer=unit_of_work.ref_of(customer))

    return await on_checkout(db, checkout_id, work, clock=clock, bus=bus)


def _trialing(req: PurchaseRequest) -> bool:
    return req.is_subscription and bool((req.price or {}).get("freeTrial") or req.product.free_trial)


async def _request_for(session: AsyncSession, checkout: CheckoutSession, customer: Customer, *,
                       lock: bool) -> tuple[PurchaseRequest, Sequence[Purchase]]:
    ref = CustomerRef(CustomerType(customer.type), customer.customer_id)
    try:
        current = await request.resolve(
            session, customer=ref, product_id=checkout.product_id,
            inline=request.inline_input(checkout.product) if checkout.product_id is None else None,
            price_id=checkout.price_id, currency=checkout.currency, quantity=checkout.quantity,
            by_server=checkout.by_server, needs_price=True)
    except (ProductNotFound, PriceNotFound) as exc:
        raise type(exc)(
            f"{checkout.product.get('displayName') or 'this product'} is no longer sold at the "
            "price this page showed; nothing was charged", field=exc.field) from None
    # The page's snapshot is the deal: what it showed is charged and granted.
    req = request.from_snapshot(current, checkout.product)
    owned = await (locks.owned_purchases(session, customer.id) if lock
                   else repository.list_owned(session, customer.id))
    return req, owned


async def _discount(session: AsyncSession, checkout: CheckoutSession, customer: Customer,
                    req: PurchaseRequest, switch: object, *, now: datetime, stage: str,
                    lease_until: datetime | None = None) -> promo_codes.Discount | None:
    """The checkout's promo code at ``stage`` (``promo_codes.of_checkout``); a plan change
    takes none."""
    if switch is not None:
        await promo_codes.refuse_on_switch(session, checkout)
        return None
    return await promo_codes.of_checkout(session, checkout, customer, subtotal=req.total,
                                         now=now, stage=stage, lease_until=lease_until)


def _off(discount: promo_codes.Discount | None) -> int:
    return discount.amount if discount is not None else 0


async def _evaluate(session: AsyncSession, checkout: CheckoutSession, *, now: datetime,
                    lock: bool, lease_until: datetime | None = None) -> CheckoutClaim:
    customer = await session.get(Customer, checkout.customer_pk)
    assert customer is not None
    if lock:  # a write transaction: the included products count for add-ons
        await fulfil.ensure_included(session, customer, now=now)
    req, owned = await _request_for(session, checkout, customer, lock=lock)
    rules.check(req, owned)
    switch = await checkout_switch.plan(session, req, owned, by_server=checkout.by_server,
                                        now=now)
    # A claim reserves the code's redemption until its lease ends; a page view checks it.
    discount = await _discount(session, checkout, customer, req, switch, now=now,
                               stage="reserve" if lock else "check", lease_until=lease_until)
    if switch is not None:  # ``due_now`` includes the switch's tax (``operations.with_tax``)
        amount, tax, tax_label = switch.due_now, switch.amounts.tax, switch.amounts.tax_label
    else:
        amount = 0 if _trialing(req) else req.total - _off(discount)
        tax, tax_label = (0, None) if amount == 0 else await invoices.tax_due(
            session, customer, amount)
        amount += tax
    return CheckoutClaim(
        checkout_id=checkout.id, code=checkout.code, customer=req.customer,
        customer_pk=customer.id, amount=amount, total=req.total,
        currency=req.currency or checkout.currency, description=req.product.display_name,
        is_subscription=req.is_subscription, payment_reference=checkout.payment_reference,
        return_url=checkout.return_url,
        replaces=switch.old.product["displayName"] if switch else None,
        credit=switch.amounts.credit if switch else 0, tax=tax, tax_label=tax_label,
        discount=0 if _trialing(req) else _off(discount),
        discount_label=discount.description if discount is not None else None)


def _transaction(customer: Customer, purchase: Purchase, req: PurchaseRequest, *, kind: str,
                 amount: int, test_mode: bool, now: datetime,
                 reference: str | None = None) -> Transaction:
    return Transaction(customer_pk=customer.id, purchase_id=purchase.id, kind=kind, amount=amount,
                       currency=req.currency, quantity=req.quantity, product=req.snapshot(),
                       test_mode=test_mode, payment_reference=reference, created_at=now)


async def record_paid(session: AsyncSession, customer: Customer, purchase: Purchase,
                       req: PurchaseRequest, *, amount: int, test_mode: bool,
                       reference: str | None, now: datetime,
                       discount: promo_codes.Discount | None = None) -> Invoice:
    """What was charged (a transaction), its PAID invoice and its receipt (checkouts and
    auto top-ups): the plan line, the promo code's discount line, then the tax on what is
    left (``amount`` includes it)."""
    transaction = _transaction(customer, purchase, req, kind="purchase", amount=amount,
                               test_mode=test_mode, now=now, reference=reference)
    session.add(transaction)
    await session.flush()
    assert req.currency is not None
    invoice = Invoice(
        public_id=secrets.token_urlsafe(24), customer_pk=customer.id, purchase_id=purchase.id,
        transaction_id=transaction.id, status="PAID", currency=req.currency,
        amount_total=req.total - _off(discount),
        lines=[{"kind": "plan", "description": req.product.display_name,
                "priceId": purchase.price_id, "quantity": req.quantity,
                "unitAmount": req.unit_amount, "amount": req.total,
                **invoices.period_of(purchase)},
               *([promo_codes.line(discount.code, discount.redemption, discount.amount,
                                   discount.currency)] if discount and discount.amount else [])],
        created_at=now, paid_at=now)
    await invoices.add_tax_for(session, invoice, customer)  # ``amount`` includes it
    session.add(invoice)
    await invoices.issue(session, invoice, customer=customer, now=now)
    if amount > 0:  # a receipt for every paid invoice
        outbox.enqueue(session, customer, outbox.RECEIPT,
                       invoices.receipt_context(customer, invoice), now=now)
    return invoice


async def ensure_customer(db: Database, ref: CustomerRef, *, clock: Clock,
                          bus: Any = None) -> int:
    """The customer's primary key. A customer exists from its first reference with its
    include-by-default products; after a catalog change they are checked once more. One
    statement when nothing is missing (the customer's ``included_version`` matches the
    catalog's); otherwise one write transaction that creates and grants what is missing."""
    customers.validate_ref(ref)
    if db.direct is not None:
        pk = await customers.ensured_pk(db.direct, ref)
        if pk is not None:
            return pk
    async with db.read_session() as session:
        row = (await session.execute(customers.ensured_statement(ref))).one_or_none()
    if row is not None and customers.is_ensured(row.included_version, row.catalog_version):
        return int(row.id)
    async def work(uow: UnitOfWork) -> int:  # the unit of work creates and includes
        uow.quiet()  # a first reference is no change to announce (its grants' events are)
        return uow.customer.id

    return await unit_of_work.run(Scope(db, clock, bus), ref, work)


async def owned_purchases(db: Database, ref: CustomerRef, *, clock: Clock, bus: Any = None,
                          customer_pk: int | None = None) -> list[Purchase]:
    """What the customer owns now, oldest first (include-by-default products included).
    ``customer_pk``: the customer was ensured already (``ensure_customer``) in this request."""
    if customer_pk is None:
        customer_pk = await ensure_customer(db, ref, clock=clock, bus=bus)
    async with db.read_session() as session:
        return list(await repository.list_owned(session, customer_pk))
