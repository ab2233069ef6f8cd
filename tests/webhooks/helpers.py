"""Shared steps of the webhook tests: endpoints, events and delivery rounds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from billgate.db.engine import Database
from billgate.db.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from billgate.notifications.webhooks import delivery, endpoints
from billgate.notifications.webhooks.events import record_event
from billgate.notifications.webhooks.url_policy import UrlPolicy
from billgate.types import CustomerRef, CustomerType

POLICY = UrlPolicy(http_hosts=frozenset({"127.0.0.1"}), allow_private=True)


def user(customer_id: str) -> CustomerRef:
    return CustomerRef(CustomerType.USER, customer_id)


async def endpoint(db: Database, url: str, now: datetime, **options: Any) -> endpoints.Created:
    return await endpoints.create(db, url=url, event_types=options.get("event_types"),
                                  description=None, policy=POLICY, now=now)


async def emit(db: Database, now: datetime, customer: str | None = "u1", *,
               event_type: str = "subscription.updated", data: dict[str, Any] | None = None) -> str:
    async with db.session() as session, session.begin():
        event = await record_event(session, event_type=event_type,
                                   customer=user(customer) if customer else None,
                                   data=data or {"n": 1}, now=now, test_mode=True)
    return event.event_id


async def deliver(db: Database, now: datetime, policy: UrlPolicy = POLICY) -> int:
    return await delivery.deliver_due(db, now=now, policy=policy)


async def deliveries(db: Database) -> list[tuple[WebhookDelivery, str]]:
    async with db.read_session() as session:
        rows = (await session.execute(
            select(WebhookDelivery, WebhookEvent.event_id)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_pk)
            .order_by(WebhookDelivery.id))).all()
    return [(d, event_id) for d, event_id in rows]


async def delivery_of(db: Database, event_id: str) -> WebhookDelivery:
    [found] = [d for d, e in await deliveries(db) if e == event_id]
    return found


async def endpoint_row(db: Database, endpoint_id: int) -> WebhookEndpoint:
    async with db.read_session() as session:
        row = await session.get(WebhookEndpoint, endpoint_id)
    assert row is not None
    return row
