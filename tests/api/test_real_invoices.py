"""Real invoices through the API: numbers given when an invoice is issued and kept, the
seller and buyer as they were then, exclusive tax by the buyer's country at checkout (shown
on the hosted checkout page before paying) and at renewals, and the settings and customer
fields behind them."""

from __future__ import annotations

import io
from typing import Any

import pypdf
import pytest

from billgate.billing.purchases import service

pytestmark = pytest.mark.usefixtures("example_catalog")

USER = {"type": "USER", "customerId": "u-real"}
RETURN_URL = "https://app.example.com/billing/done"
MONTH = 31 * 24 * 3600
ERRORS = "userErrors { code message field }"

SETTINGS = f"""mutation ($input: UpdatePaymentSettingsInput!) {{
  updatePaymentSettings(input: $input) {{
    settings {{ invoiceNumberPrefix taxRates {{ country name percent }}
                seller {{ name email taxId address {{ line1 city country }} }} }}
    {ERRORS} }} }}"""
CUSTOMER = f"""mutation ($input: UpdateCustomerInput!) {{
  updateCustomer(input: $input) {{ {ERRORS} }} }}"""
CHECKOUT = f"""mutation ($input: CreateCheckoutUrlInput!) {{
  createCheckoutUrl(input: $input) {{ url {ERRORS} }} }}"""
ADVANCE = f"""mutation ($input: AdvanceTestClockInput!) {{
  advanceTestClock(input: $input) {{ now {ERRORS} }} }}"""
INVOICES = """query ($customer: CustomerRef!) { customer(customer: $customer) { invoices {
  edges { node { number createdAt status amountTotal subtotal discount tax currency pdfUrl hostedInvoiceUrl
                 seller { name taxId address { country } } buyer { name taxId address { city country } }
                 lines { kind description amount periodStart periodEnd }
                 creditNotes { number amount pdfUrl } } } } } }"""


async def ok(api: Any, document: str, **input: Any) -> dict[str, Any]:
    payload = next(iter((await api.data(document, {"input": input})).values()))
    assert payload["userErrors"] == [], payload
    return payload


async def invoices_of(api: Any, customer: dict[str, str] = USER) -> list[dict[str, Any]]:
    data = await api.data(INVOICES, {"customer": customer})
    return [edge["node"] for edge in data["customer"]["invoices"]["edges"]]  # newest first


async def checkout_code(api: Any, product_id: str, price_id: str, **fields: Any) -> str:
    made = await ok(api, CHECKOUT, customer=USER, productId=product_id, priceId=price_id,
                    returnUrl=RETURN_URL, **fields)
    return str(made["url"]).rsplit("/", 1)[-1]


async def complete(runtime: Any, code: str) -> None:
    await service.complete_checkout(runtime.db, code, rails=runtime.test_rails,
                                    clock=runtime.clock, test_mode=True, bus=runtime.bus)


async def seller_and_rates(api: Any) -> None:
    await ok(api, SETTINGS, sellerName="Acme GmbH", sellerTaxId="DE123456789",
             sellerAddress={"line1": "Hauptstr. 1", "city": "Berlin", "country": "de"},
             taxRates=[{"country": "DE", "name": "VAT", "percent": "19"},
                       {"country": "*", "name": "Sales tax", "percent": "10"}])


async def test_a_checkout_adds_the_buyers_tax_shows_it_first_and_numbers_the_invoice(
        api: Any, runtime: Any, app: Any) -> None:
    await seller_and_rates(api)
    await ok(api, CUSTOMER, customer=USER, name="Erika Mustermann", taxId="DE999",
             address={"line1": "Weg 2", "city": "Hamburg", "country": "DE"})
    code = await checkout_code(api, "pro", "pro-monthly", currency="EUR")

    page = await api.client.get(f"/checkout/{code}")
    assert page.status_code == 200
    assert "VAT 19%" in page.text and "€3.42" in page.text and "€21.42" in page.text  # 18.00 + 19%

    await complete(runtime, code)
    [invoice] = await invoices_of(api)
    assert invoice["status"] == "PAID"
    assert (invoice["subtotal"], invoice["discount"], invoice["tax"], invoice["amountTotal"]) == (
        1800, 0, 342, 2142)
    year = runtime.clock.now().year
    assert invoice["number"] == f"INV-{year}-000001"
    assert [line["kind"] for line in invoice["lines"]] == ["plan", "tax"]
    assert invoice["seller"] == {"name": "Acme GmbH", "taxId": "DE123456789",
                                 "address": {"country": "DE"}}
    assert invoice["buyer"] == {"name": "Erika Mustermann", "taxId": "DE999",
                                "address": {"city": "Hamburg", "country": "DE"}}
    assert invoice["pdfUrl"] == invoice["hostedInvoiceUrl"] + "/pdf"


async def test_renewals_are_taxed_and_numbered_in_order_and_issued_invoices_keep_their_parties(
        api: Any, runtime: Any) -> None:
    await seller_and_rates(api)
    await ok(api, CUSTOMER, customer=USER, address={"country": "FR"})  # "*" applies: 10%
    await complete(runtime, await checkout_code(api, "pro", "pro-monthly"))
    await ok(api, SETTINGS, sellerName="Acme Inc.")       # later changes...
    await ok(api, CUSTOMER, customer=USER, name="Renamed")
    await ok(api, ADVANCE, seconds=MONTH)
    first, second = reversed(await invoices_of(api))
    years = [first["createdAt"][:4], second["createdAt"][:4]]
    # One sequence per prefix and year: a renewal in the next year starts at 000001.
    assert [first["number"], second["number"]] == [
        f"INV-{years[0]}-000001", f"INV-{years[1]}-{2 if years[0] == years[1] else 1:06d}"]
    assert first["seller"]["name"] == "Acme GmbH" and first["buyer"]["name"] is None  # ...not here
    assert second["seller"]["name"] == "Acme Inc." and second["buyer"]["name"] == "Renamed"
    assert second["lines"][0]["kind"] == "plan" and second["lines"][0]["periodStart"]
    assert (second["subtotal"], second["tax"], second["amountTotal"]) == (1900, 190, 2090)


async def test_without_a_matching_rate_there_is_no_tax_line(api: Any, runtime: Any) -> None:
    await ok(api, SETTINGS, taxRates=[{"country": "DE", "name": "VAT", "percent": "19"}])
    await ok(api, CUSTOMER, customer=USER, address={"country": "US"})
    await complete(runtime, await checkout_code(api, "pro", "pro-monthly"))
    [invoice] = await invoices_of(api)
    assert invoice["tax"] == 0 and [line["kind"] for line in invoice["lines"]] == ["plan"]
    assert invoice["amountTotal"] == 1900


async def test_a_jpy_tax_is_whole_yen(api: Any, runtime: Any) -> None:
    await ok(api, SETTINGS, taxRates=[{"country": "JP", "name": "Consumption tax", "percent": "8"}])
    await ok(api, CUSTOMER, customer=USER, address={"country": "JP"})
    await complete(runtime, await checkout_code(api, "pro", "pro-monthly", currency="JPY"))
    [invoice] = await invoices_of(api)
    assert (invoice["subtotal"], invoice["tax"], invoice["amountTotal"]) == (2900, 232, 3132)


async def test_a_custom_prefix_starts_its_own_sequence(api: Any, runtime: Any) -> None:
    await complete(runtime, await checkout_code(api, "pro", "pro-monthly"))
    settings = await ok(api, SETTINGS, invoiceNumberPrefix="ACME-")
    assert settings["settings"]["invoiceNumberPrefix"] == "ACME-"
    await ok(api, ADVANCE, seconds=MONTH)
    numbers = [(invoice["number"], invoice["createdAt"][:4]) for invoice in await invoices_of(api)]
    assert [number for number, _ in numbers] == [f"ACME-{numbers[0][1]}-000001",
                                                 f"INV-{numbers[1][1]}-000001"]


@pytest.mark.parametrize(("input", "field"), [
    ({"invoiceNumberPrefix": ""}, ["invoiceNumberPrefix"]),
    ({"invoiceNumberPrefix": "CN-"}, ["invoiceNumberPrefix"]),
    ({"invoiceNumberPrefix": "has space"}, ["invoiceNumberPrefix"]),
    ({"taxRates": [{"country": "Germany", "name": "VAT", "percent": "19"}]},
     ["taxRates", "0", "country"]),
    ({"taxRates": [{"country": "DE", "name": "VAT", "percent": "19.5%"}]},
     ["taxRates", "0", "percent"]),
])
async def test_bad_settings_are_refused_and_change_nothing(api: Any, input: dict[str, Any],
                                                           field: list[str]) -> None:
    payload = (await api.data(SETTINGS, {"input": input}))["updatePaymentSettings"]
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID_INPUT", field)]
    after = await ok(api, SETTINGS)
    assert after["settings"]["invoiceNumberPrefix"] == "INV-"
    assert after["settings"]["taxRates"] == []


@pytest.mark.parametrize(("input", "field"), [
    ({"address": {"country": "Germany"}}, ["address", "country"]),
    ({"name": "x" * 201}, ["name"]),
    ({"taxId": "x" * 51}, ["taxId"]),
])
async def test_bad_customer_details_are_refused(api: Any, input: dict[str, Any],
                                                field: list[str]) -> None:
    payload = (await api.data(CUSTOMER, {"input": {"customer": USER, **input}}))["updateCustomer"]
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID_INPUT", field)]


async def test_clients_cannot_set_tax_rates(api: Any) -> None:
    body = await api.as_user("u-real")(SETTINGS, {"input": {"taxRates": []}})
    payload = (body.get("data") or {}).get("updatePaymentSettings")
    assert body.get("errors") or payload["userErrors"][0]["code"] == "FORBIDDEN"


REFUND = f"""mutation ($input: RefundTransactionInput!) {{
  refundTransaction(input: $input) {{ refund {{ id amount }} {ERRORS} }} }}"""
TRANSACTIONS = """query ($customer: CustomerRef!) { customer(customer: $customer) {
  transactions { edges { node { id kind } } } } }"""


async def test_each_refund_of_an_invoiced_charge_gets_a_numbered_credit_note_with_a_pdf(
        api: Any, runtime: Any, app: Any) -> None:
    await complete(runtime, await checkout_code(api, "pro", "pro-monthly"))
    data = await api.data(TRANSACTIONS, {"customer": USER})
    [charge] = [edge["node"]["id"] for edge in data["customer"]["transactions"]["edges"]
                if edge["node"]["kind"] == "purchase"]
    await ok(api, REFUND, transactionId=charge, amount=500)
    await ok(api, REFUND, transactionId=charge)  # the rest: 1400
    [invoice] = await invoices_of(api)
    notes = invoice["creditNotes"]
    year = invoice["createdAt"][:4]
    assert [(note["number"], note["amount"]) for note in notes] == [
        (f"CN-{year}-000001", 500), (f"CN-{year}-000002", 1400)]
    assert invoice["number"] == f"INV-{year}-000001", "credit notes have their own sequence"
    assert invoice["status"] == "PAID"
    url = notes[0]["pdfUrl"]
    assert url.startswith(f"{runtime.settings.base_url}/credit-notes/") and url.endswith("/pdf")
    assert len(url.split("/credit-notes/")[1]) > 30, "unguessable"
    response = await api.client.get(url.removeprefix(runtime.settings.base_url))
    assert response.headers["content-type"] == "application/pdf"
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(response.content)).pages)
    assert f"CN-{year}-000001" in text and invoice["number"] in text and "$5.00" in text
