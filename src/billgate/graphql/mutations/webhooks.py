"""Outgoing webhook endpoints: secret key only. Each mutation checks the caller, calls one
service function of ``notifications.webhooks.endpoints`` and maps its errors."""

from __future__ import annotations

import strawberry

from billgate.errors import BillgateError
from billgate.graphql.context import Info
from billgate.graphql.errors import UserError, user_error
from billgate.graphql.inputs.webhooks import (
    CreateWebhookEndpointInput,
    DeleteWebhookEndpointInput,
    RedeliverWebhookInput,
    RotateWebhookSigningSecretInput,
    SendTestWebhookInput,
    UpdateWebhookEndpointInput,
)
from billgate.graphql.resolvers.webhooks import global_row_id
from billgate.graphql.types.webhooks import WebhookDelivery, WebhookEndpoint
from billgate.notifications.webhooks import endpoints
from billgate.notifications.webhooks.url_policy import UrlPolicy


@strawberry.type
class CreateWebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = None
    signing_secret: str | None = strawberry.field(
        default=None, description="whsec_...: shown here and on rotation only; keep it.")
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpdateWebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteWebhookEndpointPayload:
    deleted_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RotateWebhookSigningSecretPayload:
    endpoint: WebhookEndpoint | None = None
    signing_secret: str | None = strawberry.field(
        default=None, description="The new secret; the previous one keeps signing for 24 hours.")
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RedeliverWebhookPayload:
    delivery: WebhookDelivery | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SendTestWebhookPayload:
    delivery: WebhookDelivery | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _policy(info: Info) -> UrlPolicy:
    return UrlPolicy.from_settings(info.context.runtime.settings)


def _given(value: object) -> bool:
    return value is not strawberry.UNSET


@strawberry.type
class WebhookMutations:
    @strawberry.mutation
    async def create_webhook_endpoint(self, info: Info, input: CreateWebhookEndpointInput
                                      ) -> CreateWebhookEndpointPayload:
        try:
            info.context.principal.require_server("createWebhookEndpoint")
            created = await endpoints.create(
                info.context.runtime.db, url=input.url, event_types=input.event_types,
                description=input.description, policy=_policy(info),
                now=info.context.runtime.clock.now())
        except BillgateError as exc:
            return CreateWebhookEndpointPayload(user_errors=[user_error(exc)])
        return CreateWebhookEndpointPayload(endpoint=WebhookEndpoint.from_row(created.endpoint),
                                            signing_secret=created.signing_secret)

    @strawberry.mutation
    async def update_webhook_endpoint(self, info: Info, input: UpdateWebhookEndpointInput
                                      ) -> UpdateWebhookEndpointPayload:
        try:
            info.context.principal.require_server("updateWebhookEndpoint")
            row = await endpoints.update_endpoint(
                info.context.runtime.db, global_row_id(input.id, "WebhookEndpoint", "id"),
                url=input.url if _given(input.url) else None,
                event_types=input.event_types if _given(input.event_types) else None,
                set_event_types=_given(input.event_types),
                enabled=input.enabled if _given(input.enabled) else None,
                description=input.description if _given(input.description) else None,
                set_description=_given(input.description),
                policy=_policy(info), now=info.context.runtime.clock.now())
        except BillgateError as exc:
            return UpdateWebhookEndpointPayload(user_errors=[user_error(exc)])
        return UpdateWebhookEndpointPayload(endpoint=WebhookEndpoint.from_row(row))

    @strawberry.mutation
    async def delete_webhook_endpoint(self, info: Info, input: DeleteWebhookEndpointInput
                                      ) -> DeleteWebhookEndpointPayload:
        try:
            info.context.principal.require_server("deleteWebhookEndpoint")
            await endpoints.delete(info.context.runtime.db, global_row_id(input.id, "WebhookEndpoint", "id"))
        except BillgateError as exc:
            return DeleteWebhookEndpointPayload(user_errors=[user_error(exc)])
        return DeleteWebhookEndpointPayload(deleted_id=input.id)

    @strawberry.mutation
    async def rotate_webhook_signing_secret(self, info: Info, input: RotateWebhookSigningSecretInput
                                            ) -> RotateWebhookSigningSecretPayload:
        try:
            info.context.principal.require_server("rotateWebhookSigningSecret")
            rotated = await endpoints.rotate_secret(
                info.context.runtime.db, global_row_id(input.id, "WebhookEndpoint", "id"),
                now=info.context.runtime.clock.now())
        except BillgateError as exc:
            return RotateWebhookSigningSecretPayload(user_errors=[user_error(exc)])
        return RotateWebhookSigningSecretPayload(endpoint=WebhookEndpoint.from_row(rotated.endpoint),
                                                 signing_secret=rotated.signing_secret)

    @strawberry.mutation
    async def redeliver_webhook(self, info: Info, input: RedeliverWebhookInput) -> RedeliverWebhookPayload:
        try:
            info.context.principal.require_server("redeliverWebhook")
            view = await endpoints.redeliver(
                info.context.runtime.db, global_row_id(input.delivery_id, "WebhookDelivery", "deliveryId"),
                now=info.context.runtime.clock.now())
        except BillgateError as exc:
            return RedeliverWebhookPayload(user_errors=[user_error(exc)])
        return RedeliverWebhookPayload(delivery=WebhookDelivery.of(view))

    @strawberry.mutation
    async def send_test_webhook(self, info: Info, input: SendTestWebhookInput) -> SendTestWebhookPayload:
        try:
            info.context.principal.require_server("sendTestWebhook")
            runtime = info.context.runtime
            test_mode = (await runtime.payment_settings()).test_mode
            view = await endpoints.send_test(runtime.db, global_row_id(input.id, "WebhookEndpoint", "id"),
                                             now=runtime.clock.now(), test_mode=test_mode)
        except BillgateError as exc:
            return SendTestWebhookPayload(user_errors=[user_error(exc)])
        return SendTestWebhookPayload(delivery=WebhookDelivery.of(view))
