"""``webhookEndpoints``, ``WebhookEndpoint.deliveries`` and their ``node(id)`` lookups:
secret key only."""

from __future__ import annotations

from billgate.errors import BillgateError
from billgate.graphql.context import Info
from billgate.graphql.errors import raise_query_error
from billgate.graphql.ids import parse_global_id, row_id
from billgate.graphql.pagination import (
    Connection,
    Page,
    build_connection,
    decode_id_cursor,
    page_size,
)
from billgate.graphql.types.webhooks import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from billgate.notifications.webhooks import endpoints


def global_row_id(value: str, expected: str, field: str) -> int:
    """The row id in a global id of type ``expected`` (INVALID_INPUT otherwise)."""
    try:
        _, node_id = parse_global_id(value, expected=expected)
    except BillgateError as exc:
        exc.field = [field]
        raise
    pk = row_id(node_id)
    if pk is None:
        raise endpoints.InvalidInput(f"{value!r} is not a {expected} id", field=[field])
    return pk


async def endpoints_page(info: Info, first: int | None, after: str | None) -> Connection[WebhookEndpoint]:
    try:
        info.context.principal.require_server("webhookEndpoints")
        size = page_size(first)
        after_id = decode_id_cursor("webhook_endpoints", after)
    except BillgateError as exc:
        raise_query_error(exc)
    rows = await endpoints.list_page(info.context.runtime.db, after_id=after_id, limit=size + 1)
    return build_connection(Page(rows=rows, size=size, had_cursor=after is not None),
                            kind="webhook_endpoints", key=lambda row: row.id,
                            node=WebhookEndpoint.from_row)


async def deliveries_page(info: Info, endpoint_pk: int, first: int | None, after: str | None,
                          status: WebhookDeliveryStatus | None) -> Connection[WebhookDelivery]:
    try:
        info.context.principal.require_server("WebhookEndpoint.deliveries")
        size = page_size(first)
        before = decode_id_cursor("webhook_deliveries", after)
    except BillgateError as exc:
        raise_query_error(exc)
    views = await endpoints.deliveries_page(info.context.runtime.db, endpoint_pk,
                                            status=status.value if status else None,
                                            before_id=before, limit=size + 1)
    return build_connection(Page(rows=views, size=size, had_cursor=after is not None),
                            kind="webhook_deliveries", key=lambda view: view.delivery.id,
                            node=WebhookDelivery.of)


async def endpoint_node(info: Info, node_id: str) -> WebhookEndpoint | None:
    pk = row_id(node_id)
    if not info.context.principal.is_server or pk is None:
        return None
    row = await endpoints.get(info.context.runtime.db, pk)
    return WebhookEndpoint.from_row(row) if row else None


async def delivery_node(info: Info, node_id: str) -> WebhookDelivery | None:
    pk = row_id(node_id)
    if not info.context.principal.is_server or pk is None:
        return None
    view = await endpoints.get_delivery(info.context.runtime.db, pk)
    return WebhookDelivery.of(view) if view else None
