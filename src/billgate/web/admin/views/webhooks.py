"""Webhooks (``/admin/webhooks``): endpoints with their latest deliveries (status, attempts,
response, error); add an endpoint, enable or disable it, send a test event, rotate its
signing secret (shown once, on the page that rotated it), delete it, redeliver a delivery.
The same service functions as the webhook mutations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.datastructures import FormData
from starlette.responses import Response
from starlette.routing import Route

from billgate.errors import BillgateError, InvalidInput
from billgate.graphql.ids import global_id
from billgate.notifications.webhooks import endpoints
from billgate.notifications.webhooks.events import EVENT_TYPES
from billgate.web.admin import calls, forms
from billgate.web.admin.actions import perform
from billgate.web.admin.console import Ctx
from billgate.web.admin.forms import FormState

RECENT = 10
MAX_ENDPOINTS = 100
CREATE_FIELDS = {"url": "url", "eventTypes": "event_types", "description": "description"}


async def render(ctx: Ctx, *, form: FormState | None = None, secret: tuple[str, str] | None = None,
                 status: int = 200, error: tuple[int, str] | None = None) -> Response:
    db = ctx.runtime.db
    status_filter = ctx.request.query_params.get("status") or ""
    wanted = status_filter if status_filter in endpoints.STATUSES else None
    rows = await endpoints.list_page(db, after_id=None, limit=MAX_ENDPOINTS)
    cards = [(row, await endpoints.deliveries_page(db, row.id, status=wanted, before_id=None,
                                                   limit=RECENT)) for row in rows]
    return ctx.render("admin/webhooks.html", status=status,
                      test_mode=(await ctx.runtime.payment_settings()).test_mode,
                      cards=cards, f=form or FormState(name="endpoint"), event_types=EVENT_TYPES,
                      secret=secret, status_filter=wanted or "", statuses=endpoints.STATUSES,
                      error=error)


async def page(ctx: Ctx) -> Response:
    return await render(ctx)


def _id(form: FormData, name: str) -> int:
    value = forms.text(form, name)
    if not value.isdigit():
        raise InvalidInput(f"{name} must name a row", field=[name])
    return int(value)


def _node(kind: str, form: FormData, name: str) -> str:
    return global_id(kind, forms.text(form, name))


async def create(ctx: Ctx, form: FormData) -> Response:
    chosen = [t for t in EVENT_TYPES if form.get(f"event_{t}") == "on"]

    async def work() -> endpoints.Created:
        return await calls.create_endpoint(ctx.runtime, url=forms.text(form, "url"),
                                           event_types=chosen,
                                           description=forms.text(form, "description") or None)

    try:
        created = await perform(ctx, "createWebhookEndpoint", forms.text(form, "url"), work)
    except BillgateError as exc:
        return await render(ctx, form=forms.failed_form("endpoint", form, exc, CREATE_FIELDS),
                            status=400)
    return await render(ctx, secret=(created.endpoint.url, created.signing_secret))


async def endpoint_action(ctx: Ctx, form: FormData) -> Response:
    op = forms.text(form, "op")
    target = _node("WebhookEndpoint", form, "endpoint_id")
    runtime = ctx.runtime
    secret: tuple[str, str] | None = None
    names = {"enable": "updateWebhookEndpoint", "disable": "updateWebhookEndpoint",
             "rotate": "rotateWebhookSigningSecret", "test": "sendTestWebhook",
             "delete": "deleteWebhookEndpoint"}

    async def work() -> str:
        nonlocal secret
        endpoint_id = _id(form, "endpoint_id")
        if op in ("enable", "disable"):
            await calls.set_endpoint_enabled(runtime, endpoint_id, op == "enable")
            return "Endpoint enabled." if op == "enable" else "Endpoint disabled."
        if op == "rotate":
            rotated = await calls.rotate_secret(runtime, endpoint_id)
            secret = (rotated.endpoint.url, rotated.signing_secret)
            return ""
        if op == "test":
            await calls.send_test_webhook(runtime, endpoint_id)
            return "Test event queued: it is delivered within seconds."
        if op == "delete":
            await calls.delete_endpoint(runtime, endpoint_id)
            return "Endpoint deleted."
        raise InvalidInput("unknown endpoint action")

    try:
        message = await perform(ctx, names.get(op, "updateWebhookEndpoint"), target, work,
                                detail=op)
    except BillgateError as exc:
        return await render(ctx, status=409, error=(int(forms.text(form, "endpoint_id") or 0),
                                                    exc.message))
    if secret is not None:
        return await render(ctx, secret=secret)
    return ctx.redirect("/admin/webhooks", flash=message)


async def redeliver(ctx: Ctx, form: FormData) -> Response:
    target = _node("WebhookDelivery", form, "delivery_id")

    async def work() -> endpoints.DeliveryView:
        return await calls.redeliver(ctx.runtime, _id(form, "delivery_id"))

    try:
        view = await perform(ctx, "redeliverWebhook", target, work)
    except BillgateError as exc:
        return await render(ctx, status=409, error=(0, exc.message))
    return ctx.redirect("/admin/webhooks", flash=f"{view.event_type} {view.event_id} will be sent again now.")


def routes(page_: Callable[..., Any], action: Callable[..., Any]) -> list[Route]:
    back = lambda form: "/admin/webhooks"  # noqa: E731
    return [Route("/webhooks", page_(page), methods=["GET"]),
            Route("/webhooks/create", action(create, back=back), methods=["POST"]),
            Route("/webhooks/endpoint", action(endpoint_action, back=back), methods=["POST"]),
            Route("/webhooks/redeliver", action(redeliver, back=back), methods=["POST"])]
