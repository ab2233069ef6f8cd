"""Invoice PDFs (``GET /invoices/{public_id}/pdf``) read back with pypdf, and a page rendered
to an image with pypdfium2: the same facts as the hosted page."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pypdf
import pypdfium2
import pytest

from billgate.billing import customer_details, customers, invoices, payment_settings
from billgate.db.models import Invoice
from billgate.types import CustomerRef, CustomerType
from billgate.web import invoice_pdf
from billgate.web.invoice_view import view

USER = CustomerRef(CustomerType.USER, "user-pdf")
CREATED = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # noqa: ANN001
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def issued(runtime: Any, *, status: str = "PAID", currency: str = "EUR",
                 lines: list[dict[str, Any]] | None = None) -> Invoice:
    """An invoice issued by billing (number, seller, buyer, tax) for a German buyer."""
    await payment_settings.save(
        runtime.db, seller={"name": "Acme GmbH", "tax_id": "DE123456789",
                            "address": {"line1": "Hauptstr. 1", "postal_code": "10115",
                                        "city": "Berlin", "country": "DE"}},
        tax_rates=[payment_settings.TaxRate("DE", "VAT", "19")])
    await customer_details.update(runtime.db, USER, {
        "name": "Erika Mustermann", "tax_id": "DE999",
        "address": {"line1": "Weg 2", "city": "Hamburg", "country": "DE"}})
    async with runtime.db.session() as session, session.begin():
        customer = await customers.get_or_create(session, USER)
        invoice = await invoices.create(session, customer, None, currency=currency, now=CREATED,
                                        lines=lines or [{
                                            "kind": "plan", "description": "Pro", "quantity": 2,
                                            "unitAmount": 1800, "amount": 3600,
                                            "periodStart": "2026-12-07T09:00:00+00:00",
                                            "periodEnd": "2027-01-07T09:00:00+00:00"}])
        if status == "PAID":
            invoices.mark_paid(invoice, now=CREATED, reference=None)
        else:
            invoice.status = status
    return invoice


def pdf_text(document: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(document))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


async def test_the_pdf_shows_what_an_accounts_team_needs(client: httpx.AsyncClient,
                                                         runtime: Any) -> None:
    invoice = await issued(runtime)
    response = await client.get(invoices.pdf_path(invoice))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    text = pdf_text(response.content)
    for expected in (f"INVOICE {invoice.number}", "Issued 7 Dec 2026", "Paid 7 Dec 2026",
                     "Acme GmbH", "Hauptstr. 1", "10115 Berlin", "Tax ID DE123456789",
                     "Erika Mustermann", "Hamburg", "Tax ID DE999",
                     "Pro · 7 Dec 2026 – 7 Jan 2027", "2 €18.00 €36.00",
                     "Subtotal €36.00", "VAT 19% €6.84", "Total €42.84", "Amount paid €42.84",
                     "Status PAID"):
        assert expected in text, (expected, text)
    assert invoice.number is not None and invoice.number.startswith("INV-2026-")


async def test_the_page_links_its_pdf_and_shows_number_parties_and_tax(
        client: httpx.AsyncClient, runtime: Any) -> None:
    invoice = await issued(runtime)
    page = (await client.get(f"/invoices/{invoice.public_id}")).text
    assert f"Invoice {invoice.number}" in page
    assert f'href="{invoices.pdf_path(invoice)}"' in page and "Download PDF" in page
    assert "Acme GmbH" in page and "Erika Mustermann" in page and "VAT 19%" in page


async def test_an_open_invoice_links_the_portal_only_when_a_pay_url_is_known(
        runtime: Any) -> None:
    invoice = await issued(runtime, status="OPEN")
    assert "Pay in the customer portal" not in pdf_text(invoice_pdf.invoice_pdf(view(invoice)))
    with_link = invoice_pdf.invoice_pdf(view(invoice, pay_url="https://billing.example.com/portal"))
    text = pdf_text(with_link)
    assert "Pay in the customer portal" in text and "Amount due €42.84" in text
    reader = pypdf.PdfReader(io.BytesIO(with_link))
    uris = [annot.get_object()["/A"]["/URI"] for annot in reader.pages[0].get("/Annots", [])]
    assert uris == ["https://billing.example.com/portal"]
    paid = await issued(runtime)
    assert view(paid, pay_url="https://billing.example.com/portal").pay_url is None


async def test_yen_and_rupees_print_without_a_float_or_a_missing_glyph(runtime: Any) -> None:
    invoice = await issued(runtime, currency="JPY", lines=[{
        "kind": "plan", "description": "Pro", "quantity": 1, "unitAmount": 2900, "amount": 2900}])
    text = pdf_text(invoice_pdf.invoice_pdf(view(invoice)))
    assert "VAT 19% ¥551" in text and "Total ¥3,451" in text  # 551.0: whole yen
    rupees = await issued(runtime, currency="INR", lines=[{
        "kind": "plan", "description": "Pro", "quantity": 1, "unitAmount": 159900, "amount": 159900}])
    assert "Subtotal INR 1,599.00" in pdf_text(invoice_pdf.invoice_pdf(view(rupees)))


async def test_an_unknown_pdf_link_is_404(client: httpx.AsyncClient, runtime: Any) -> None:
    invoice = await issued(runtime)
    for path in ("/invoices/no-such/pdf", f"/invoices/{invoice.public_id}x/pdf",
                 "/credit-notes/no-such/pdf"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert not response.content.startswith(b"%PDF")


async def test_a_page_renders_to_an_image_with_ink_on_it(runtime: Any) -> None:
    document = pypdfium2.PdfDocument(invoice_pdf.invoice_pdf(view(await issued(runtime))))
    try:
        image = document[0].render(scale=1).to_pil().convert("L")
    finally:
        document.close()
    width, height = image.size
    assert abs(width - 595) <= 1 and abs(height - 842) <= 1  # A4 at 72 dpi
    assert sum(image.histogram()[:128]) > 2000, "text is drawn"
    top = image.crop((0, 0, width, 80))
    assert sum(top.histogram()[:128]) > 0, "the heading sits at the top"


async def test_the_pay_url_hook_links_an_open_invoice_to_the_portal(runtime: Any) -> None:
    from starlette.applications import Starlette

    from billgate.web.invoices import invoice_routes

    async def portal_link(_: Any, invoice: Invoice) -> str:
        return f"https://billing.example.com/portal?invoice={invoice.number}"

    app = Starlette(routes=invoice_routes(lambda: runtime, pay_url_for=portal_link))
    open_invoice, paid = await issued(runtime, status="OPEN"), await issued(runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        page = (await client.get(f"/invoices/{open_invoice.public_id}")).text
        assert (f'href="https://billing.example.com/portal?invoice={open_invoice.number}">'
                "Pay in the customer portal</a>") in page
        pdf = (await client.get(invoices.pdf_path(open_invoice))).content
        assert "Pay in the customer portal" in pdf_text(pdf)
        assert "Pay in the customer portal" not in (await client.get(
            f"/invoices/{paid.public_id}")).text
