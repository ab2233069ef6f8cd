"""Invoices and the customer's credit balance.

Every charge has an invoice: OPEN while unpaid, PAID when charged, UNCOLLECTIBLE when
dunning gives up, VOID when it no longer applies. Amounts are minor units. Credit a
customer is owed (a downgrade's unused time) is spent on its next invoices first.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.db.engine import Database
from billgate.db.models import Customer, CustomerCredit, Invoice, Purchase
from billgate.db.upsert import insert_ignore
from billgate.money import from_minor
from billgate.types import CustomerRef


def plan_line(purchase: Purchase, *, start: datetime | None, end: datetime | None,
              amount: int) -> dict[str, Any]:
    return {"kind": "plan", "description": purchase.product["displayName"],
            "priceId": purchase.price_id, "quantity": purchase.quantity,
            "unitAmount": purchase.unit_amount, "amount": amount,
            "periodStart": start.isoformat() if start else None,
            "periodEnd": end.isoformat() if end else None}


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


def mark_paid(invoice: Invoice, *, now: datetime, reference: str | None) -> None:
    invoice.status = "PAID"
    invoice.paid_at = now
    invoice.payment_reference = reference


def hosted_url(base_url: str, invoice: Invoice) -> str:
    """The absolute link to the invoice's hosted page (``web/invoices.py``)."""
    return f"{base_url}/invoices/{invoice.public_id}"


def receipt_context(customer: Customer, invoice: Invoice, base_url: str = "") -> dict[str, Any]:
    """What a receipt or payment-failed email shows. Without ``base_url`` the sender adds
    the hosted invoice link from its own settings."""
    context: dict[str, Any] = {
        "customer": customer.customer_id, "invoice": invoice.public_id,
        "amount": from_minor(invoice.amount_total, invoice.currency),
        "currency": invoice.currency, "lines": invoice.lines}
    if base_url:
        context["url"] = hosted_url(base_url, invoice)
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
