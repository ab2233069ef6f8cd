"""Managing webhook endpoints and reading their deliveries (``graphql`` calls these; each
write is one transaction here, never in the API layer)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select, update
from sqlalchemy import delete as delete_rows
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.db.engine import Database
from billgate.db.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from billgate.errors import BillgateError, InvalidInput
from billgate.notifications.webhooks import events, signing
from billgate.notifications.webhooks.delivery import ROTATION_OVERLAP
from billgate.notifications.webhooks.url_policy import UrlPolicy, check_url

MAX_DESCRIPTION = 500
STATUSES = ("PENDING", "DELIVERED", "FAILED")


class WebhookEndpointNotFound(BillgateError):
    code = "WEBHOOK_ENDPOINT_NOT_FOUND"


class WebhookDeliveryNotFound(BillgateError):
    code = "WEBHOOK_DELIVERY_NOT_FOUND"


@dataclass(frozen=True)
class Created:
    endpoint: WebhookEndpoint
    signing_secret: str  # shown once


@dataclass(frozen=True)
class DeliveryView:
    delivery: WebhookDelivery
    event_id: str
    event_type: str


def check_event_types(event_types: Sequence[str] | None) -> list[str]:
    """Null or empty means every type; an unknown type is INVALID_INPUT."""
    chosen = list(dict.fromkeys(event_types or ()))
    unknown = [t for t in chosen if t not in events.EVENT_TYPES]
    if unknown:
        raise InvalidInput(f"unknown event type(s): {', '.join(unknown)}; known: "
                           f"{', '.join(events.EVENT_TYPES)}", field=["eventTypes"])
    return chosen


def _check_description(description: str | None) -> str | None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"description is longer than {MAX_DESCRIPTION} characters",
                           field=["description"])
    return description


async def create(db: Database, *, url: str, event_types: Sequence[str] | None,
                 description: str | None, policy: UrlPolicy, now: datetime) -> Created:
    await check_url(url, policy)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(url=url, event_types=check_event_types(event_types),
                               description=_check_description(description), enabled=True,
                               secret=secret, created_at=now, updated_at=now)
    async with db.session() as session, session.begin():
        session.add(endpoint)
    return Created(endpoint, secret)


async def _locked(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    endpoint = await session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
                                    .with_for_update())
    if endpoint is None:
        raise WebhookEndpointNotFound(f"webhook endpoint {endpoint_id} does not exist", field=["id"])
    return endpoint


async def update_endpoint(db: Database, endpoint_id: int, *, url: str | None = None,
                          event_types: Sequence[str] | None = None, set_event_types: bool = False,
                          enabled: bool | None = None, description: str | None = None,
                          set_description: bool = False, policy: UrlPolicy,
                          now: datetime) -> WebhookEndpoint:
    """Change what is given. Enabling a disabled endpoint clears its ``disabledReason`` and
    makes its PENDING deliveries due now: delivery resumes where it stopped."""
    if url is not None:
        await check_url(url, policy)
    types = check_event_types(event_types) if set_event_types else None
    async with db.session() as session, session.begin():
        endpoint = await _locked(session, endpoint_id)
        if url is not None:
            endpoint.url = url
        if types is not None:
            endpoint.event_types = types
        if set_description:
            endpoint.description = _check_description(description)
        if enabled is True and not endpoint.enabled:
            endpoint.enabled, endpoint.disabled_reason = True, None
            await session.execute(update(WebhookDelivery).where(
                WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == "PENDING")
                .values(next_attempt_at=now).execution_options(synchronize_session=False))
        elif enabled is False and endpoint.enabled:
            endpoint.enabled, endpoint.disabled_reason = False, "disabled by an operator"
        endpoint.updated_at = now
    return endpoint


async def delete(db: Database, endpoint_id: int) -> None:
    """The endpoint and its deliveries (events stay: other endpoints may still want them)."""
    async with db.session() as session, session.begin():
        endpoint = await _locked(session, endpoint_id)
        await session.execute(delete_rows(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint_id))
        await session.delete(endpoint)


async def rotate_secret(db: Database, endpoint_id: int, *, now: datetime) -> Created:
    """A new secret signs from now on; the old one signs beside it for 24 hours."""
    secret = signing.new_secret()
    async with db.session() as session, session.begin():
        endpoint = await _locked(session, endpoint_id)
        endpoint.previous_secret, endpoint.previous_secret_until = endpoint.secret, now + ROTATION_OVERLAP
        endpoint.secret = secret
        endpoint.updated_at = now
    return Created(endpoint, secret)


async def get(db: Database, endpoint_id: int) -> WebhookEndpoint | None:
    async with db.read_session() as session:
        return await session.get(WebhookEndpoint, endpoint_id)


async def list_page(db: Database, *, after_id: int | None, limit: int) -> list[WebhookEndpoint]:
    """Oldest first, keyed by id."""
    query = select(WebhookEndpoint).order_by(WebhookEndpoint.id).limit(limit)
    if after_id is not None:
        query = query.where(WebhookEndpoint.id > after_id)
    async with db.read_session() as session:
        return list(await session.scalars(query))


def _delivery_query() -> Select[WebhookDelivery, str, str]:
    return (select(WebhookDelivery, WebhookEvent.event_id, WebhookEvent.type)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_pk))


async def deliveries_page(db: Database, endpoint_id: int, *, status: str | None,
                          before_id: int | None, limit: int) -> list[DeliveryView]:
    """Newest first, keyed by id."""
    query = (_delivery_query().where(WebhookDelivery.endpoint_id == endpoint_id)
             .order_by(WebhookDelivery.id.desc()).limit(limit))
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if before_id is not None:
        query = query.where(WebhookDelivery.id < before_id)
    async with db.read_session() as session:
        rows = (await session.execute(query)).all()
    return [DeliveryView(d, event_id, event_type) for d, event_id, event_type in rows]


async def get_delivery(db: Database, delivery_id: int) -> DeliveryView | None:
    async with db.read_session() as session:
        row = (await session.execute(_delivery_query().where(WebhookDelivery.id == delivery_id))).first()
    return None if row is None else DeliveryView(row[0], row[1], row[2])


async def redeliver(db: Database, delivery_id: int, *, now: datetime) -> DeliveryView:
    """Send the same event (same ``webhook-id``) again now, whatever its status, with a
    fresh retry schedule. It keeps its place in its customer's order."""
    async with db.session() as session, session.begin():
        delivery = await session.get(WebhookDelivery, delivery_id, with_for_update=True)
        if delivery is None:
            raise WebhookDeliveryNotFound(f"webhook delivery {delivery_id} does not exist",
                                          field=["deliveryId"])
        delivery.status, delivery.next_attempt_at, delivery.attempts = "PENDING", now, 0
        delivery.lease_until = None
    view = await get_delivery(db, delivery_id)
    assert view is not None
    return view


async def send_test(db: Database, endpoint_id: int, *, now: datetime, test_mode: bool) -> DeliveryView:
    """A ``webhook.test`` event to this endpoint only (even a disabled one keeps it
    PENDING until enabled), to check the receiver's URL and signature handling."""
    async with db.session() as session, session.begin():
        endpoint = await _locked(session, endpoint_id)
        event = await events.record_event(
            session, event_type=events.WEBHOOK_TEST, customer=None,
            data={"endpointUrl": endpoint.url, "message": "a test event from billgate"},
            now=now, test_mode=test_mode, endpoint_ids=[endpoint.id])
        delivery_id = await session.scalar(select(WebhookDelivery.id).where(
            WebhookDelivery.event_pk == event.id))
    assert delivery_id is not None
    view = await get_delivery(db, delivery_id)
    assert view is not None
    return view
