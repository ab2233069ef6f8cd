"""billgate's hosted invoice page: ``GET /invoices/{public_id}``.

The link (``Invoice.hostedInvoiceUrl``) is the access check: ``public_id`` is unguessable
(24 random bytes), so the page shows the invoice to whoever holds the link, as hosted invoice
pages do. It shows the status, every line (the plan and its period, proration credit and
debit, account credit applied), the totals formatted per currency from minor units (JPY has
no decimals) and the paid date. An unknown id answers 404. The page is sent with the same
security headers as the checkout page and carries no JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from billgate.billing import invoices
from billgate.db.models import Invoice
from billgate.runtime import Runtime
from billgate.web import pages

STATUS_WORDING = {
    "DRAFT": "Draft: not issued yet",
    "OPEN": "Payment due",
    "PAID": "Paid",
    "UNCOLLECTIBLE": "Payment failed: this invoice could not be collected",
    "VOID": "Void: nothing is owed on this invoice",
}


@dataclass(frozen=True)
class Line:
    description: str
    detail: str | None
    amount: str


@dataclass(frozen=True)
class InvoiceView:
    status: str
    status_text: str
    issued: str
    paid: str | None
    lines: list[Line]
    subtotal: str
    credit_applied: str | None
    total: str
    to_account_credit: str | None  # a downgrade's unused time beyond this invoice


def invoice_routes(get_runtime: Callable[[], Runtime]) -> list[Route]:
    """The invoice route; ``get_runtime`` returns the running app's ``Runtime``."""

    async def show(request: Request) -> Response:
        return await _page(get_runtime(), request.path_params["public_id"])

    return [Route("/invoices/{public_id}", show, methods=["GET"], name="invoice")]


async def _page(runtime: Runtime, public_id: str) -> Response:
    async with runtime.db.read_session() as session:
        invoice = await invoices.get_by_public_id(session, public_id)
    if invoice is None:
        return pages.render("invoice_not_found.html", status=404)
    return pages.render("invoice.html", invoice=view(invoice),
                        test_mode=(await runtime.payment_settings()).test_mode)


def view(invoice: Invoice) -> InvoiceView:
    """What the page shows, every amount formatted in the invoice's currency."""
    currency = invoice.currency
    lines: list[dict[str, Any]] = invoice.lines or []
    applied = -sum(int(line["amount"]) for line in lines if line["kind"] == "credit")
    subtotal = sum(int(line["amount"]) for line in lines if line["kind"] != "credit")
    return InvoiceView(
        status=invoice.status, status_text=STATUS_WORDING.get(invoice.status, invoice.status),
        issued=_date(invoice.created_at), paid=_date(invoice.paid_at) if invoice.paid_at else None,
        lines=[Line(description=line["description"], detail=_detail(line, currency),
                    amount=pages.money(int(line["amount"]), currency))
               for line in lines if line["kind"] != "credit"],  # credit: under the totals
        subtotal=pages.money(subtotal, currency),
        credit_applied=pages.money(-applied, currency) if applied else None,
        total=pages.money(invoice.amount_total, currency),
        to_account_credit=pages.money(-subtotal, currency) if subtotal < 0 else None)


def _detail(line: dict[str, Any], currency: str) -> str | None:
    parts = []
    quantity, unit = line.get("quantity"), line.get("unitAmount")
    if quantity and quantity > 1 and unit is not None:
        parts.append(f"{quantity} × {pages.money(int(unit), currency)}")
    if line.get("periodStart") and line.get("periodEnd"):
        start = datetime.fromisoformat(line["periodStart"])
        end = datetime.fromisoformat(line["periodEnd"])
        parts.append(f"{_date(start)} – {_date(end)}")
    return ", ".join(parts) or None


def _date(value: datetime) -> str:
    """``31 January 2026`` (billing times are UTC)."""
    return f"{value.day} {value:%B %Y}"
