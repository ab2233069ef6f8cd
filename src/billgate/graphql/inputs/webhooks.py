"""Webhook endpoint inputs (API.md, "Outgoing webhooks")."""

from __future__ import annotations

import strawberry


@strawberry.input
class CreateWebhookEndpointInput:
    url: str
    event_types: list[str] | None = strawberry.field(
        default=None, description="Null or empty: every event type.")
    description: str | None = None


@strawberry.input
class UpdateWebhookEndpointInput:
    id: strawberry.ID
    url: str | None = strawberry.UNSET
    event_types: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Null or empty: every event type.")
    enabled: bool | None = strawberry.field(
        default=strawberry.UNSET, description="true resumes a disabled endpoint from what is pending.")
    description: str | None = strawberry.UNSET


@strawberry.input
class DeleteWebhookEndpointInput:
    id: strawberry.ID


@strawberry.input
class RotateWebhookSigningSecretInput:
    id: strawberry.ID


@strawberry.input
class RedeliverWebhookInput:
    delivery_id: strawberry.ID


@strawberry.input
class SendTestWebhookInput:
    id: strawberry.ID
