"""A plan's final overage invoice gets paid (``billing/subscriptions/final_invoices.py``): the
end issues it OPEN, the scheduler's ``invoice.final_charge`` job charges it to the default
card after the end has committed (once), a decline leaves it OPEN with the payment-failed
email and ``invoice.payment_failed``, and ``payInvoice`` pays it. Walked through the test
clock with the GraphQL API (helpers of ``test_overage`` / ``test_subscription_lifecycle``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select, update
from test_overage import USD_UNIT, audit_is_clean, overage_lines, spend, subscribe
from test_subscription_lifecycle import (
    DECLINED_CARD,
    GOOD_CARD,
    SECOND,
    T0,
    USER,
    SteppedClock,
    advance_to,
    invoices,
    ok,
    set_card,
    subscription,
    transactions,
)

from billgate.billing import audit, charges
from billgate.billing.subscriptions import final_invoices
from billgate.db.models import ChargeClaim, Customer, EmailOutbox, WebhookEvent
from billgate.scheduler.runner import run_due

pytestmark = [pytest.mark.usefixtures("example_catalog"), pytest.mark.timeout(120)]

PAY = """mutation ($input: PayInvoiceInput!) {
  payInvoice(input: $input) { invoice { id status amountTotal paidAt }
                              userErrors { code message field } } }"""
REFUND = """mutation ($input: RefundTransactionInput!) {
  refundTransaction(input: $input) { refund { id amount } userErrors { code message field } } }"""
DEBT = 12  # credits used beyond the plan's 100


@pytest.fixture(autouse=True)
def clock(runtime: Any) -> SteppedClock:
    runtime.clock = SteppedClock(T0)
    return runtime.clock


async def with_email(runtime: Any) -> None:
    async with runtime.db.session() as session, session.begin():
        await session.execute(update(Customer).where(Customer.customer_id == USER["customerId"])
                              .values(email="u1@example.com"))


async def count(runtime: Any, model: Any, *where: Any) -> int:
    async with runtime.db.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where))
                   or 0)


async def emails(runtime: Any, template: str) -> list[dict[str, Any]]:
    async with runtime.db.read_session() as session:
        return [e.context for e in await session.scalars(
            select(EmailOutbox).where(EmailOutbox.template == template)
            .order_by(EmailOutbox.id))]


async def invoice_events(runtime: Any, event_type: str, invoice_id: str) -> int:
    async with runtime.db.read_session() as session:
        rows = await session.scalars(select(WebhookEvent).where(WebhookEvent.type == event_type))
        return sum(1 for e in rows if str(e.payload["data"]["invoice"]["id"]) == invoice_id)


async def final_claims(runtime: Any) -> list[ChargeClaim]:
    async with runtime.db.read_session() as session:
        return list((await session.scalars(select(ChargeClaim).where(
            ChargeClaim.operation == charges.FINAL_INVOICE).order_by(ChargeClaim.id))).all())


async def ended_with_debt(api: Any, runtime: Any, clock: SteppedClock,
                          card: str = GOOD_CARD) -> dict[str, Any]:
    """Metered bought, 12 credits of overage used, then canceled now: the final invoice,
    OPEN (the cancel itself never charges)."""
    await subscribe(api, runtime)
    await with_email(runtime)
    await set_card(api, card)
    assert (await spend(api, 100 + DEBT))["success"] is True
    await advance_to(api, clock, T0 + 2 * 86400 * SECOND)
    await ok(api, "cancelSubscription", productId="metered", immediately=True)
    assert (await subscription(api, "metered"))["status"] == "CANCELED"
    final = (await invoices(api))[0]
    assert final["status"] == "OPEN" and overage_lines(final) == [(DEBT, DEBT * USD_UNIT)]
    return final


def renewal_charges(txs: list[dict[str, Any]], amount: int) -> list[dict[str, Any]]:
    return [t for t in txs if t["kind"] == "renewal" and t["amount"] == amount]


async def test_cancel_now_with_debt_charges_the_final_invoice_once(
        api: Any, runtime: Any, clock: SteppedClock) -> None:
    final = await ended_with_debt(api, runtime, clock)
    receipts = len(await emails(runtime, "payment_receipt"))
    await advance_to(api, clock, clock.now() + SECOND)  # the scheduler runs
    billing = await runtime.billing()
    await run_due(billing, clock.now())  # and again: nothing more
    await asyncio.gather(final_invoices.run_due(billing, clock.now()),
                         final_invoices.run_due(billing, clock.now()))

    [paid] = [i for i in await invoices(api) if i["id"] == final["id"]]
    assert paid["status"] == "PAID" and paid["paidAt"] is not None
    amount = DEBT * USD_UNIT
    assert paid["amountTotal"] == amount
    assert len(renewal_charges(await transactions(api), amount)) == 1
    assert [c.status for c in await final_claims(runtime)] == ["RECORDED"]
    assert len(await emails(runtime, "payment_receipt")) == receipts + 1
    assert await invoice_events(runtime, "invoice.paid", final["id"]) == 1
    assert await emails(runtime, "payment_failed") == []
    await audit_is_clean(runtime)

    [claim] = await final_claims(runtime)  # the audit would see a second charge
    async with runtime.db.session() as session, session.begin():
        session.add(ChargeClaim(**{c.name: getattr(claim, c.name) for c in
                                   ChargeClaim.__table__.columns if c.name != "id"}
                                | {"idempotency_key": claim.idempotency_key + ":twin"}))
    async with runtime.db.read_session() as session:
        found = await audit.run(session)
    assert [(v.check, v.detail) for v in found] == [
        ("final-invoices", f"invoice {claim.invoice_id} charged twice")]


async def test_a_decline_leaves_it_open_with_an_email_and_pay_invoice_pays_it(
        api: Any, runtime: Any, clock: SteppedClock) -> None:
    final = await ended_with_debt(api, runtime, clock, card=DECLINED_CARD)
    await advance_to(api, clock, clock.now() + SECOND)
    await advance_to(api, clock, clock.now() + 3 * 86400 * SECOND)  # tried once, not again

    [still] = [i for i in await invoices(api) if i["id"] == final["id"]]
    assert still["status"] == "OPEN"
    [failed] = await emails(runtime, "payment_failed")
    assert failed["final_invoice"] is True and "declined" in failed["reason"]
    assert await invoice_events(runtime, "invoice.payment_failed", final["id"]) == 1
    assert [c.status for c in await final_claims(runtime)] == ["FAILED"]
    await audit_is_clean(runtime)

    user = api.as_user("u1")
    refused = (await user.data(PAY, {"input": {"customer": USER,
                                               "invoiceId": final["id"]}}))["payInvoice"]
    assert [e["code"] for e in refused["userErrors"]] == ["PAYMENT_FAILED"]
    assert len(await emails(runtime, "payment_failed")) == 1, "a try by hand sends no email"

    await set_card(api, GOOD_CARD)
    payload = (await user.data(PAY, {"input": {"customer": USER,
                                               "invoiceId": final["id"]}}))["payInvoice"]
    assert payload["userErrors"] == [], payload
    assert payload["invoice"]["status"] == "PAID"
    assert payload["invoice"]["amountTotal"] == DEBT * USD_UNIT
    again = (await user.data(PAY, {"input": {"customer": USER,
                                             "invoiceId": final["id"]}}))["payInvoice"]
    assert [e["code"] for e in again["userErrors"]] == ["INVOICE_NOT_OPEN"]
    assert len(renewal_charges(await transactions(api), DEBT * USD_UNIT)) == 1
    assert await invoice_events(runtime, "invoice.paid", final["id"]) == 1
    await audit_is_clean(runtime)


async def test_a_refund_that_ends_the_plan_charges_its_final_invoice(
        api: Any, runtime: Any, clock: SteppedClock) -> None:
    await subscribe(api, runtime)
    await set_card(api, GOOD_CARD)
    assert (await spend(api, 100 + DEBT))["success"] is True
    [bought] = [t for t in await transactions(api) if t["kind"] == "purchase"]
    payload = (await api.data(REFUND, {"input": {"transactionId": bought["id"],
                                                 "revokeGrants": True}}))["refundTransaction"]
    assert payload["userErrors"] == [], payload
    assert (await subscription(api, "metered"))["status"] == "CANCELED"
    final = (await invoices(api))[0]
    assert final["status"] == "OPEN" and overage_lines(final) == [(DEBT, DEBT * USD_UNIT)]

    await advance_to(api, clock, clock.now() + SECOND)
    [paid] = [i for i in await invoices(api) if i["id"] == final["id"]]
    assert paid["status"] == "PAID"
    assert len(renewal_charges(await transactions(api), DEBT * USD_UNIT)) == 1
    await audit_is_clean(runtime)


async def test_a_run_that_died_after_the_charge_is_recorded_once_by_the_recovery(
        api: Any, runtime: Any, clock: SteppedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    final = await ended_with_debt(api, runtime, clock)
    billing = await runtime.billing()

    async def died(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the process died after the charge")

    monkeypatch.setattr(final_invoices, "settle", died)
    with pytest.raises(RuntimeError):
        await final_invoices.run_due(billing, clock.now())
    monkeypatch.undo()
    [claim] = await final_claims(runtime)
    assert claim.status == "PENDING"
    await run_due(billing, clock.now())  # lease not over yet: left alone, not charged again
    assert [c.status for c in await final_claims(runtime)] == ["PENDING"]

    async with runtime.db.session() as session, session.begin():  # the lease runs out
        await session.execute(update(ChargeClaim).where(ChargeClaim.id == claim.id)
                              .values(lease_until=claim.created_at.replace(year=2000)))
    await run_due(billing, clock.now())
    await run_due(billing, clock.now())
    [paid] = [i for i in await invoices(api) if i["id"] == final["id"]]
    assert paid["status"] == "PAID"
    assert [c.status for c in await final_claims(runtime)] == ["RECORDED"]
    assert len(renewal_charges(await transactions(api), DEBT * USD_UNIT)) == 1
    assert await invoice_events(runtime, "invoice.paid", final["id"]) == 1
    await audit_is_clean(runtime)
