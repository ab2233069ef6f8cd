"""What an invoice or a credit note shows, formatted once for the hosted page
(``web/invoices.py``), its PDF (``web/invoice_pdf.py``) and the portal.

Every amount is formatted from minor units in the document's currency (JPY has no
decimals); dates are UTC days (``7 Dec 2026``). A line reads ``Pro · 7 Dec 2026 – 7 Jan
2027`` with its quantity and unit price beside it. The seller and buyer are those the
invoice was issued with (``invoices.issue``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billgate.billing import invoices
from billgate.billing.payment_settings import Party
from billgate.db.models import CreditNote, Invoice
from billgate.web import pages

STATUS_WORDING = {
    "DRAFT": "Draft: not issued yet",
    "OPEN": "Payment due",
    "PAID": "Paid",
    "UNCOLLECTIBLE": "Payment failed: this invoice could not be collected",
    "VOID": "Void: nothing is owed on this invoice",
}
# Lines shown under the totals rather than among the charges.
_BELOW = (invoices.CREDIT, invoices.TAX, invoices.DISCOUNT)


@dataclass(frozen=True)
class Line:
    description: str          # "Pro · 7 Dec 2026 – 7 Jan 2027"
    quantity: str | None      # "3" (plan lines)
    unit_price: str | None    # "$19.00"
    amount: str


@dataclass(frozen=True)
class PartyView:
    title: str                # "From" / "Billed to"
    lines: list[str]          # name, address lines, email, "Tax ID ..."


@dataclass(frozen=True)
class InvoiceView:
    number: str | None
    status: str
    status_text: str
    issued: str
    paid: str | None
    seller: PartyView
    buyer: PartyView
    lines: list[Line]
    subtotal: str
    discount: str | None
    tax_label: str | None     # "VAT 19%"
    tax: str | None
    credit_applied: str | None
    total: str
    to_account_credit: str | None  # a downgrade's unused time beyond this invoice
    pdf_path: str
    pay_url: str | None       # an OPEN invoice's pay link (the customer portal), when known

    @property
    def title(self) -> str:
        return f"Invoice {self.number}" if self.number else "Invoice"


@dataclass(frozen=True)
class CreditNoteView:
    number: str
    issued: str
    invoice_number: str | None
    seller: PartyView
    buyer: PartyView
    amount: str
    description: str


def view(invoice: Invoice, *, pay_url: str | None = None) -> InvoiceView:
    """What the page and the PDF show. ``pay_url``: where an OPEN invoice is paid (the
    customer portal); shown only for an OPEN invoice."""
    currency = invoice.currency
    lines: list[dict[str, Any]] = invoice.lines or []
    totals = invoices.totals(invoice)
    tax_lines = [line for line in lines if line["kind"] == invoices.TAX]
    charges = totals.subtotal
    return InvoiceView(
        number=invoice.number, status=invoice.status,
        status_text=STATUS_WORDING.get(invoice.status, invoice.status),
        issued=date(invoice.created_at), paid=date(invoice.paid_at) if invoice.paid_at else None,
        seller=party("From", Party.from_json(invoice.seller)),
        buyer=party("Billed to", Party.from_json(invoice.buyer)),
        lines=[_line(line, currency) for line in lines if line["kind"] not in _BELOW],
        subtotal=pages.money(charges, currency),
        discount=pages.money(-totals.discount, currency) if totals.discount else None,
        tax_label=tax_lines[0]["description"] if tax_lines else None,
        tax=pages.money(totals.tax, currency) if tax_lines else None,
        credit_applied=(pages.money(-totals.credit_applied, currency)
                        if totals.credit_applied else None),
        total=pages.money(invoice.amount_total, currency),
        to_account_credit=pages.money(-charges, currency) if charges < 0 else None,
        pdf_path=invoices.pdf_path(invoice),
        pay_url=pay_url if invoice.status == "OPEN" else None)


def credit_note_view(note: CreditNote, invoice: Invoice) -> CreditNoteView:
    return CreditNoteView(
        number=note.number, issued=date(note.created_at), invoice_number=invoice.number,
        seller=party("From", Party.from_json(invoice.seller)),
        buyer=party("Credited to", Party.from_json(invoice.buyer)),
        amount=pages.money(note.amount, note.currency),
        description=(f"Refund of invoice {invoice.number}" if invoice.number
                     else "Refund"))


def party(title: str, who: Party) -> PartyView:
    lines = [who.name] if who.name else []
    if who.address is not None:
        address = who.address
        lines += [part for part in (address.line1, address.line2) if part]
        place = " ".join(part for part in (address.postal_code, address.city) if part)
        place = ", ".join(part for part in (place, address.state) if part)
        lines += [part for part in (place, address.country) if part]
    if who.email:
        lines.append(who.email)
    if who.tax_id:
        lines.append(f"Tax ID {who.tax_id}")
    return PartyView(title=title, lines=lines)


def _line(line: dict[str, Any], currency: str) -> Line:
    description = str(line["description"])
    if line.get("periodStart") and line.get("periodEnd"):
        start = datetime.fromisoformat(line["periodStart"])
        end = datetime.fromisoformat(line["periodEnd"])
        description = f"{description} · {date(start)} – {date(end)}"
    quantity, unit = line.get("quantity"), line.get("unitAmount")
    # Quantity x unit price is shown where the amount is that product; a proration line
    # carries its quantity (seats) without a unit price, its amount being prorated.
    shown = quantity if unit is not None else None
    return Line(description=description,
                quantity=str(shown) if shown else None,
                unit_price=pages.money(int(unit), currency) if quantity and unit is not None else None,
                amount=pages.money(int(line["amount"]), currency))


def date(value: datetime) -> str:
    """``7 Dec 2026`` (billing times are UTC)."""
    return f"{value.day} {value:%b %Y}"
