"""``payInvoice`` clicked 20 times at once through a real ``billgate serve`` on SQLite and
on PostgreSQL: the open invoice is charged once (one recorded claim, one renewal
transaction), the subscription is ACTIVE, every other click is a clear user error, and
``billgate audit`` is clean (see ``test_billing_concurrency_http.py`` for the set-up)."""

from __future__ import annotations

from typing import Any

from servers import SERVER_KEY, Server
from sqlalchemy import update
from test_billing_concurrency_http import (  # noqa: F401 - fixtures
    Caller,
    audit,
    caller,
    counts,
    outcome,
    served,
)

from billgate.db.engine import Database
from billgate.db.models import Customer

COPIES = 20
USER_ERRORS = "userErrors { code message }"
SET_CARD = f"""mutation ($input: SetTestPaymentMethodInput!) {{
  setTestPaymentMethod(input: $input) {{ {USER_ERRORS} }} }}"""
ADVANCE = f"""mutation ($input: AdvanceTestClockInput!) {{
  advanceTestClock(input: $input) {{ now {USER_ERRORS} }} }}"""
PAY = f"""mutation ($input: PayInvoiceInput!) {{
  payInvoice(input: $input) {{ invoice {{ status }} {USER_ERRORS} }} }}"""
ACCOUNT = """query ($customer: CustomerRef!) { customer(customer: $customer) {
  subscriptions(first: 5) { edges { node { status } } }
  invoices(first: 5) { edges { node { id status } } } } }"""
MONTH_AND_AN_HOUR = 31 * 86400 + 3600  # past the first renewal, before the first retry


async def _good_card_in_database(url: str, user_id: str) -> None:
    """``setTestPaymentMethod`` with a good card would retry the renewal itself: the card is
    written straight to the database so that only the clicks below pay the invoice."""
    db = Database(url)
    try:
        async with db.session() as session, session.begin():
            await session.execute(update(Customer).where(Customer.customer_id == user_id).values(
                default_payment_method={"id": "pm_card_4242424242424242", "brand": "visa",
                                        "last4": "4242", "expMonth": 12, "expYear": 2030}))
    finally:
        await db.dispose()


async def _account(caller: Caller) -> dict[str, Any]:  # noqa: F811 - not the fixture
    response = await caller.http.post("/graphql", json={
        "query": ACCOUNT, "variables": {"customer": caller.customer}},
        headers={"Authorization": f"Bearer {caller.token}"})
    return response.json()["data"]["customer"]


async def test_pay_invoice_clicked_20_times_charges_once(
        served: tuple[Server, str], caller: Caller) -> None:  # noqa: F811 - shared fixtures
    _, url = served
    await caller.buy("pro", "pro-monthly")
    assert (await caller.post(SET_CARD, {"cardNumber": "4000000000000002"}))["userErrors"] == []
    response = await caller.http.post("/graphql", json={
        "query": ADVANCE, "variables": {"input": {"seconds": MONTH_AND_AN_HOUR}}},
        headers={"Authorization": f"Bearer {SERVER_KEY}"})
    assert response.json()["data"]["advanceTestClock"]["userErrors"] == []
    before = await _account(caller)
    assert [e["node"]["status"] for e in before["subscriptions"]["edges"]] == ["PAST_DUE"]
    [invoice] = [e["node"]["id"] for e in before["invoices"]["edges"]
                 if e["node"]["status"] == "OPEN"]
    await _good_card_in_database(url, caller.user_id)

    payloads = await caller.burst(PAY, {"invoiceId": invoice}, copies=COPIES)
    ok, codes = outcome(payloads)
    assert len(ok) == 1 and ok[0]["invoice"]["status"] == "PAID", (ok, codes)
    assert sum(codes.values()) == COPIES - 1
    assert set(codes) <= {"INVOICE_NOT_OPEN", "INVALID_INPUT"}, codes
    state = await counts(url, caller.user_id)
    assert state["transactions"]["renewal"] == 1
    # One claim is one call to the rails: the declined renewal, then the one paid click.
    assert state["claims"] == {"FAILED": 1, "RECORDED": 1}, state["claims"]
    after = await _account(caller)
    assert [e["node"]["status"] for e in after["subscriptions"]["edges"]] == ["ACTIVE"]
    audit(url)
