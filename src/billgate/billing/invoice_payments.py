"""A customer pays an OPEN invoice by hand (``payInvoice``, the portal's **Pay now**).

An invoice is OPEN while a renewal of its subscription is unpaid (the subscription is
PAST_DUE). Paying it charges the customer's default card through ``billing/charges.py``:

1. claim, under the customer's lock: the invoice is read again and must still be OPEN and
   its subscription's open invoice, with no other charge of that subscription running; the
   key is the invoice's own (``billgate:invoice:<public id>:<attempt>``, as a renewal
   retry of it would use), so a twin that takes the lock next finds the claim and stops;
2. charge the default card, off-session;
3. record, under the lock again: paid -> the invoice PAID and the subscription ACTIVE with
   its period advanced and the credits it held granted (``lifecycle.open_invoice_paid``,
   the same step a paid renewal takes); declined -> ``PAYMENT_FAILED`` and nothing else
   changes: the invoice stays OPEN and the dunning schedule is not moved (a manual try is
   not one of its retries).
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy import select

from billgate.billing import charges, unit_of_work
from billgate.billing.context import Billing
from billgate.billing.subscriptions import final_invoices, lifecycle
from billgate.billing.subscriptions.states import PAUSED
from billgate.billing.unit_of_work import UnitOfWork
from billgate.db.models import ChargeClaim, Invoice, Purchase
from billgate.errors import (
    DefaultPaymentMethodRequired,
    InvalidInput,
    InvoiceNotFound,
    InvoiceNotOpen,
)
from billgate.types import CustomerRef

PAY_INVOICE = "pay_invoice"


async def pay(billing: Billing, ref: CustomerRef, invoice_id: int, *, now: datetime) -> Invoice:
    """Pay the customer's OPEN invoice ``invoice_id`` with its default card (see the module
    doc). Returns the invoice as recorded (PAID). A plan's final overage invoice is paid
    by ``final_invoices.pay`` (its plan has ended: nothing to make ACTIVE again)."""
    if await final_invoices.is_final_invoice(billing, invoice_id):
        return await final_invoices.pay(billing, ref, invoice_id, now=now)

    async def begin(uow: UnitOfWork) -> ChargeClaim:
        invoice = await uow.session.scalar(
            select(Invoice).where(Invoice.id == invoice_id, Invoice.customer_pk == uow.customer.id)
            .execution_options(populate_existing=True))
        if invoice is None:
            raise InvoiceNotFound(f"customer {ref.customer_id} has no invoice {invoice_id}",
                                  field=["invoiceId"])
        if invoice.status != "OPEN":
            raise InvoiceNotOpen(f"the invoice is {invoice.status}, not OPEN: nothing to pay",
                                 field=["invoiceId"])
        sub = (await uow.session.get(Purchase, invoice.purchase_id, populate_existing=True)
               if invoice.purchase_id is not None else None)
        if sub is None or sub.open_invoice_id != invoice.id:
            raise InvoiceNotOpen("the invoice is not waiting for a payment", field=["invoiceId"])
        if sub.status == PAUSED:
            raise InvalidInput("the subscription is paused: resume it to pay for a new period",
                               field=["invoiceId"])
        if not billing.test_mode and not uow.customer.default_payment_method:
            raise DefaultPaymentMethodRequired("paying an invoice needs a default payment "
                                               "method: update the card first", field=["customer"])
        invoice.attempt_count += 1
        return await charges.claim(
            uow, billing, operation=PAY_INVOICE, purchase=sub, amount=invoice.amount_total,
            currency=invoice.currency, description=f"Invoice for {sub.product['displayName']}",
            invoice_key=f"billgate:invoice:{invoice.public_id}:{invoice.attempt_count}",
            invoice_id=invoice.id)

    claim = await unit_of_work.run(billing, ref, begin, now=now)
    result = await charges.charge(billing, claim)

    async def declined(uow: UnitOfWork, sub: Purchase, row: ChargeClaim) -> None:
        return None  # the invoice stays OPEN; dunning goes on as scheduled

    recorded = await charges.record(billing, claim, result,
                                    paid=partial(lifecycle.open_invoice_paid, billing),
                                    failed=declined, now=now)
    return recorded.value_or_raise()
