"""Delivering the email outbox: payment receipts and payment failures.

Rows are written by billing in the transaction of what they report (``outbox.enqueue``);
``send_due`` (the scheduler's ``email.send`` job) claims the due ones with a lease, renders
them from templates and sends them over SMTP (``BILLGATE_SMTP_URL``), or, with no SMTP
server configured, writes them to the ``billgate.email`` log. A failed send keeps the row
with its error and retries it later (1 min, 5 min, 30 min, 2 h, then every 6 h): a mail
server outage delays mail but loses none.

Delivery is at least once, and in practice once: a row is leased before it is sent and
marked sent right after, one row per transaction; a batch stops sending well before its
lease runs out, so no other process can take a row over while it is being sent. Every
message carries a Message-ID fixed by its row, so a receiver can drop a rare duplicate
(a process killed between the send and the mark).

Templates are Jinja2 files, three per email: ``<name>.subject.txt``, ``<name>.txt`` and
``<name>.html`` (see ``templates/``). A folder given as ``BILLGATE_EMAIL_TEMPLATES`` may
override any of them. Money arrives formatted from minor units (``amount``); line amounts
are minor units, formatted by the ``money`` filter (never through a float).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
import jinja2
from sqlalchemy import or_, select, update

from billgate.clock import utcnow
from billgate.db.engine import Database
from billgate.db.models import EmailOutbox
from billgate.money import MoneyError, from_minor

log = logging.getLogger("billgate.email")
internal_log = logging.getLogger(__name__)

# How long a claimed batch is ours, and how much of it we keep in hand: no message is
# started with less than SAFETY of the lease left (a send times out well before that).
LEASE = timedelta(minutes=5)
SAFETY = timedelta(minutes=2)
SMTP_TIMEOUT = 30.0
# Wait before the next attempt after the n-th failure; every 6 hours after the last.
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
BACKOFF_AFTER = timedelta(hours=6)
MAX_ERROR = 2000


def backoff(attempts: int) -> timedelta:
    """The wait after ``attempts`` failed attempts (1-based)."""
    if attempts < 1:
        return timedelta(0)
    return BACKOFF[attempts - 1] if attempts <= len(BACKOFF) else BACKOFF_AFTER


# SMTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpServer:
    hostname: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False  # smtps://: TLS from the first byte
    start_tls: bool | None = None  # None: upgrade when the server offers STARTTLS
    timeout: float = SMTP_TIMEOUT

    def __repr__(self) -> str:  # never print the password
        return (f"SmtpServer({self.hostname}:{self.port}, user={self.username!r}, "
                f"tls={self.use_tls}, starttls={self.start_tls})")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_smtp_url(url: str) -> SmtpServer:
    """``smtp://[user:pass@]host[:port][?starttls=true|false][&timeout=S]``;
    ``smtps://`` for implicit TLS (port 465 by default). Raises ``ValueError``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise ValueError("BILLGATE_SMTP_URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("BILLGATE_SMTP_URL names no host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("BILLGATE_SMTP_URL has an invalid port") from None
    query = {key.lower(): values[-1] for key, values in parse_qs(parts.query).items()}
    unknown = set(query) - {"starttls", "timeout"}
    if unknown:
        raise ValueError(f"BILLGATE_SMTP_URL: unknown option(s) {', '.join(sorted(unknown))}")
    start_tls: bool | None = None
    if "starttls" in query:
        flag = query["starttls"].strip().lower()
        if flag not in _TRUE | _FALSE:
            raise ValueError("BILLGATE_SMTP_URL: starttls must be true or false")
        start_tls = flag in _TRUE
    use_tls = scheme == "smtps"
    if use_tls and start_tls:
        raise ValueError("BILLGATE_SMTP_URL: smtps:// is TLS already; starttls=true is for smtp://")
    if use_tls:
        start_tls = False
    timeout = SMTP_TIMEOUT
    if "timeout" in query:
        try:
            timeout = float(query["timeout"])
        except ValueError:
            timeout = -1
        if not 0 < timeout <= 60:
            raise ValueError("BILLGATE_SMTP_URL: timeout must be from 0 to 60 seconds")
    return SmtpServer(
        hostname=parts.hostname, port=port or (465 if use_tls else 587 if start_tls else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        use_tls=use_tls, start_tls=start_tls, timeout=timeout)


# Templates ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _money(value: Any, currency: str) -> str:
    """Minor units as a decimal string (1900, "USD" -> "19.00"); never through a float."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
            value = int(value)
        else:
            raise MoneyError(f"money: expected minor units (an integer), got {value!r}")
    return from_minor(value, currency)


def _date(value: Any, fmt: str = "%Y-%m-%d") -> str:
    if value is None or value == "":
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.strftime(fmt)


@functools.lru_cache(maxsize=8)
def _environment(templates_dir: str | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if templates_dir:
        loaders.append(jinja2.FileSystemLoader(templates_dir))
    loaders.append(jinja2.PackageLoader("billgate.notifications", "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
        trim_blocks=True, lstrip_blocks=True)
    env.filters["money"] = _money
    env.filters["date"] = _date
    return env


def render(template: str, context: dict[str, Any], *, templates_dir: str | Path | None = None) -> Rendered:
    """Subject, text and HTML of the email ``template`` (e.g. ``payment_receipt``)."""
    if not re.fullmatch(r"[a-z0-9_]+", template):
        raise ValueError(f"invalid email template name {template!r}")
    env = _environment(str(templates_dir) if templates_dir else None)
    subject = env.get_template(f"{template}.subject.txt").render(context)
    return Rendered(subject=" ".join(subject.split()),
                    text=env.get_template(f"{template}.txt").render(context),
                    html=env.get_template(f"{template}.html").render(context))


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip(" >") or "localhost"


def build_message(row_id: int, created_at: datetime, to: str, rendered: Rendered, *,
                  sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(utcnow())
    # Fixed by the row: a receiver can drop a duplicate of the same outbox email.
    tag = hashlib.sha256(f"{row_id}:{created_at.isoformat()}".encode()).hexdigest()[:16]
    message["Message-ID"] = f"<billgate.{row_id}.{tag}@{_domain(sender)}>"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


# The outbox ---------------------------------------------------------------------------------


@dataclass
class _Claimed:
    id: int
    to: str
    template: str
    context: dict[str, Any]
    attempts: int
    created_at: datetime


def _due(now: datetime, real: datetime) -> tuple[Any, ...]:
    return (EmailOutbox.sent_at.is_(None), EmailOutbox.next_attempt_at <= now,
            or_(EmailOutbox.lease_until.is_(None), EmailOutbox.lease_until < real))


async def _claim(db: Database, *, now: datetime, limit: int) -> tuple[list[_Claimed], datetime]:
    """Lease up to ``limit`` due rows (a conditional UPDATE: a row leased by another process
    is not due). Leases run on real time; ``now`` (the billing clock) decides what is due."""
    real = utcnow()
    lease_until = real + LEASE
    async with db.session() as session, session.begin():
        ids = list(await session.scalars(
            select(EmailOutbox.id).where(*_due(now, real))
            .order_by(EmailOutbox.next_attempt_at, EmailOutbox.id).limit(limit)))
        if not ids:
            return [], lease_until
        rows = await session.execute(
            update(EmailOutbox).where(EmailOutbox.id.in_(ids), *_due(now, real))
            .values(lease_until=lease_until)
            .returning(EmailOutbox.id, EmailOutbox.to_address, EmailOutbox.template,
                       EmailOutbox.context, EmailOutbox.attempts, EmailOutbox.created_at)
            .execution_options(synchronize_session=False))
        claimed = [_Claimed(*row) for row in rows]
    claimed.sort(key=lambda row: row.id)
    return claimed, lease_until


async def _mark_sent(db: Database, row: _Claimed) -> None:
    async with db.session() as session, session.begin():
        await session.execute(
            update(EmailOutbox).where(EmailOutbox.id == row.id, EmailOutbox.sent_at.is_(None))
            .values(sent_at=utcnow(), lease_until=None, last_error=None)
            .execution_options(synchronize_session=False))


async def _mark_failed(db: Database, rows: Sequence[_Claimed], error: str, *, now: datetime) -> None:
    """Keep the rows for a later attempt (never dropped), with the error."""
    if not rows:
        return
    error = error[:MAX_ERROR]
    async with db.session() as session, session.begin():
        for row in rows:
            attempts = row.attempts + 1
            await session.execute(
                update(EmailOutbox).where(EmailOutbox.id == row.id, EmailOutbox.sent_at.is_(None))
                .values(attempts=attempts, next_attempt_at=now + backoff(attempts),
                        last_error=error, lease_until=None)
                .execution_options(synchronize_session=False))
    for row in rows:
        internal_log.warning("email %s to %s not sent (attempt %s, next in %s): %s", row.id,
                             row.to, row.attempts + 1, backoff(row.attempts + 1), error)


async def _release(db: Database, rows: Sequence[_Claimed]) -> None:
    """Give rows back untried (the batch ran out of lease): due again at once."""
    if not rows:
        return
    async with db.session() as session, session.begin():
        await session.execute(
            update(EmailOutbox).where(EmailOutbox.id.in_([r.id for r in rows]),
                                      EmailOutbox.sent_at.is_(None))
            .values(lease_until=None).execution_options(synchronize_session=False))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


def with_invoice_url(context: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Emails queued where the public URL is not known get the hosted invoice link here."""
    if base_url and context.get("invoice") and not context.get("url"):
        return {**context, "url": f"{base_url}/invoices/{context['invoice']}",
                "pdf_url": f"{base_url}/invoices/{context['invoice']}/pdf"}
    return context


async def send_due(db: Database, *, smtp_url: str | None, sender: str,
                   templates_dir: str | Path | None, now: datetime, limit: int = 50,
                   base_url: str = "") -> int:
    """Send (or, without ``smtp_url``, log) the outbox emails due at ``now`` (the billing
    clock), up to ``limit``. Returns how many went out; failures stay for a later attempt."""
    server = parse_smtp_url(smtp_url) if smtp_url else None
    claimed, lease_until = await _claim(db, now=now, limit=limit)
    if not claimed:
        return 0
    messages: list[tuple[_Claimed, EmailMessage]] = []
    for row in claimed:
        try:
            rendered = render(row.template, with_invoice_url(row.context, base_url),
                              templates_dir=templates_dir)
            messages.append((row, build_message(row.id, row.created_at, row.to, rendered,
                                                sender=sender)))
        except Exception as exc:  # a broken template or context: keep the row, report it
            await _mark_failed(db, [row], f"rendering failed: {_describe(exc)}", now=now)
    if server is None:
        return await _log_all(db, messages)
    return await _smtp_all(db, server, messages, sender=sender, now=now,
                           deadline=lease_until - SAFETY)


async def _log_all(db: Database, messages: Sequence[tuple[_Claimed, EmailMessage]]) -> int:
    for row, message in messages:
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""  # type: ignore[attr-defined]
        log.info("email (no BILLGATE_SMTP_URL set) to %s: %s\n%s", row.to, message["Subject"], text,
                 extra={"email_to": row.to, "email_subject": str(message["Subject"]),
                        "email_template": row.template, "email_body": text})
        await _mark_sent(db, row)
    return len(messages)


async def _smtp_all(db: Database, server: SmtpServer, messages: Sequence[tuple[_Claimed, EmailMessage]],
                    *, sender: str, now: datetime, deadline: datetime) -> int:
    if not messages:
        return 0
    client = aiosmtplib.SMTP(
        hostname=server.hostname, port=server.port, username=server.username,
        password=server.password, use_tls=server.use_tls, start_tls=server.start_tls,
        timeout=server.timeout, local_hostname=_domain(sender))
    try:
        await client.connect()
    except Exception as exc:
        await _mark_failed(db, [row for row, _ in messages],
                           f"SMTP {server.hostname}:{server.port}: {_describe(exc)}", now=now)
        return 0
    sent = 0
    try:
        for index, (row, message) in enumerate(messages):
            if utcnow() >= deadline:
                await _release(db, [r for r, _ in messages[index:]])
                break
            if not client.is_connected:
                await _mark_failed(db, [r for r, _ in messages[index:]],
                                   "SMTP connection lost earlier in the batch", now=now)
                break
            try:
                await client.send_message(message)
            except Exception as exc:
                await _mark_failed(db, [row], f"SMTP: {_describe(exc)}", now=now)
                continue
            await _mark_sent(db, row)
            sent += 1
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except Exception:  # the messages are sent; a failed goodbye changes nothing
                client.close()
    return sent
