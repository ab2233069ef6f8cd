#!/usr/bin/env python3
"""Images of an invoice for docs/invoices.md: its PDF's first page rendered to PNG with
pypdfium2 (from PyPI; no poppler), and the PDF itself.

    .venv/bin/python scripts/invoice_docs.py [OUT_DIR]   # default docs/invoices

The invoice is made through billgate's own billing functions on a throwaway SQLite
database: a seller and a German VAT rate in the payment settings, a buyer with a name,
address and tax id, and a Pro subscription for two seats with account credit applied.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pypdfium2

from billgate.billing import customer_details, customers, invoices, payment_settings
from billgate.billing.taxes import TaxRate
from billgate.db.engine import Database
from billgate.db.migrate import upgrade_async
from billgate.types import CustomerRef, CustomerType
from billgate.web.invoice_pdf import invoice_pdf
from billgate.web.invoice_view import view

ROOT = Path(__file__).resolve().parents[1]
WHEN = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


async def make_pdf(folder: Path) -> bytes:
    url = f"sqlite+aiosqlite:///{folder / 'docs.db'}"
    await upgrade_async(url)
    db = Database(url)
    try:
        await payment_settings.save(db, seller={
            "name": "Acme Software GmbH", "email": "billing@acme.example", "tax_id": "DE123456789",
            "address": {"line1": "Hauptstraße 1", "postal_code": "10115", "city": "Berlin",
                        "country": "DE"}}, tax_rates=[TaxRate("DE", "VAT", "19")])
        ref = CustomerRef(CustomerType.TEAM, "team-42")
        await customer_details.update(db, ref, {
            "name": "Beispiel AG", "email": "accounts@beispiel.example", "tax_id": "DE987654321",
            "address": {"line1": "Am Hafen 5", "postal_code": "20457", "city": "Hamburg",
                        "country": "DE"}})
        async with db.session() as session, session.begin():
            customer = await customers.get_or_create(session, ref)
            await invoices.add_credit(session, customer.id, "EUR", 500)
            invoice = await invoices.create(session, customer, None, currency="EUR", now=WHEN, lines=[
                {"kind": "plan", "description": "Pro", "quantity": 2, "unitAmount": 1800,
                 "amount": 3600, "periodStart": WHEN.isoformat(),
                 "periodEnd": WHEN.replace(year=2027, month=1).isoformat()}])
            invoices.mark_paid(invoice, now=WHEN, reference=None)
        return invoice_pdf(view(invoice))
    finally:
        await db.dispose()


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "invoices"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        document = asyncio.run(make_pdf(Path(folder)))
    (out / "invoice.pdf").write_bytes(document)
    pdf = pypdfium2.PdfDocument(document)
    try:
        pdf[0].render(scale=1.5).to_pil().save(out / "invoice.png")
    finally:
        pdf.close()
    print(f"wrote {out / 'invoice.pdf'} and {out / 'invoice.png'}")


if __name__ == "__main__":
    main()
