"""Final overage invoices get paid: the scheduler's ``invoice.final_charge`` job charges them
to the customer's default card after the plan's end has committed, as Stripe charges a
final invoice of usage (``overage_billing.bill_at_end`` and ``keep_before_void`` issue
them OPEN, inside the ending request, which never charges).

A *final invoice* is an OPEN invoice whose lines are only overage (plus its tax and the
account credit applied) and that is not its subscription's open renewal invoice (that one
is paid by the renewal, its retries and ``payInvoice`` as before).

Per invoice, through ``billing/charges.py``:

1. claim, a unit of work on the customer: the invoice is read again and must still be
   OPEN, final and never tried (``attempt_count`` 0: the automatic charge is tried once;
   a twin on another server that takes the lock next finds it tried and stops); nothing
   to pay (credit covered it) -> PAID at once; no card in live mode -> the failure below
   without a charge; else ``attempt_count`` 1 and a claim keyed by the invoice
   (``billgate:invoice:<public id>:<attempt>``);
2. charge the default card off-session (test mode: the saved test card), outside any
   transaction;
3. record, the lock again: paid -> invoice PAID, a transaction, the receipt email and
   ``invoice.paid``; declined -> the invoice stays OPEN, the payment-failed email (saying
   it is not retried: pay it from the invoice's link or the portal) and
   ``invoice.payment_failed``. If the invoice is no longer OPEN when the charge comes
   back, the charge is refunded (COMPENSATED).

Choices where the issue is silent:

- One automatic attempt, no dunning: the plan is over, there is no access to suspend.
  After a decline the customer (or the server, ``payInvoice``) pays it by hand; a hand
  payment goes through the same claim/record (``pay``), with no email on a decline (the
  caller gets ``PAYMENT_FAILED``).
- The transaction's kind is ``renewal``: it is the usage of the plan's last period, what
  its renewal would have charged, and it keeps the revenue report and the audit's
  ``money`` check as they are (no new kind for the API to learn).
- A claim whose run died (``scheduled.recover_charges``) is charged again with its key
  and recorded once, as an automatic attempt (a hand payment whose caller died is
  recorded rather than refunded: the money is owed either way).
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import or_, select

from billgate.billing import charges, invoices, unit_of_work
from billgate.billing.context import Billing
from billgate.billing.subscriptions.overage_billing import KIND as OVERAGE
from billgate.billing.unit_of_work import UnitOfWork
from billgate.db.models import ChargeClaim, Invoice, Purchase, Transaction
from billgate.errors import DefaultPaymentMethodRequired, InvoiceNotFound, InvoiceNotOpen
from billgate.notifications import outbox
from billgate.notifications.webhooks import emit
from billgate.payments.rails import ChargeResult
from billgate.types import CustomerRef

OPERATION = charges.FINAL_INVOICE  # ``ChargeClaim.operation`` of these charges
BATCH = 20
SCAN = 200  # OPEN, untried invoices read per look (the lines are filtered here: JSON)
NO_CARD = "no default payment method to charge"
# Lines that ride along on any invoice (``invoices.add_tax`` / ``apply_credit``).
RIDERS = ("tax", "credit")


def only_overage(invoice: Invoice) -> bool:
    """OPEN, of a plan, and only overage billed on it."""
    kinds = {line.get("kind") for line in invoice.lines or []}
    return (invoice.status == "OPEN" and invoice.purchase_id is not None
            and OVERAGE in kinds and kinds <= {OVERAGE, *RIDERS})


def is_final(invoice: Invoice, sub: Purchase | None) -> bool:
    """``only_overage`` and not its plan's open renewal invoice."""
    return only_overage(invoice) and sub is not None and sub.open_invoice_id != invoice.id


async def _due(billing: Billing, at: datetime, limit: int) -> list[tuple[int, int, datetime]]:
    """(invoice id, customer pk, created at) of untried final invoices issued by ``at``."""
    async with billing.db.read_session() as session:
        rows = (await session.execute(
            select(Invoice, Purchase.open_invoice_id)
            .outerjoin(Purchase, Purchase.id == Invoice.purchase_id)
            .where(Invoice.status == "OPEN", Invoice.attempt_count == 0,
                   Invoice.created_at <= at,
                   or_(Purchase.open_invoice_id.is_(None),
                       Purchase.open_invoice_id != Invoice.id))
            .order_by(Invoice.created_at, Invoice.id).limit(SCAN))).all()
    found = [(inv.id, inv.customer_pk, inv.created_at) for inv, open_id in rows
             if only_overage(inv) and open_id != inv.id]
    return found[:limit]


async def next_due(billing: Billing, now: datetime) -> datetime | None:
    """When the oldest untried final invoice was issued (None: none)."""
    due = await _due(billing, now, 1)
    return due[0][2] if due else None


async def run_due(billing: Billing, at: datetime) -> int:
    """Charge up to ``BATCH`` untried final invoices issued by ``at``, oldest first."""
    done = 0
    for invoice_id, customer_pk, _ in await _due(billing, at, BATCH):
        done += await collect(billing, invoice_id, customer_pk, now=at)
    return done


async def collect(billing: Billing, invoice_id: int, customer_pk: int, *, now: datetime) -> int:
    """Steps 1-3 for one invoice; 0 when another run has it (or a charge of its plan runs)."""
    done, claim = await unit_of_work.run(billing, customer_pk,
                                         partial(_claim_automatic, billing, invoice_id), now=now)
    if claim is not None:
        await settle(billing, claim, await charges.charge(billing, claim), now=now)
    return 1 if done else 0


async def _claim_automatic(billing: Billing, invoice_id: int,
                           uow: UnitOfWork) -> tuple[bool, ChargeClaim | None]:
    invoice, sub = await _read(uow, invoice_id)
    if invoice is None or invoice.attempt_count != 0 or not is_final(invoice, sub):
        uow.quiet()
        return False, None
    assert sub is not None
    if await charges.pending_for(uow, sub.id) is not None:
        uow.quiet()  # another charge of the plan runs (a resume): the next run tries
        return False, None
    if invoice.amount_total == 0:
        await _paid(billing, uow, invoice, reference=None)
        return True, None
    if not billing.test_mode and not uow.customer.default_payment_method:
        invoice.attempt_count += 1
        await _declined(billing, uow, invoice, NO_CARD)
        return True, None
    return True, await _claim(uow, billing, invoice, sub)


async def _read(uow: UnitOfWork, invoice_id: int) -> tuple[Invoice | None, Purchase | None]:
    """The customer's invoice and its plan, read again under the lock."""
    invoice = await uow.session.scalar(
        select(Invoice).where(Invoice.id == invoice_id, Invoice.customer_pk == uow.customer.id)
        .execution_options(populate_existing=True))
    if invoice is None or invoice.purchase_id is None:
        return invoice, None
    return invoice, await uow.session.get(Purchase, invoice.purchase_id, populate_existing=True)


async def _claim(uow: UnitOfWork, billing: Billing, invoice: Invoice,
                 sub: Purchase) -> ChargeClaim:
    """A claim keyed by the invoice and its attempt (as a renewal's retries are keyed)."""
    uow.quiet()  # nothing the customer sees changes until the charge is recorded
    invoice.attempt_count += 1
    return await charges.claim(
        uow, billing, operation=OPERATION, purchase=sub, amount=invoice.amount_total,
        currency=invoice.currency,
        description=f"Final usage of {(sub.product or {}).get('displayName', 'a plan')}",
        invoice_key=f"billgate:invoice:{invoice.public_id}:{invoice.attempt_count}",
        invoice_id=invoice.id)


async def pay(billing: Billing, ref: CustomerRef, invoice_id: int, *, now: datetime) -> Invoice:
    """``payInvoice`` of a final invoice (``invoice_payments.pay`` hands it here): the same
    claim/charge/record, any number of tries; a decline answers ``PAYMENT_FAILED``."""

    async def begin(uow: UnitOfWork) -> ChargeClaim:
        invoice, sub = await _read(uow, invoice_id)
        if invoice is None:
            raise InvoiceNotFound(f"customer {ref.customer_id} has no invoice {invoice_id}",
                                  field=["invoiceId"])
        if not is_final(invoice, sub):
            raise InvoiceNotOpen("the invoice is not waiting for a payment", field=["invoiceId"])
        if not billing.test_mode and not uow.customer.default_payment_method:
            raise DefaultPaymentMethodRequired("paying an invoice needs a default payment "
                                               "method: update the card first", field=["customer"])
        assert sub is not None
        if await charges.pending_for(uow, sub.id) is not None:
            raise charges.ChangeInProgress("this invoice is being paid right now",
                                           field=["invoiceId"])
        return await _claim(uow, billing, invoice, sub)

    claim = await unit_of_work.run(billing, ref, begin, now=now)
    recorded = await settle(billing, claim, await charges.charge(billing, claim), now=now,
                            automatic=False)
    return recorded.value_or_raise()


async def is_final_invoice(billing: Billing, invoice_id: int) -> bool:
    """Whether invoice ``invoice_id`` is a final invoice (a read to pick the path;
    ``pay`` checks again under the lock, and whose invoice it is)."""
    async with billing.db.read_session() as session:
        invoice = await session.get(Invoice, invoice_id)
        if invoice is None or not only_overage(invoice):
            return False
        return is_final(invoice, await session.get(Purchase, invoice.purchase_id))


async def settle(billing: Billing, claim: ChargeClaim, result: ChargeResult, *,
                 now: datetime, automatic: bool = True) -> charges.Recorded[Invoice]:
    """Step 3 (see the module doc)."""
    recorded = await unit_of_work.run(
        billing, claim.customer_pk, partial(_record, billing, claim.id, result, automatic),
        now=now)
    if recorded.outcome is charges.Outcome.COMPENSATED:
        await charges.compensate(billing, claim.id)
    return recorded


async def _record(billing: Billing, claim_id: int, result: ChargeResult, automatic: bool,
                  uow: UnitOfWork) -> charges.Recorded[Invoice]:
    session = uow.session
    claim = await session.get(ChargeClaim, claim_id, populate_existing=True)
    assert claim is not None
    if claim.status != charges.PENDING:
        uow.quiet()
        return charges.Recorded(charges.Outcome.FINISHED_ELSEWHERE)
    invoice = await session.get(Invoice, claim.invoice_id, populate_existing=True)
    assert invoice is not None
    claim.lease_until, claim.updated_at = None, uow.now
    if not result.succeeded:
        claim.status = charges.FAILED
        claim.failure_message = result.failure_message or "the payment failed"
        if automatic:
            await _declined(billing, uow, invoice, claim.failure_message)
        else:
            uow.quiet()
        return charges.Recorded(charges.Outcome.FAILED, failure_message=claim.failure_message)
    claim.payment_reference = result.reference
    if invoice.status != "OPEN" or invoice.amount_total != claim.amount:
        uow.quiet()  # paid or voided meanwhile: this charge goes back
        claim.status = charges.COMPENSATING
        return charges.Recorded(charges.Outcome.COMPENSATED)
    claim.status = charges.RECORDED
    await _paid(billing, uow, invoice, reference=result.reference)
    return charges.Recorded(charges.Outcome.RECORDED, invoice)


async def _paid(billing: Billing, uow: UnitOfWork, invoice: Invoice, *,
                reference: str | None) -> None:
    """PAID, with its transaction (none at no cost), receipt and ``invoice.paid``."""
    session, customer, now = uow.session, uow.customer, uow.now
    invoices.mark_paid(invoice, now=now, reference=reference)
    sub = await session.get(Purchase, invoice.purchase_id) if invoice.purchase_id else None
    if invoice.amount_total > 0:
        transaction = Transaction(
            customer_pk=customer.id, purchase_id=invoice.purchase_id, kind="renewal",
            amount=invoice.amount_total, currency=invoice.currency,
            quantity=sub.quantity if sub is not None else 1,
            product=sub.product if sub is not None else None, test_mode=billing.test_mode,
            payment_reference=reference, created_at=now)
        session.add(transaction)
        await session.flush()
        invoice.transaction_id = transaction.id
        outbox.enqueue(session, customer, outbox.RECEIPT,
                       invoices.receipt_context(customer, invoice, billing.base_url), now=now)
    await emit.invoice_paid(session, customer, invoice, now=now, test_mode=billing.test_mode,
                            base_url=billing.base_url)


async def _declined(billing: Billing, uow: UnitOfWork, invoice: Invoice, reason: str) -> None:
    """The automatic charge failed: the invoice stays OPEN, to be paid by hand."""
    session, customer, now = uow.session, uow.customer, uow.now
    context: dict[str, Any] = {**invoices.receipt_context(customer, invoice, billing.base_url),
                               "reason": reason, "final_invoice": True}
    outbox.enqueue(session, customer, outbox.PAYMENT_FAILED, context, now=now)
    await emit.invoice_payment_failed(session, customer, invoice, now=now,
                                      test_mode=billing.test_mode, base_url=billing.base_url,
                                      failure_message=reason)


async def recover(billing: Billing, claim: ChargeClaim, *, now: datetime) -> None:
    """Finish a claim whose run died (``charges.abandoned``): a COMPENSATING one is
    refunded again; a PENDING one is charged again with its key and recorded once."""
    if claim.status == charges.COMPENSATING:
        await charges.compensate(billing, claim.id)
        return
    await settle(billing, claim, await charges.charge(billing, claim), now=now)

