"""The email outbox delivered to a real SMTP server (aiosmtpd in the test process): receipts
and payment failures produced by real billing, outages, concurrent senders, the log
fallback and template overrides."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from smtp_testing import SmtpServer, free_port
from sqlalchemy import select, update

from billgate.clock import utcnow
from billgate.db.engine import Database
from billgate.db.models import Customer, EmailOutbox, Purchase
from billgate.notifications import outbox
from billgate.notifications.sender import (
    BACKOFF_AFTER,
    backoff,
    parse_smtp_url,
    render,
    send_due,
)

SENDER = "Billing <billing@shop.example>"
USER = {"type": "USER", "customerId": "mail-user"}
DECLINE = "4000000000000002"
SUCCEED = "4242424242424242"

UPDATE_CUSTOMER = """mutation($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) { userErrors { code message } } }"""
GRANT = """mutation($input: GrantProductInput!) {
  grantProduct(input: $input) { subscription { status currentPeriodEnd } userErrors { code message } } }"""
SET_CARD = """mutation($input: SetTestPaymentMethodInput!) {
  setTestPaymentMethod(input: $input) { userErrors { code message } } }"""
ADVANCE = """mutation($seconds: Int!) {
  advanceTestClock(input: {seconds: $seconds}) { now userErrors { code message } } }"""


async def _send(db: Database, url: str | None, *, now: datetime | None = None,
                templates_dir: str | Path | None = None, limit: int = 50) -> int:
    return await send_due(db, smtp_url=url, sender=SENDER, templates_dir=templates_dir,
                          now=now or utcnow(), limit=limit)


async def _outbox(db: Database) -> list[EmailOutbox]:
    async with db.read_session() as session:
        return list(await session.scalars(select(EmailOutbox).order_by(EmailOutbox.id)))


async def _queue(db: Database, count: int, *, email: str = "buyer@example.com",
                 now: datetime | None = None) -> None:
    """``count`` receipts of 19.00 USD queued the way billing queues them."""
    now = now or utcnow()
    async with db.session() as session, session.begin():
        customer = Customer(type="USER", customer_id=f"queued-{email}", email=email)
        session.add(customer)
        await session.flush()
        for n in range(count):
            outbox.enqueue(session, customer, outbox.RECEIPT, {
                "customer": customer.customer_id, "invoice": f"inv_{n}", "amount": "19.00",
                "currency": "USD", "url": f"https://billing.example/invoices/inv_{n}",
                "lines": [{"kind": "plan", "description": "Pro", "amount": 1900, "quantity": 1,
                           "periodStart": "2026-01-31T12:00:00+00:00",
                           "periodEnd": "2026-02-28T12:00:00+00:00"}]}, now=now)


# Real billing: a declined renewal, then a successful retry -------------------------------------


async def test_receipt_and_failure_from_real_billing_arrive(api, runtime, db, example_catalog,
                                                            smtp: SmtpServer) -> None:
    data = await api.data(UPDATE_CUSTOMER, {"input": {"customer": USER, "email": "ada@example.com"}})
    assert data["updateCustomer"]["userErrors"] == []
    grant = {"customer": USER, "productId": "pro", "priceId": "pro-monthly"}
    granted = (await api.data(GRANT, {"input": grant}))["grantProduct"]
    assert granted["userErrors"] == [] and granted["subscription"]["status"] == "ACTIVE"
    period_end = datetime.fromisoformat(granted["subscription"]["currentPeriodEnd"])
    async with db.session() as session, session.begin():  # renewed as a bought plan is (a
        # grant is never charged), without a checkout's purchase receipt in the outbox
        await session.execute(update(Purchase).values(origin="checkout"))
    declined = await api.data(SET_CARD, {"input": {"customer": USER, "cardNumber": DECLINE}})
    assert declined["setTestPaymentMethod"]["userErrors"] == []

    # A month on: the renewal is declined (one failure email, nothing retried yet).
    seconds = int((period_end - runtime.clock.now()).total_seconds()) + 60
    advanced = await api.data(ADVANCE, {"seconds": seconds})
    assert advanced["advanceTestClock"]["userErrors"] == []
    assert [row.template for row in await _outbox(db)] == [outbox.PAYMENT_FAILED]

    # A working card retries at once: paid, one receipt.
    await api.data(SET_CARD, {"input": {"customer": USER, "cardNumber": SUCCEED}})
    rows = await _outbox(db)
    assert [row.template for row in rows] == [outbox.PAYMENT_FAILED, outbox.RECEIPT]
    assert all(row.sent_at is None and row.to_address == "ada@example.com" for row in rows)

    assert await _send(db, smtp.url, now=runtime.clock.now()) == 2

    failed, receipt = smtp.messages
    assert failed.recipients == ["ada@example.com"] and receipt.recipients == ["ada@example.com"]
    assert str(failed.message["To"]) == "ada@example.com"
    assert str(failed.message["From"]) == SENDER
    assert failed.subject == "Payment of 19.00 USD failed"
    assert "19.00 USD" in failed.text
    assert "Your card was declined." in failed.text  # the reason
    assert "retry" in failed.text and "update your payment method" in failed.text  # what's next
    assert "19.00 USD" in failed.html

    number = rows[1].context["number"]
    assert number and number.startswith("INV-")
    assert receipt.subject == f"Receipt for 19.00 USD (invoice {number})"
    assert f"Invoice: {number}" in receipt.text
    assert f"Invoice {rows[0].context['number']}" in failed.text  # the renewal's open invoice
    assert "Amount paid: 19.00 USD" in receipt.text
    assert "- Pro" in receipt.text and ": 19.00 USD" in receipt.text  # the invoice line
    invoice_url = rows[1].context["url"]
    assert invoice_url.startswith(f"{runtime.settings.base_url}/invoices/")
    assert invoice_url in receipt.text and f'href="{invoice_url}"' in receipt.html
    assert f"Download it as a PDF: {invoice_url}/pdf" in receipt.text
    assert f'href="{invoice_url}/pdf"' in receipt.html
    assert receipt.message["Message-ID"] != failed.message["Message-ID"]

    assert all(row.sent_at is not None and row.attempts == 0 for row in await _outbox(db))
    assert await _send(db, smtp.url, now=runtime.clock.now()) == 0  # nothing twice
    assert len(smtp.messages) == 2


# Outages, leases, concurrency ------------------------------------------------------------------


async def test_an_outage_keeps_the_email_and_a_later_send_delivers_it_once(db: Database) -> None:
    port = free_port()  # nothing listens here yet
    await _queue(db, 1)
    now = utcnow()

    assert await _send(db, f"smtp://127.0.0.1:{port}", now=now) == 0

    [row] = await _outbox(db)
    assert row.sent_at is None and row.attempts == 1 and row.lease_until is None
    assert row.next_attempt_at == now + timedelta(minutes=1) and row.next_attempt_at > utcnow()
    assert row.last_error and f"127.0.0.1:{port}" in row.last_error

    with SmtpServer(port) as server:
        # Not due yet: the backoff holds even though the server is back.
        assert await _send(db, server.url, now=now + timedelta(seconds=30)) == 0
        assert await _send(db, server.url, now=now + timedelta(minutes=1)) == 1
        assert await _send(db, server.url, now=now + timedelta(hours=1)) == 0
        assert len(server.messages) == 1
        assert server.messages[0].subject == "Receipt for 19.00 USD"
    [row] = await _outbox(db)
    assert row.sent_at is not None and row.attempts == 1 and row.last_error is None


async def test_failures_back_off_and_are_never_dropped(db: Database) -> None:
    await _queue(db, 1)
    closed = f"smtp://127.0.0.1:{free_port()}"
    now = utcnow()
    waits = []
    for _ in range(7):
        [row] = await _outbox(db)
        now = row.next_attempt_at
        assert await _send(db, closed, now=now) == 0
        [after] = await _outbox(db)
        waits.append(after.next_attempt_at - now)
    assert waits == [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30),
                     timedelta(hours=2), timedelta(hours=6), timedelta(hours=6), timedelta(hours=6)]
    [row] = await _outbox(db)
    assert row.attempts == 7 and row.sent_at is None


def test_backoff_schedule() -> None:
    assert [backoff(n) for n in range(1, 7)] == [
        timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
        timedelta(hours=6), timedelta(hours=6)]
    assert backoff(100) == BACKOFF_AFTER


async def test_two_concurrent_senders_deliver_each_email_once(db: Database, database_url: str,
                                                              smtp: SmtpServer) -> None:
    await _queue(db, 40)
    other = Database(database_url)  # a second pool, as a second process would have
    try:
        now = utcnow()
        counts = await asyncio.gather(
            *(_send(database, smtp.url, now=now, limit=10)
              for database in (db, other, db, other, db, other)))
        counts += [await _send(db, smtp.url, now=now)]
    finally:
        await other.dispose()
    assert sum(counts) == 40
    ids = [m.message["Message-ID"] for m in smtp.messages]
    assert len(ids) == 40 and len(set(ids)) == 40
    assert all(row.sent_at is not None for row in await _outbox(db))


async def test_a_row_leased_by_another_process_is_left_alone(db: Database, smtp: SmtpServer) -> None:
    await _queue(db, 1)
    async with db.session() as session, session.begin():
        await session.execute(update(EmailOutbox).values(lease_until=utcnow() + timedelta(minutes=5)))
    assert await _send(db, smtp.url) == 0
    # The other process died: its lease runs out and the email goes.
    async with db.session() as session, session.begin():
        await session.execute(update(EmailOutbox).values(lease_until=utcnow() - timedelta(seconds=1)))
    assert await _send(db, smtp.url) == 1
    assert len(smtp.messages) == 1


async def test_emails_are_due_on_the_billing_clock(db: Database, smtp: SmtpServer) -> None:
    later = utcnow() + timedelta(days=31)  # queued after an advanced test clock
    await _queue(db, 1, now=later)
    assert await _send(db, smtp.url, now=later - timedelta(seconds=1)) == 0
    assert await _send(db, smtp.url, now=later) == 1


async def test_a_refused_recipient_fails_alone(db: Database, smtp: SmtpServer) -> None:
    await _queue(db, 1, email="gone@example.com")
    await _queue(db, 1, email="here@example.com")
    smtp.collector.refuse.add("gone@example.com")
    assert await _send(db, smtp.url) == 1
    gone, here = await _outbox(db)
    assert here.sent_at is not None
    assert gone.sent_at is None and gone.attempts == 1 and "550" in (gone.last_error or "")
    assert [m.recipients for m in smtp.messages] == [["here@example.com"]]


async def test_smtp_login_from_the_url(db: Database) -> None:
    await _queue(db, 1)
    with SmtpServer(credentials=("mailer", "p@ss word")) as server:
        wrong = f"smtp://mailer:nope@127.0.0.1:{server.port}"
        assert await _send(db, wrong) == 0
        [row] = await _outbox(db)
        assert row.attempts == 1 and "535" in (row.last_error or "")
        right = f"smtp://mailer:p%40ss%20word@127.0.0.1:{server.port}"
        assert await _send(db, right, now=utcnow() + timedelta(minutes=1)) == 1
        assert len(server.messages) == 1


# Without an SMTP server: the log --------------------------------------------------------------


async def test_without_smtp_the_email_is_logged_and_marked_sent(
        db: Database, caplog: pytest.LogCaptureFixture) -> None:
    await _queue(db, 1, email="log@example.com")
    with caplog.at_level(logging.INFO, logger="billgate.email"):
        assert await _send(db, None) == 1
    [record] = [r for r in caplog.records if r.name == "billgate.email"]
    assert record.levelno == logging.INFO
    text = record.getMessage()
    assert "log@example.com" in text and "Receipt for 19.00 USD" in text
    assert "Amount paid: 19.00 USD" in text  # the body
    [row] = await _outbox(db)
    assert row.sent_at is not None
    assert await _send(db, None) == 0


async def test_a_customer_without_email_gets_none(db: Database) -> None:
    async with db.session() as session, session.begin():
        customer = Customer(type="USER", customer_id="no-mail")
        session.add(customer)
        assert outbox.enqueue(session, customer, outbox.RECEIPT, {}, now=utcnow()) is None
    assert await _outbox(db) == []


# Templates ------------------------------------------------------------------------------------


RECEIPT_CONTEXT = {
    "customer": "u", "invoice": "inv_1", "amount": "2900", "currency": "JPY",
    "url": "https://billing.example/invoices/inv_1",
    "lines": [{"kind": "plan", "description": "Pro <yearly>", "amount": 3000, "quantity": 1},
              {"kind": "credit", "description": "Account credit applied", "amount": -100}],
}


def test_amounts_render_from_minor_units_without_floats() -> None:
    rendered = render(outbox.RECEIPT, RECEIPT_CONTEXT)
    assert rendered.subject == "Receipt for 2900 JPY"
    assert "Pro <yearly>: 3000 JPY" in rendered.text
    assert "Account credit applied: -100 JPY" in rendered.text
    assert "Pro &lt;yearly&gt;" in rendered.html  # HTML is escaped, text is not
    usd = render(outbox.RECEIPT, {**RECEIPT_CONTEXT, "amount": "0.10", "currency": "USD",
                                  "lines": [{"description": "Tiny", "amount": 10}]})
    assert "Tiny: 0.10 USD" in usd.text
    big = render(outbox.RECEIPT, {**RECEIPT_CONTEXT, "currency": "USD",
                                  "lines": [{"description": "Big", "amount": 10**15 + 1}]})
    assert "Big: 10000000000000.01 USD" in big.text  # a float would print ...0.0 or 1e13


def test_payment_failed_names_the_next_retry_when_known() -> None:
    context = {**RECEIPT_CONTEXT, "currency": "USD", "amount": "19.00", "reason": "Declined.",
               "lines": [], "next_retry_at": "2026-03-03T12:00:00+00:00"}
    assert "next attempt on 2026-03-03" in render(outbox.PAYMENT_FAILED, context).text
    final = render(outbox.PAYMENT_FAILED, {**context, "final": True})
    assert "canceled" in final.text and "next attempt" not in final.text


async def test_templates_can_be_overridden(db: Database, smtp: SmtpServer, tmp_path: Path) -> None:
    (tmp_path / "payment_receipt.subject.txt").write_text("Your {{ amount }} {{ currency }} receipt\n")
    (tmp_path / "payment_receipt.txt").write_text("Paid {{ amount }}. {{ url }}\n")
    await _queue(db, 1)
    assert await _send(db, smtp.url, templates_dir=tmp_path) == 1
    [message] = smtp.messages
    assert message.subject == "Your 19.00 USD receipt"
    assert message.text.strip() == "Paid 19.00. https://billing.example/invoices/inv_0"
    assert "Thank you for your payment" in message.html  # the packaged HTML still applies


async def test_a_broken_template_keeps_the_email_with_the_error(db: Database, smtp: SmtpServer,
                                                                tmp_path: Path) -> None:
    (tmp_path / "payment_receipt.subject.txt").write_text("Receipt {{ no_such_value }}\n")
    await _queue(db, 1)
    assert await _send(db, smtp.url, templates_dir=tmp_path) == 0
    [row] = await _outbox(db)
    assert row.sent_at is None and row.attempts == 1
    assert "rendering failed" in (row.last_error or "") and "no_such_value" in (row.last_error or "")
    assert smtp.messages == []
    # Fixed: it goes out on the next attempt.
    assert await _send(db, smtp.url, now=utcnow() + timedelta(minutes=1)) == 1


# SMTP URLs ------------------------------------------------------------------------------------


def test_smtp_urls() -> None:
    plain = parse_smtp_url("smtp://mail.example.com")
    assert (plain.hostname, plain.port, plain.use_tls, plain.start_tls) == ("mail.example.com", 25,
                                                                             False, None)
    tls = parse_smtp_url("smtps://user:s%3Acret@mail.example.com")
    assert (tls.port, tls.use_tls, tls.start_tls, tls.username, tls.password) == (
        465, True, False, "user", "s:cret")
    starttls = parse_smtp_url("smtp://u:p@mail.example.com?starttls=true")
    assert (starttls.port, starttls.start_tls) == (587, True)
    assert parse_smtp_url("smtp://h:2525?starttls=false&timeout=5").start_tls is False
    assert parse_smtp_url("smtp://h:2525?timeout=5").timeout == 5
    assert "s:cret" not in repr(tls)
    for bad in ("http://mail.example.com", "smtp://", "smtp://h?starttls=maybe", "smtp://h?tls=1",
                "smtps://h?starttls=true", "smtp://h:99999", "smtp://h?timeout=0"):
        with pytest.raises(ValueError):
            parse_smtp_url(bad)
