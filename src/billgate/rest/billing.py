"""Invoices and the saved card."""

from __future__ import annotations

from billgate.billing import invoices, payment_methods
from billgate.errors import InvalidInput
from billgate.ids import global_id, row_id
from billgate.rest.endpoint import Call
from billgate.rest.models import BillingOut, InvoiceOut, InvoicesOut, InvoicesQuery, PaymentMethodOut


async def list_invoices(call: Call) -> InvoicesOut:
    """``Customer.invoices``: newest first; ``next_cursor`` reads the next page."""
    query: InvoicesQuery = call.query
    runtime = call.runtime
    before = _cursor(query.cursor)
    rows = await invoices.list_of_customer(runtime.db, call.customer, before_id=before,
                                           limit=query.limit + 1)
    page = rows[:query.limit]
    base_url = runtime.settings.base_url
    return InvoicesOut(
        items=[InvoiceOut(id=global_id("Invoice", str(row.id)), created_at=row.created_at,
                          status=row.status.lower(),  # type: ignore[arg-type]
                          amount_total=row.amount_total, currency=row.currency,
                          hosted_invoice_url=invoices.hosted_url(base_url, row),
                          number=row.number, pdf_url=invoices.pdf_url(base_url, row))
               for row in page],
        next_cursor=str(page[-1].id) if len(rows) > query.limit else None)


def _cursor(value: str | None) -> int | None:
    """The cursor is the last invoice's sequence number (opaque to callers)."""
    if value is None:
        return None
    number = row_id(value)  # ASCII digits within the database's range ("²" is a digit too)
    if number is None:
        raise InvalidInput(f"cursor {value[:40]!r} is not one this endpoint gave", field=["cursor"])
    return number


async def get_billing(call: Call) -> BillingOut:
    """``customer.billing``: whether a Stripe customer exists, and the default card."""
    found = await payment_methods.billing_info(call.runtime.db, call.customer)
    card = found.default_payment_method
    return BillingOut(has_customer=found.has_customer, default_payment_method=PaymentMethodOut(
        id=str(card["id"]), brand=str(card.get("brand") or "card"),
        last4=str(card.get("last4") or ""), exp_month=int(card.get("expMonth") or 0),
        exp_year=int(card.get("expYear") or 0)) if card else None)
