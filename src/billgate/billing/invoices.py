"""Invoices and the customer's credit balance.

Every charge has an invoice: OPEN while unpaid, PAID when charged, UNCOLLECTIBLE when
dunning gives up, VOID when it no longer applies. Amounts are minor units. Credit a
customer is owed (a downgrade's unused time) is spent on its next invoices first.

An invoice is *issued* when it leaves DRAFT (``issue``): it gets its number
(``INV-2026-000042``, gapless per prefix and year, never reused: a VOID invoice keeps
it) and a copy of the seller and the buyer as they are then. Its amounts read from its
lines (``totals``): ``amountTotal = subtotal - discount + tax - credit applied``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import numbering, taxes
from billgate.billing.payment_settings import Address, Party, PaymentSettings
from billgate.billing.payment_settings import load as load_settings
from billgate.db.engine import Database
from billgate.db.models import (
    CreditNote,
    Customer,
    CustomerCredit,
    Invoice,
    Purchase,
    Transaction,
)
from billgate.db.upsert import insert_ignore
from billgate.money import from_minor
from billgate.types import CustomerRef, CustomerType


def plan_line(purchase: Purchase, *, start: datetime | None, end: datetime | None,
              amount: int) -> dict[str, Any]:
    return {"kind": "plan", "description": purchase.product["displayName"],
            "priceId": purchase.price_id, "quantity": purchase.quantity,
            "unitAmount": purchase.unit_amount, "amount": amount,
            "periodStart": start.isoformat() if start else None,
            "periodEnd": end.isoformat() if end else None}


# Line kinds that are not part of the subtotal.
CREDIT, TAX, DISCOUNT = "credit", "tax", "discount"


@dataclass(frozen=True)
class Totals:
    """An invoice's amounts in minor units, read from its lines."""

    subtotal: int   # the plan, proration and other charge lines
    discount: int   # positive: what discount lines took off
    tax: int
    credit_applied: int  # positive: account credit spent on it

    @property
    def taxable(self) -> int:
        return self.subtotal - self.discount


def totals(invoice: Invoice) -> Totals:
    lines: list[dict[str, Any]] = invoice.lines or []

    def total(kinds: tuple[str, ...], *, inside: bool) -> int:
        return sum(int(line["amount"]) for line in lines if (line["kind"] in kinds) == inside)

    return Totals(subtotal=total((CREDIT, TAX, DISCOUNT), inside=False),
                  discount=-total((DISCOUNT,), inside=True), tax=total((TAX,), inside=True),
                  credit_applied=-total((CREDIT,), inside=True))


def period_of(purchase: Purchase) -> dict[str, str]:
    """A subscription's current period as a plan line names it (none for a one-time buy)."""
    start, end = purchase.current_period_start, purchase.current_period_end
    if purchase.kind != "SUBSCRIPTION" or start is None or end is None:
        return {}
    return {"periodStart": start.isoformat(), "periodEnd": end.isoformat()}


def new_invoice(customer_pk: int, purchase: Purchase | None, *, currency: str,
                lines: Sequence[dict[str, Any]], now: datetime) -> Invoice:
    """An OPEN invoice whose total is the sum of its lines (never below zero)."""
    return Invoice(public_id=secrets.token_urlsafe(24), customer_pk=customer_pk,
                   purchase_id=purchase.id if purchase else None, status="OPEN",
                   currency=currency, amount_total=max(0, sum(int(line["amount"]) for line in lines)),
                   lines=list(lines), created_at=now, attempt_count=0)


async def credit_balance(session: AsyncSession, customer_pk: int, currency: str) -> int:
    amount = await session.scalar(select(CustomerCredit.amount).where(
        CustomerCredit.customer_pk == customer_pk, CustomerCredit.currency == currency))
    return int(amount or 0)


async def add_credit(session: AsyncSession, customer_pk: int, currency: str, amount: int) -> None:
    """Add (or, negative, spend) customer credit, atomically."""
    await insert_ignore(session, CustomerCredit.__table__,  # type: ignore[arg-type]
                        {"customer_pk": customer_pk, "currency": currency, "amount": 0},
                        ["customer_pk", "currency"])
    await session.execute(update(CustomerCredit).where(
        CustomerCredit.customer_pk == customer_pk, CustomerCredit.currency == currency)
        .values(amount=CustomerCredit.amount + amount))


async def apply_credit(session: AsyncSession, invoice: Invoice) -> None:
    """Spend the customer's credit in the invoice's currency on it (a negative line)."""
    available = await credit_balance(session, invoice.customer_pk, invoice.currency)
    used = min(available, invoice.amount_total)
    if used <= 0:
        return
    invoice.lines = [*invoice.lines, {"kind": "credit", "description": "Account credit applied",
                                      "amount": -used}]
    invoice.amount_total -= used
    await add_credit(session, invoice.customer_pk, invoice.currency, -used)


async def void(session: AsyncSession, invoice: Invoice) -> None:
    """The invoice no longer applies (its subscription ended unpaid): VOID, and the account
    credit it had used is the customer's again."""
    invoice.status = "VOID"
    used = -sum(int(line["amount"]) for line in invoice.lines if line["kind"] == "credit")
    if used > 0:
        await add_credit(session, invoice.customer_pk, invoice.currency, used)


def buyer_of(customer: Customer) -> Party:
    """The customer as invoices name it (``updateCustomer``)."""
    return Party(name=customer.name, email=customer.email,
                 address=Address.from_json(customer.address), tax_id=customer.tax_id)


def add_tax(invoice: Invoice, settings: PaymentSettings, buyer: Party) -> None:
    """Add the ``tax`` line for the buyer's country (``taxes.rate_for``) on the subtotal
    after discount; nothing when no rate applies or nothing is taxable. Call before the
    account credit is applied (credit pays the taxed total)."""
    rate = taxes.rate_for(settings.tax_rates, buyer.address.country if buyer.address else None)
    taxable = totals(invoice).taxable
    if rate is None or taxable <= 0:
        return
    amount = taxes.tax_amount(taxable, rate.percent)
    if amount == 0:
        return
    invoice.lines = [*invoice.lines, {"kind": TAX, "description": taxes.describe(rate),
                                      "percent": rate.percent, "amount": amount}]
    invoice.amount_total += amount


async def tax_due(session: AsyncSession, customer: Customer, taxable: int) -> tuple[int, str | None]:
    """The tax on ``taxable`` minor units for this buyer now, and its line's text: what a
    checkout adds to its price (``purchases/service``) and shows before paying."""
    settings = await load_settings(session)
    buyer = buyer_of(customer)
    rate = taxes.rate_for(settings.tax_rates, buyer.address.country if buyer.address else None)
    if rate is None or taxable <= 0:
        return 0, None
    return taxes.tax_amount(taxable, rate.percent), taxes.describe(rate)


async def add_tax_for(session: AsyncSession, invoice: Invoice, customer: Customer) -> None:
    """``add_tax`` with the settings and buyer as they are now."""
    add_tax(invoice, await load_settings(session), buyer_of(customer))


async def create(session: AsyncSession, customer: Customer, purchase: Purchase | None, *,
                 currency: str, lines: Sequence[dict[str, Any]], now: datetime) -> Invoice:
    """An issued OPEN invoice of ``lines`` plus its tax, with the customer's account credit
    applied, added to the session and flushed (it has an id)."""
    settings = await load_settings(session)
    invoice = new_invoice(customer.id, purchase, currency=currency, lines=lines, now=now)
    add_tax(invoice, settings, buyer_of(customer))
    await apply_credit(session, invoice)
    session.add(invoice)
    await issue(session, invoice, customer=customer, now=now, settings=settings)
    await session.flush()
    return invoice


async def issue(session: AsyncSession, invoice: Invoice, *, customer: Customer | None = None,
                now: datetime, settings: PaymentSettings | None = None) -> None:
    """The invoice leaves DRAFT: its number and its seller and buyer as they are now. Call
    it last in the transaction's writes where possible: the number's counter row stays
    locked until commit (``numbering``). Issuing twice changes nothing."""
    if invoice.number is not None:
        return
    if settings is None:
        settings = await load_settings(session)
    if customer is None:
        customer = await session.get(Customer, invoice.customer_pk)
        assert customer is not None
    invoice.seller = settings.seller.to_json()
    invoice.buyer = buyer_of(customer).to_json()
    invoice.number = await numbering.next_number(session, settings.invoice_number_prefix,
                                                 now.year)


def mark_paid(invoice: Invoice, *, now: datetime, reference: str | None) -> None:
    invoice.status = "PAID"
    invoice.paid_at = now
    invoice.payment_reference = reference


def hosted_url(base_url: str, invoice: Invoice) -> str:
    """The absolute link to the invoice's hosted page (``web/invoices.py``)."""
    return f"{base_url}/invoices/{invoice.public_id}"


def pdf_path(invoice: Invoice) -> str:
    """The invoice's PDF, beside its hosted page: as unguessable as the page's link."""
    return f"/invoices/{invoice.public_id}/pdf"


def pdf_url(base_url: str, invoice: Invoice) -> str:
    """The absolute link to the invoice's PDF (``Invoice.pdfUrl``)."""
    return f"{base_url}{pdf_path(invoice)}"


async def credit_note_for_refund(session: AsyncSession, charge: Transaction, refund: Transaction, *,
                                 now: datetime) -> CreditNote | None:
    """A credit note (``CN-2026-000001``) for a refund of an invoiced charge, in the
    refund's transaction; None when no invoice records the charge. Numbered like invoices
    (``numbering``): call it last in the transaction."""
    invoice = await session.scalar(select(Invoice).where(Invoice.transaction_id == charge.id)
                                   .order_by(Invoice.id).limit(1))
    if invoice is None:
        return None
    await session.flush()  # the refund's id
    note = CreditNote(public_id=secrets.token_urlsafe(24), invoice_id=invoice.id,
                      transaction_id=refund.id, amount=-refund.amount, currency=invoice.currency,
                      created_at=now,
                      number=await numbering.next_number(session, numbering.CREDIT_NOTE_PREFIX,
                                                         now.year))
    session.add(note)
    return note


def credit_note_pdf_path(note: CreditNote) -> str:
    """A credit note's PDF: unguessable like an invoice's."""
    return f"/credit-notes/{note.public_id}/pdf"


def credit_note_pdf_url(base_url: str, note: CreditNote) -> str:
    return f"{base_url}{credit_note_pdf_path(note)}"


async def credit_notes_of(session: AsyncSession, invoice_id: int) -> Sequence[CreditNote]:
    """The invoice's credit notes, oldest first (``Invoice.creditNotes``)."""
    return (await session.scalars(select(CreditNote).where(CreditNote.invoice_id == invoice_id)
                                  .order_by(CreditNote.id))).all()


async def credit_note_by_public_id(session: AsyncSession,
                                   public_id: str) -> tuple[CreditNote, Invoice] | None:
    """A credit note of a PDF link, with its invoice."""
    row = (await session.execute(select(CreditNote, Invoice)
                                 .join(Invoice, Invoice.id == CreditNote.invoice_id)
                                 .where(CreditNote.public_id == public_id))).one_or_none()
    return (row[0], row[1]) if row is not None else None


def receipt_context(customer: Customer, invoice: Invoice, base_url: str = "") -> dict[str, Any]:
    """What a receipt or payment-failed email shows. Without ``base_url`` the sender adds
    the hosted invoice link from its own settings."""
    context: dict[str, Any] = {
        "customer": customer.customer_id, "invoice": invoice.public_id,
        "amount": from_minor(invoice.amount_total, invoice.currency),
        "currency": invoice.currency, "lines": invoice.lines, "number": invoice.number}
    if base_url:
        context["url"] = hosted_url(base_url, invoice)
        context["pdf_url"] = pdf_url(base_url, invoice)
    return context


async def list_page(session: AsyncSession, customer_pk: int, *, before_id: int | None,
                    limit: int) -> Sequence[Invoice]:
    """The customer's invoices, newest first (keyset on id): ``Customer.invoices``."""
    stmt = (select(Invoice).where(Invoice.customer_pk == customer_pk)
            .order_by(Invoice.id.desc()).limit(limit))
    if before_id is not None:
        stmt = stmt.where(Invoice.id < before_id)
    return (await session.scalars(stmt)).all()


async def list_of_customer(db: Database, ref: CustomerRef, *, before_id: int | None,
                           limit: int) -> Sequence[Invoice]:
    """``list_page`` for a customer named by the app's ids: none for a customer never
    referred to (a read creates nothing)."""
    from billgate.billing import customers

    async with db.read_session() as session:
        customer = await customers.find(session, ref)
        if customer is None:
            return []
        return await list_page(session, customer.id, before_id=before_id, limit=limit)


async def get_by_public_id(session: AsyncSession, public_id: str) -> Invoice | None:
    """The invoice of a hosted link (``web/invoices.py``)."""
    return await session.scalar(select(Invoice).where(Invoice.public_id == public_id))


async def open_invoice_payer(db: Database, public_id: str) -> CustomerRef | None:
    """The customer who owes the invoice of a hosted link, while it is OPEN (its page's
    pay link opens that customer's portal to pay it); None otherwise."""
    async with db.read_session() as session:
        row = (await session.execute(
            select(Customer.type, Customer.customer_id)
            .join(Invoice, Invoice.customer_pk == Customer.id)
            .where(Invoice.public_id == public_id, Invoice.status == "OPEN"))).one_or_none()
    return CustomerRef(CustomerType(row[0]), row[1]) if row is not None else None
