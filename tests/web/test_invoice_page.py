"""The hosted invoice page (``GET /invoices/{public_id}``) through the ASGI app: what it shows
for each kind of invoice, money per currency, 404 for unknown links, security headers."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from billgate.billing import customers, invoices
from billgate.billing.purchases import service
from billgate.db.models import Invoice
from billgate.types import CustomerRef, CustomerType
from billgate.web import pages

USER = CustomerRef(CustomerType.USER, "user-1")
CREATED = datetime(2026, 2, 28, 12, 0, tzinfo=UTC)
RETURN_URL = "https://app.example.com/billing/done"


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # noqa: ANN001
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def make_invoice(runtime: Any, lines: list[dict[str, Any]], *, status: str = "PAID",
                       currency: str = "USD") -> Invoice:
    """An invoice as billing writes it (``invoices.new_invoice``), in the given status."""
    async with runtime.db.session() as session, session.begin():
        customer = await customers.get_or_create(session, USER)
        invoice = invoices.new_invoice(customer.id, None, currency=currency, lines=lines,
                                       now=CREATED)
        invoice.status = status
        invoice.paid_at = CREATED if status == "PAID" else None
        session.add(invoice)
    return invoice


def plan(amount: int, *, description: str = "Pro", quantity: int = 1) -> dict[str, Any]:
    return {"kind": "plan", "description": description, "priceId": "pro-monthly",
            "quantity": quantity, "unitAmount": amount // quantity, "amount": amount,
            "periodStart": "2026-02-28T12:00:00+00:00", "periodEnd": "2026-03-31T12:00:00+00:00"}


async def get(client: httpx.AsyncClient, invoice: Invoice) -> httpx.Response:
    return await client.get(f"/invoices/{invoice.public_id}")


def text(response: httpx.Response) -> str:
    """The page's text with tags dropped and whitespace collapsed."""
    import re

    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


class TestInvoicePage:
    async def test_a_paid_renewal(self, client: httpx.AsyncClient, runtime: Any) -> None:
        response = await get(client, await make_invoice(runtime, [plan(1900)]))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        page = text(response)
        assert "Paid on 28 Feb 2026" in page
        assert "Issued 28 Feb 2026" in page
        assert "Pro · 28 Feb 2026 – 31 Mar 2026 (1 × $19.00) $19.00" in page
        assert "Subtotal $19.00" in page and "Total $19.00" in page
        assert "Amount paid $19.00" in page
        assert "Account credit" not in page
        assert "Invoice hosted by billgate" in page and "checkout" not in page.lower()

    async def test_a_renewal_paid_partly_with_account_credit(
            self, client: httpx.AsyncClient, runtime: Any) -> None:
        lines = [plan(1900), {"kind": "credit", "description": "Account credit applied",
                              "amount": -857}]
        page = text(await get(client, await make_invoice(runtime, lines)))
        assert "Account credit applied -$8.57" in page
        assert page.count("Account credit applied") == 1, "shown once, under the totals"
        assert "Subtotal $19.00" in page and "Total $10.43" in page

    async def test_a_downgrade_shows_both_prorations_and_the_credit_kept(
            self, client: httpx.AsyncClient, runtime: Any) -> None:
        lines = [{"kind": "proration_credit", "description": "Unused time on Enterprise",
                  "amount": -6667},
                 {"kind": "proration_debit", "description": "Remaining time on Pro",
                  "amount": 1280}]
        page = text(await get(client, await make_invoice(runtime, lines)))
        assert "Unused time on Enterprise -$66.67" in page
        assert "Remaining time on Pro $12.80" in page
        assert "Subtotal -$53.87" in page and "Total $0.00" in page
        assert "$53.87 was added to your account credit" in page

    async def test_yen_have_no_decimals_and_quantities_show_the_unit_price(
            self, client: httpx.AsyncClient, runtime: Any) -> None:
        invoice = await make_invoice(runtime, [plan(8700, quantity=3)], currency="JPY")
        page = text(await get(client, invoice))
        assert "3 × ¥2,900" in page and "Total ¥8,700" in page
        assert "¥8,700." not in page and ".00" not in page

    @pytest.mark.parametrize(("status", "wording", "amount_row"), [
        ("OPEN", "Payment due", "Amount due $19.00"),
        ("UNCOLLECTIBLE", "Payment failed: this invoice could not be collected", None),
        ("VOID", "Void: nothing is owed on this invoice", None),
    ])
    async def test_unpaid_statuses(self, client: httpx.AsyncClient, runtime: Any, status: str,
                                   wording: str, amount_row: str | None) -> None:
        page = text(await get(client, await make_invoice(runtime, [plan(1900)], status=status)))
        assert wording in page
        assert "Paid on" not in page and "Amount paid" not in page
        if amount_row:
            assert amount_row in page

    async def test_text_from_the_catalog_is_escaped(self, client: httpx.AsyncClient,
                                                    runtime: Any) -> None:
        response = await get(client, await make_invoice(
            runtime, [plan(1900, description="<script>alert(1)</script>")]))
        assert "<script>" not in response.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text

    async def test_the_security_headers_of_every_hosted_page(
            self, client: httpx.AsyncClient, runtime: Any) -> None:
        found = await get(client, await make_invoice(runtime, [plan(1900)]))
        missing = await client.get("/invoices/no-such-invoice")
        for response in (found, missing):
            for name, value in pages.security_headers().items():
                assert response.headers[name] == value, name
        assert "script-src" not in found.headers["Content-Security-Policy"]  # default 'self', no inline

    async def test_an_unknown_link_is_404(self, client: httpx.AsyncClient, runtime: Any) -> None:
        invoice = await make_invoice(runtime, [plan(1900)])
        for path in ("/invoices/no-such-invoice", f"/invoices/{invoice.public_id[:-1]}",
                     f"/invoices/{invoice.public_id}x"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert "Invoice not found" in text(response)
            assert "$19.00" not in response.text

    @pytest.mark.usefixtures("example_catalog")
    async def test_the_link_in_the_api_opens_the_page(self, client: httpx.AsyncClient,
                                                      api: Any, runtime: Any) -> None:
        checkout = await service.create_checkout(
            runtime.db, USER, product_id="pro", inline=None, price_id="pro-monthly",
            currency="JPY", quantity=1, return_url=RETURN_URL,
            allowed_return_urls=runtime.settings.allowed_return_urls, by_server=True,
            clock=runtime.clock)
        await service.complete_checkout(runtime.db, checkout.code, rails=runtime.test_rails,
                                        clock=runtime.clock, test_mode=True)
        data = await api.data("""query { customer(customer: {type: USER, customerId: "user-1"}) {
            invoices { edges { node { hostedInvoiceUrl } } } } }""")
        [edge] = data["customer"]["invoices"]["edges"]
        url = edge["node"]["hostedInvoiceUrl"]
        assert url.startswith(f"{runtime.settings.base_url}/invoices/")
        response = await client.get(httpx.URL(url).path)
        assert response.status_code == 200
        page = text(response)
        assert "(1 × ¥2,900) ¥2,900" in page and "Paid on" in page
        assert "Pro · " in page, "a subscription's first invoice names its period"
        assert "TEST MODE" in page
