"""billgate's hosted invoice page and PDFs:

- ``GET /invoices/{public_id}``: the invoice page;
- ``GET /invoices/{public_id}/pdf``: the same invoice as a PDF (``Invoice.pdfUrl``);
- ``GET /credit-notes/{public_id}/pdf``: a credit note (``CreditNote.pdfUrl``).

The link is the access check: ``public_id`` is unguessable (24 random bytes), so the page
shows the invoice to whoever holds the link, as hosted invoice pages do. Page and PDF show
the same view (``web/invoice_view.py``): number, dates, seller, buyer, lines with their
periods, quantity and unit price, subtotal, discount, tax, credit applied, total and status.
An unknown id answers 404. Pages are sent with the checkout page's security headers and
carry no JavaScript.

Paying an OPEN invoice happens in the customer portal. ``invoice_routes`` takes an optional
``pay_url_for(runtime, invoice)`` hook: when it returns a URL, an OPEN invoice's page and
PDF show a link **Pay in the customer portal** to it; without the hook they show the amount
due only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from billgate.billing import invoices
from billgate.db.models import Invoice
from billgate.runtime import Runtime
from billgate.web import pages
from billgate.web.invoice_pdf import credit_note_pdf, invoice_pdf
from billgate.web.invoice_view import credit_note_view, view

PayUrlFor = Callable[[Runtime, Invoice], Awaitable[str | None]]


def invoice_routes(get_runtime: Callable[[], Runtime], *,
                   pay_url_for: PayUrlFor | None = None) -> list[Route]:
    """The invoice routes; ``get_runtime`` returns the running app's ``Runtime``."""

    async def show(request: Request) -> Response:
        return await _page(get_runtime(), request.path_params["public_id"], pay_url_for)

    async def pdf(request: Request) -> Response:
        return await _pdf(get_runtime(), request.path_params["public_id"], pay_url_for)

    async def credit_note(request: Request) -> Response:
        return await _credit_note(get_runtime(), request.path_params["public_id"])

    return [Route("/invoices/{public_id}", show, methods=["GET"], name="invoice"),
            Route("/invoices/{public_id}/pdf", pdf, methods=["GET"], name="invoice_pdf"),
            Route("/credit-notes/{public_id}/pdf", credit_note, methods=["GET"],
                  name="credit_note_pdf")]


async def _invoice(runtime: Runtime, public_id: str) -> Invoice | None:
    async with runtime.db.read_session() as session:
        return await invoices.get_by_public_id(session, public_id)


async def _pay_url(runtime: Runtime, invoice: Invoice, hook: PayUrlFor | None) -> str | None:
    return await hook(runtime, invoice) if hook is not None and invoice.status == "OPEN" else None


async def _page(runtime: Runtime, public_id: str, hook: PayUrlFor | None) -> Response:
    invoice = await _invoice(runtime, public_id)
    if invoice is None:
        return pages.render("invoice_not_found.html", status=404)
    return pages.render("invoice.html", invoice=view(invoice, pay_url=await _pay_url(runtime, invoice, hook)),
                        test_mode=(await runtime.payment_settings()).test_mode)


async def _pdf(runtime: Runtime, public_id: str, hook: PayUrlFor | None) -> Response:
    invoice = await _invoice(runtime, public_id)
    if invoice is None:
        return pages.render("invoice_not_found.html", status=404)
    document = invoice_pdf(view(invoice, pay_url=await _pay_url(runtime, invoice, hook)))
    return _pdf_response(document, f"{invoice.number or 'invoice'}.pdf")


async def _credit_note(runtime: Runtime, public_id: str) -> Response:
    async with runtime.db.read_session() as session:
        found = await invoices.credit_note_by_public_id(session, public_id)
    if found is None:
        return pages.render("invoice_not_found.html", status=404)
    note, invoice = found
    return _pdf_response(credit_note_pdf(credit_note_view(note, invoice)), f"{note.number}.pdf")


def _pdf_response(document: bytes, filename: str) -> Response:
    headers = {**pages.security_headers(), "Cache-Control": "private, no-store",
               "Content-Disposition": f'inline; filename="{filename}"'}
    return Response(document, media_type="application/pdf", headers=headers)
