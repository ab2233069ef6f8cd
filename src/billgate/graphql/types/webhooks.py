"""Outgoing webhook endpoints and their deliveries (secret key only)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import strawberry

from billgate.db.models import WebhookEndpoint as EndpointRow
from billgate.graphql.context import Info
from billgate.graphql.ids import global_id
from billgate.graphql.pagination import Connection
from billgate.graphql.types.common import Node
from billgate.notifications.webhooks.endpoints import DeliveryView


@strawberry.enum
class WebhookDeliveryStatus(StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


@strawberry.type(description="One event sent (or to be sent) to one endpoint.")
class WebhookDelivery(Node):
    event_id: str = strawberry.field(description="The `webhook-id` header: the same on every retry.")
    event_type: str
    status: WebhookDeliveryStatus
    attempts: int
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None = strawberry.field(description="Null once DELIVERED or FAILED.")
    response_status: int | None = strawberry.field(description="HTTP status of the last attempt.")
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, view: DeliveryView) -> WebhookDelivery:
        row = view.delivery
        return cls(id=strawberry.ID(global_id("WebhookDelivery", str(row.id))),
                   event_id=view.event_id, event_type=view.event_type,
                   status=WebhookDeliveryStatus(row.status), attempts=row.attempts,
                   last_attempt_at=row.last_attempt_at,
                   next_attempt_at=row.next_attempt_at if row.status == "PENDING" else None,
                   response_status=row.last_response_status, last_error=row.last_error,
                   delivered_at=row.delivered_at, created_at=row.created_at)


@strawberry.type(description="Where billgate POSTs signed events (Standard Webhooks).")
class WebhookEndpoint(Node):
    url: str
    event_types: list[str] = strawberry.field(description="Empty: every event type.")
    enabled: bool
    description: str | None
    created_at: datetime
    disabled_reason: str | None = strawberry.field(
        description="Why it was disabled (after failing for more than 3 days, or by an operator).")
    endpoint_pk: strawberry.Private[int]

    @strawberry.field(description="Newest first.")
    async def deliveries(self, info: Info, first: int | None = None, after: str | None = None,
                         status: WebhookDeliveryStatus | None = None) -> Connection[WebhookDelivery]:
        from billgate.graphql.resolvers.webhooks import deliveries_page

        return await deliveries_page(info, self.endpoint_pk, first, after, status)

    @classmethod
    def from_row(cls, row: EndpointRow) -> WebhookEndpoint:
        return cls(id=strawberry.ID(global_id("WebhookEndpoint", str(row.id))), url=row.url,
                   event_types=list(row.event_types or []), enabled=row.enabled,
                   description=row.description, created_at=row.created_at,
                   disabled_reason=row.disabled_reason, endpoint_pk=row.id)
