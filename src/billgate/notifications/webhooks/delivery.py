"""Delivering the webhook outbox (the scheduler's ``webhook.deliver`` job).

Each due delivery is leased by a conditional UPDATE (as the email outbox is), so any number
of processes on one PostgreSQL database deliver each event to each endpoint once per
attempt. Due means: PENDING, its next attempt time reached on the billing clock, not
leased, its endpoint enabled, and no earlier event of the same customer still PENDING for
that endpoint, so a receiver sees each customer's events in order even while one is being
retried. A 2xx within 10 s is DELIVERED; anything else waits per ``backoff`` and, once the
retries are spent (more than 3 days), the delivery is FAILED and its endpoint disabled.

At least once: a process that dies between the POST and recording the answer leaves the
lease to run out, and the event goes again with the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
import orjson
from sqlalchemy import Table, and_, exists, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from billgate.clock import utcnow
from billgate.db.engine import Database
from billgate.db.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from billgate.notifications.webhooks import backoff, payloads, sender, signing
from billgate.notifications.webhooks.url_policy import UrlPolicy, UrlRefused, check_url
from billgate.ops.metrics import WEBHOOK_ATTEMPTS, WEBHOOK_OLDEST_PENDING

log = logging.getLogger(__name__)

# Leases run on real time. A batch of BATCH deliveries sent CONCURRENCY at a time, each
# bounded by the 10 s timeout (plus a DNS check), ends well inside LEASE.
LEASE = timedelta(minutes=2)
BATCH = 20
CONCURRENCY = 10
ROTATION_OVERLAP = timedelta(hours=24)

deliveries = cast(Table, WebhookDelivery.__table__)
endpoints = cast(Table, WebhookEndpoint.__table__)


@dataclass(frozen=True)
class Claimed:
    id: int
    attempts: int
    event_id: str
    payload: dict[str, Any]
    endpoint_id: int
    url: str
    secrets: tuple[str, ...]


def _due(now: datetime, real: datetime) -> tuple[ColumnElement[bool], ...]:
    earlier = deliveries.alias("earlier")
    blocked = exists().where(
        earlier.c.endpoint_id == deliveries.c.endpoint_id,
        earlier.c.customer_key == deliveries.c.customer_key,  # NULL (no customer): never
        earlier.c.status == "PENDING",
        earlier.c.event_pk < deliveries.c.event_pk)
    enabled = select(endpoints.c.id).where(endpoints.c.enabled.is_(True))
    return (deliveries.c.status == "PENDING", deliveries.c.next_attempt_at <= now,
            or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < real),
            deliveries.c.endpoint_id.in_(enabled), ~blocked)


def secrets_in_use(endpoint: WebhookEndpoint, now: datetime) -> tuple[str, ...]:
    """The current secret, and the previous one for 24 h after a rotation."""
    previous = endpoint.previous_secret
    until = endpoint.previous_secret_until
    if previous and until is not None and now < until:
        return (endpoint.secret, previous)
    return (endpoint.secret,)


async def claim(db: Database, *, now: datetime, limit: int = BATCH) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries (oldest events first)."""
    real = utcnow()
    async with db.session() as session, session.begin():
        ids = list(await session.scalars(
            select(deliveries.c.id).where(*_due(now, real))
            .order_by(deliveries.c.event_pk, deliveries.c.id).limit(limit)))
        if not ids:
            return []
        won = list(await session.scalars(
            update(deliveries).where(deliveries.c.id.in_(ids), *_due(now, real))
            .values(lease_until=real + LEASE).returning(deliveries.c.id)))
        if not won:
            return []
        rows = (await session.execute(
            select(WebhookDelivery, WebhookEvent, WebhookEndpoint)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_pk)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.id.in_(won)).order_by(WebhookDelivery.id))).all()
    return [Claimed(d.id, d.attempts, ev.event_id, ev.payload, ep.id, ep.url,
                    secrets_in_use(ep, now)) for d, ev, ep in rows]


async def attempt(client: httpx.AsyncClient, item: Claimed, *, policy: UrlPolicy,
                  base_url: str = "") -> sender.Outcome:
    """Check the URL again (DNS may have changed since the endpoint was saved), then POST."""
    try:
        target = await asyncio.wait_for(check_url(item.url, policy), sender.TIMEOUT)
    except UrlRefused as exc:
        return sender.Outcome(False, None, f"refused: {exc.message}")
    except TimeoutError:
        return sender.Outcome(False, None, "refused: DNS lookup timed out")
    body = orjson.dumps(payloads.with_base_url(item.payload, base_url))
    # The header timestamp is real time: receivers check it against their own clock (a
    # test clock moved ahead would make every signature "too new").
    headers = signing.headers(item.event_id, body, secrets_in_use=item.secrets, timestamp=utcnow())
    return await sender.post(client, target, body, headers)


async def record(db: Database, item: Claimed, outcome: sender.Outcome, *, now: datetime) -> None:
    """Write the attempt's result; the lease ends with it."""
    attempts = item.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "lease_until": None, "last_attempt_at": now,
                              "last_response_status": outcome.status, "last_error": outcome.error}
    delay = None if outcome.delivered else backoff.next_delay(attempts)
    if outcome.delivered:
        values.update(status="DELIVERED", delivered_at=now, next_attempt_at=None)
    elif delay is None:
        values.update(status="FAILED", next_attempt_at=None)
    else:
        values.update(next_attempt_at=now + delay)
    async with db.session() as session, session.begin():
        await session.execute(update(deliveries).where(
            deliveries.c.id == item.id, deliveries.c.status == "PENDING").values(**values))
        if not outcome.delivered and delay is None:
            await _disable(session, item, attempts, outcome)
    WEBHOOK_ATTEMPTS.labels("delivered" if outcome.delivered else "failed").inc()
    if not outcome.delivered:
        log.warning("webhook %s to endpoint %s failed (attempt %s%s): %s", item.event_id,
                    item.endpoint_id, attempts,
                    f", next in {delay}" if delay is not None else ", giving up", outcome.error)


async def _disable(session: Any, item: Claimed, attempts: int, outcome: sender.Outcome) -> None:
    """The endpoint kept failing for the whole retry schedule: stop sending to it (its
    other deliveries stay PENDING and resume when it is enabled again)."""
    reason = (f"disabled after {attempts} failed attempts over more than 3 days to deliver "
              f"{item.event_id}; last error: {outcome.error}")
    await session.execute(update(endpoints).where(endpoints.c.id == item.endpoint_id)
                          .values(enabled=False, disabled_reason=reason[:2000], updated_at=utcnow()))
    log.error("webhook endpoint %s disabled: %s", item.endpoint_id, reason)


async def deliver_due(db: Database, *, now: datetime, policy: UrlPolicy,
                      client: httpx.AsyncClient | None = None, limit: int = BATCH,
                      base_url: str = "") -> int:
    """One batch: claim, send concurrently, record. Returns the attempts made."""
    claimed = await claim(db, now=now, limit=limit)
    if claimed:
        owned = client is None
        client = client or sender.new_client()
        try:
            await _send_all(db, client, claimed, now=now, policy=policy, base_url=base_url)
        finally:
            if owned:
                await client.aclose()
    return len(claimed)


async def _send_all(db: Database, client: httpx.AsyncClient, claimed: Sequence[Claimed], *,
                    now: datetime, policy: UrlPolicy, base_url: str) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(item: Claimed) -> None:
        async with gate:
            outcome = await attempt(client, item, policy=policy, base_url=base_url)
            await record(db, item, outcome, now=now)

    await asyncio.gather(*(one(item) for item in claimed))


async def next_due(db: Database, now: datetime) -> datetime | None:
    async with db.read_session() as session:
        due: datetime | None = await session.scalar(
            select(func.min(WebhookDelivery.next_attempt_at)).where(
                WebhookDelivery.status == "PENDING", WebhookDelivery.next_attempt_at <= now))
    return due


async def update_oldest_pending(db: Database, now: datetime) -> float:
    """Set the gauge to the age of the oldest event still waiting for an endpoint (0 when
    none): a growing value means a receiver is down or an endpoint disabled."""
    async with db.read_session() as session:
        oldest = await session.scalar(
            select(func.min(WebhookEvent.created_at)).join(
                WebhookDelivery, and_(WebhookDelivery.event_pk == WebhookEvent.id,
                                      WebhookDelivery.status == "PENDING")))
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    WEBHOOK_OLDEST_PENDING.set(age)
    return age
