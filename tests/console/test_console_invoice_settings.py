"""The console's Settings page: the invoice number prefix and the tax rates (one per line),
saved through updatePaymentSettings with its checks, shown again as saved."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from console_testing import post_form

from billgate.billing.purchases import service
from billgate.billing.taxes import TaxRate
from billgate.types import CustomerRef, CustomerType

BASE = {"grace_period_days": "7", "dunning_retry_days": "3, 5, 7"}


def error_next_to(html: str, field: str) -> str:
    match = re.search(rf'id="settings-{field}-error">([^<]+)<', html)
    assert match, f"no error next to {field}"
    return match.group(1)


async def test_prefix_and_tax_rates_are_saved_and_shown(operator: httpx.AsyncClient,
                                                        runtime: Any) -> None:
    page = await operator.get("/admin/settings")
    assert 'id="settings-invoice_number_prefix"' in page.text and 'value="INV-"' in page.text
    assert '<label for="settings-tax_rates">Tax rates</label>' in page.text
    saved = await post_form(operator, "/admin/settings", "/admin/settings", {
        **BASE, "invoice_number_prefix": "ACME-",
        "tax_rates": "de, VAT, 19%\r\n\r\n*, Sales tax, 7.5\r\n"})
    assert saved.status_code == 303
    settings = await runtime.payment_settings()
    assert settings.invoice_number_prefix == "ACME-"
    assert settings.tax_rates == (TaxRate("DE", "VAT", "19"), TaxRate("*", "Sales tax", "7.5"))
    shown = (await operator.get("/admin/settings")).text
    assert "DE, VAT, 19\n*, Sales tax, 7.5</textarea>" in shown
    assert 'value="ACME-"' in shown


async def test_a_bad_tax_line_is_shown_next_to_the_field_and_nothing_changes(
        operator: httpx.AsyncClient, runtime: Any) -> None:
    for lines, message in (("DE VAT 19", "line 1: write country, name, percent"),
                           ("DE, VAT, 19\nGermany, VAT, 19", "two-letter ISO 3166-1 code")):
        bad = await post_form(operator, "/admin/settings", "/admin/settings",
                              {**BASE, "invoice_number_prefix": "INV-", "tax_rates": lines})
        assert bad.status_code == 400
        assert message in error_next_to(bad.text, "tax_rates")
        assert lines.split("\n")[0] in bad.text, "what was typed is kept"
    bad_prefix = await post_form(operator, "/admin/settings", "/admin/settings",
                                 {**BASE, "invoice_number_prefix": "CN-", "tax_rates": ""})
    assert "credit notes" in error_next_to(bad_prefix.text, "invoice_number_prefix")
    assert (await runtime.payment_settings()).tax_rates == ()


@pytest.mark.usefixtures("example_catalog")
async def test_the_invoice_lists_show_numbers_and_pdf_links(operator: httpx.AsyncClient,
                                                            runtime: Any) -> None:
    checkout = await service.create_checkout(
        runtime.db, CustomerRef(CustomerType.USER, "u-inv"), product_id="pro", inline=None,
        price_id="pro-monthly", currency="USD", quantity=1,
        return_url="https://app.example.com/back",
        allowed_return_urls=runtime.settings.allowed_return_urls, by_server=True,
        clock=runtime.clock)
    await service.complete_checkout(runtime.db, checkout.code, rails=runtime.test_rails,
                                    clock=runtime.clock, test_mode=True)
    number = f"INV-{runtime.clock.now().year}-000001"
    for path in ("/admin/invoices", "/admin/customers/USER/u-inv"):
        page = (await operator.get(path)).text
        assert number in page, path
        assert re.search(r'href="/invoices/[^"/]+/pdf">PDF</a>', page), path
