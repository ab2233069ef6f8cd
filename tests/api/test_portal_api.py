"""``previewSwitchSubscription``, ``payInvoice`` and ``createCustomerPortalUrl`` through the
GraphQL API (in-process app, SQLite or PostgreSQL), walked through time with the stepped
test clock of ``test_subscription_lifecycle.py``."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, update
from test_subscription_lifecycle import (
    DECLINED_CARD,
    OTHER_USER,
    USER,
    USER_ERRORS,
    SteppedClock,
    account,
    advance_to,
    buy,
    credits,
    set_card,
    subscription,
    utc,
)

from billgate.db.models import ChargeClaim, Customer, Invoice, Transaction

pytestmark = pytest.mark.usefixtures("example_catalog")

LINES = "kind description amount quantity periodStart periodEnd"
PREVIEW = f"""mutation ($input: SwitchSubscriptionInput!) {{
  previewSwitchSubscription(input: $input) {{
    preview {{ currency amountDueNow creditToAccount lines {{ {LINES} }} }} {USER_ERRORS} }} }}"""
SWITCH = f"""mutation ($input: SwitchSubscriptionInput!) {{
  switchSubscription(input: $input) {{ subscription {{ productId priceId }} {USER_ERRORS} }} }}"""
PAY = f"""mutation ($input: PayInvoiceInput!) {{
  payInvoice(input: $input) {{ invoice {{ id status amountTotal paidAt }} {USER_ERRORS} }} }}"""
PORTAL_URL = f"""mutation ($input: CreateCustomerPortalUrlInput!) {{
  createCustomerPortalUrl(input: $input) {{ url expiresAt {USER_ERRORS} }} }}"""
INVOICE_LINES = f"""query ($customer: CustomerRef!) {{ customer(customer: $customer) {{
  invoices(first: 1) {{ edges {{ node {{ amountTotal lines {{ {LINES} }} }} }} }} }} }}"""


@pytest.fixture(autouse=True)
def clock(runtime: Any) -> SteppedClock:
    from test_subscription_lifecycle import T0

    runtime.clock = SteppedClock(T0)
    return runtime.clock


async def _counts(runtime: Any) -> tuple[int, int, int]:
    async with runtime.db.read_session() as session:
        return tuple([int(await session.scalar(select(func.count()).select_from(model)) or 0)
                      for model in (Invoice, Transaction, ChargeClaim)])  # type: ignore[return-value]


async def _newest_invoice(api: Any) -> dict[str, Any]:
    data = await api.data(INVOICE_LINES, {"customer": USER})
    return data["customer"]["invoices"]["edges"][0]["node"]


@pytest.mark.parametrize(("bought", "change", "upgrade"), [
    ("pro-monthly", {"toProductId": "enterprise"}, True),
    ("pro-yearly", {"toProductId": "pro", "priceId": "pro-monthly"}, False),
])
async def test_the_preview_is_exactly_what_the_switch_writes(
        api: Any, runtime: Any, clock: SteppedClock, bought: str, change: dict[str, str],
        upgrade: bool) -> None:
    await buy(api, runtime, "pro", priceId=bought)
    await advance_to(api, clock, utc(2026, 1, 26, 7, 13, 5))  # an uneven share of the period
    input_ = {"customer": USER, "fromProductId": "pro", **change}
    before = await _counts(runtime)

    preview = (await api.data(PREVIEW, {"input": input_}))["previewSwitchSubscription"]
    assert preview["userErrors"] == [], preview
    assert await _counts(runtime) == before, "a preview writes nothing"
    shown = preview["preview"]

    switched = (await api.data(SWITCH, {"input": input_}))["switchSubscription"]
    assert switched["userErrors"] == [], switched
    written = await _newest_invoice(api)
    assert shown["lines"] == written["lines"]
    net = sum(line["amount"] for line in shown["lines"])
    assert net != 0
    if upgrade:
        assert shown["amountDueNow"] == net == written["amountTotal"] and shown["creditToAccount"] == 0
    else:
        assert shown["creditToAccount"] == -net and shown["amountDueNow"] == 0


async def test_a_preview_refuses_what_the_switch_refuses(api: Any, runtime: Any) -> None:
    await buy(api, runtime, "pro")
    payload = (await api.data(PREVIEW, {"input": {
        "customer": USER, "fromProductId": "pro", "toProductId": "credit-pack"}}))
    assert payload["previewSwitchSubscription"]["userErrors"][0]["code"] == "NOT_IN_SAME_PRODUCT_LINE"
    payload = await api.as_user("u2").data(PREVIEW, {"input": {
        "customer": USER, "fromProductId": "pro", "toProductId": "enterprise"}})
    assert payload["previewSwitchSubscription"]["userErrors"][0]["code"] == "FORBIDDEN"


async def _past_due(api: Any, runtime: Any, clock: SteppedClock) -> dict[str, Any]:
    """Pro bought on 17 January, a declining card, the February renewal failed: the open
    invoice."""
    await buy(api, runtime, "pro")
    await set_card(api, DECLINED_CARD)
    await advance_to(api, clock, utc(2026, 2, 17, 12))
    assert (await subscription(api, "pro"))["status"] == "PAST_DUE"
    [open_invoice] = [i for i in (await account(api))["invoices"] if i["status"] == "OPEN"]
    return open_invoice


async def _good_card_without_retry(runtime: Any) -> None:
    """A good default card written straight to the database: ``setTestPaymentMethod`` would
    retry the renewal itself, and these tests are about paying by hand."""
    async with runtime.db.session() as session, session.begin():
        await session.execute(update(Customer).where(Customer.customer_id == USER["customerId"])
                              .values(default_payment_method={
                                  "id": "pm_card_4242424242424242", "brand": "visa",
                                  "last4": "4242", "expMonth": 12, "expYear": 2030}))


async def test_pay_invoice_declined_leaves_it_open(api: Any, runtime: Any,
                                                   clock: SteppedClock) -> None:
    invoice = await _past_due(api, runtime, clock)
    before = await subscription(api, "pro")
    payload = (await api.as_user("u1").data(PAY, {"input": {
        "customer": USER, "invoiceId": invoice["id"]}}))["payInvoice"]
    assert [e["code"] for e in payload["userErrors"]] == ["PAYMENT_FAILED"]
    assert "declined" in payload["userErrors"][0]["message"]
    after = await subscription(api, "pro")
    assert after["status"] == "PAST_DUE"
    assert after["dunning"] == before["dunning"], "a manual try is not a dunning retry"
    [still] = [i for i in (await account(api))["invoices"] if i["id"] == invoice["id"]]
    assert still["status"] == "OPEN"


async def test_pay_invoice_makes_the_subscription_active_and_grants_the_held_credits(
        api: Any, runtime: Any, clock: SteppedClock) -> None:
    invoice = await _past_due(api, runtime, clock)
    assert await credits(api) == 0  # February's credits are held until paid
    await advance_to(api, clock, utc(2026, 2, 18, 9))
    await _good_card_without_retry(runtime)

    payload = (await api.as_user("u1").data(PAY, {"input": {
        "customer": USER, "invoiceId": invoice["id"]}}))["payInvoice"]
    assert payload["userErrors"] == [], payload
    assert payload["invoice"]["status"] == "PAID"
    assert payload["invoice"]["amountTotal"] == invoice["amountTotal"] == 1900
    sub = await subscription(api, "pro")
    assert sub["status"] == "ACTIVE"
    assert sub["currentPeriodEnd"].startswith("2026-03-17")
    assert await credits(api) == 1_000

    again = (await api.data(PAY, {"input": {"customer": USER, "invoiceId": invoice["id"]}}))
    assert again["payInvoice"]["userErrors"][0]["code"] == "INVOICE_NOT_OPEN"
    async with runtime.db.read_session() as session:
        renewals = await session.scalar(select(func.count()).select_from(Transaction)
                                        .where(Transaction.kind == "renewal"))
    assert renewals == 1


async def test_pay_invoice_of_another_customer_is_refused(api: Any, runtime: Any,
                                                          clock: SteppedClock) -> None:
    invoice = await _past_due(api, runtime, clock)
    foreign = await api.as_user("u2").data(PAY, {"input": {
        "customer": USER, "invoiceId": invoice["id"]}})
    assert foreign["payInvoice"]["userErrors"][0]["code"] == "FORBIDDEN"
    other = await api.as_user("u2").data(PAY, {"input": {
        "customer": OTHER_USER, "invoiceId": invoice["id"]}})
    assert other["payInvoice"]["userErrors"][0]["code"] == "INVOICE_NOT_FOUND"
    [still] = [i for i in (await account(api))["invoices"] if i["id"] == invoice["id"]]
    assert still["status"] == "OPEN"


async def test_portal_url_for_own_customer_or_server_only(api: Any) -> None:
    back = "https://app.example.com/account"
    own = (await api.as_user("u1").data(PORTAL_URL, {"input": {
        "customer": USER, "returnUrl": back}}))["createCustomerPortalUrl"]
    assert own["userErrors"] == [] and "/portal/enter?token=" in own["url"]
    assert own["expiresAt"]
    other = (await api.as_user("u2").data(PORTAL_URL, {"input": {
        "customer": USER, "returnUrl": back}}))["createCustomerPortalUrl"]
    assert other["url"] is None and other["userErrors"][0]["code"] == "FORBIDDEN"
    evil = (await api.data(PORTAL_URL, {"input": {
        "customer": USER, "returnUrl": "https://evil.example/"}}))["createCustomerPortalUrl"]
    assert evil["url"] is None and evil["userErrors"][0]["code"] == "RETURN_URL_NOT_ALLOWED"


async def test_an_open_invoice_links_to_a_portal_that_can_pay_it_but_not_change_plans(
        api: Any, app: Any, runtime: Any, clock: SteppedClock) -> None:
    import re

    import httpx

    await _past_due(api, runtime, clock)
    async with runtime.db.read_session() as session:
        row = await session.scalar(select(Invoice).where(Invoice.status == "OPEN"))
    assert row is not None
    pay_link = f"/portal/pay/{row.public_id}"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
        invoice_page = (await browser.get(f"/invoices/{row.public_id}")).text
        assert "Pay in the customer portal" in invoice_page and pay_link in invoice_page
        pdf = await browser.get(f"/invoices/{row.public_id}/pdf")
        assert pay_link.encode() in pdf.content  # the PDF's link annotation

        entered = await browser.get(pay_link)
        assert entered.status_code == 303 and entered.headers["location"] == "/portal"
        page = (await browser.get("/portal")).text
        assert "Pay now" in page and "Update card" in page and "Opened from an invoice" in page
        assert "Cancel plan" not in page and "Switch plan" not in page
        assert "Back to the app" not in page  # the invoice does not know the app
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        sub_id = row.purchase_id
        refused = await browser.post(f"/portal/subscriptions/{sub_id}/cancel",
                                     data={"csrf_token": token.group(1)})
        assert refused.status_code == 403 and "opened from an invoice" in refused.text
        assert (await browser.get("/portal/switch?from=pro&to=enterprise")).status_code == 403
        assert not (await subscription(api, "pro"))["cancelAtPeriodEnd"]

        await _good_card_without_retry(runtime)
        paid = await browser.post(f"/portal/invoices/{row.id}/pay",
                                  data={"csrf_token": token.group(1)})
        assert paid.status_code == 303
        assert "the invoice is paid" in (await browser.get(paid.headers["location"])).text
        assert (await subscription(api, "pro"))["status"] == "ACTIVE"
        # Paid: the link now leads to the invoice's page, and no new session is opened.
        again = await browser.get(pay_link)
        assert again.status_code == 303
        assert again.headers["location"] == f"/invoices/{row.public_id}"
        assert "set-cookie" not in again.headers


async def test_a_switch_is_taxed_as_its_preview_shows_and_its_refund_gets_a_credit_note(
        api: Any, runtime: Any, clock: SteppedClock) -> None:
    from test_real_invoices import CUSTOMER, REFUND, SETTINGS, ok
    from test_subscription_lifecycle import transactions

    await ok(api, SETTINGS, taxRates=[{"country": "DE", "name": "VAT", "percent": "19"}])
    await ok(api, CUSTOMER, customer=USER, address={"country": "DE"})
    await buy(api, runtime, "pro", priceId="pro-monthly")
    await advance_to(api, clock, utc(2026, 1, 26, 7, 13, 5))
    input_ = {"customer": USER, "fromProductId": "pro", "toProductId": "enterprise"}

    shown = (await api.data(PREVIEW, {"input": input_}))["previewSwitchSubscription"]["preview"]
    switched = (await api.data(SWITCH, {"input": input_}))["switchSubscription"]
    assert switched["userErrors"] == [], switched
    written = await _newest_invoice(api)
    assert shown["lines"] == written["lines"]
    net = sum(line["amount"] for line in shown["lines"] if line["kind"] != "tax")
    [tax] = [line for line in shown["lines"] if line["kind"] == "tax"]
    assert tax["description"] == "VAT 19%" and tax["amount"] == (net * 19 + 50) // 100 > 0
    assert shown["amountDueNow"] == net + tax["amount"] == written["amountTotal"]
    [charge] = [t for t in await transactions(api) if t["kind"] == "proration"]
    assert charge["amount"] == net + tax["amount"], "what was charged includes the tax"

    await ok(api, REFUND, transactionId=charge["id"], amount=100)
    notes = (await api.data("""query ($c: CustomerRef!) { customer(customer: $c) {
      invoices(first: 1) { edges { node { creditNotes { number amount } } } } } }""",
                            {"c": USER}))["customer"]["invoices"]["edges"][0]["node"]["creditNotes"]
    assert [note["amount"] for note in notes] == [100] and notes[0]["number"].startswith("CN-")
