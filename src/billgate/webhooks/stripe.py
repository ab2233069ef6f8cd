"""``POST /webhooks/stripe``: Stripe reports what happened to payments.

1. The ``Stripe-Signature`` header is verified with ``BILLGATE_STRIPE_WEBHOOK_SECRET`` (an
   HMAC of the raw body, at most 5 minutes old). Missing or bad: 400, nothing recorded.
2. The event id is recorded and leased to this delivery; a delivery of an event already
   handled is acknowledged with 200 and ignored; one that arrives while another delivery
   handles it gets 409 (Stripe delivers it again later). An event whose handling failed or
   was interrupted (the process died) is handled again by the next delivery once its lease
   has run out: it counts as handled only when its handling committed.
3. The object is read again from Stripe and billgate acts on its state *now*, never on the
   event's copy, so a stale or out-of-order event cannot move anything backwards.
4. Acting failed: 500, and the event is freed so Stripe's next delivery acts again.

Handled: ``payment_intent.succeeded`` and ``payment_intent.payment_failed`` (hosted
checkout: complete it, or email the customer about the decline), ``setup_intent.succeeded``
(a saved card becomes the default, or completes a free-trial checkout),
``charge.refunded`` (refunds made in the Stripe Dashboard are recorded) and
``charge.dispute.created`` (logged for the merchant). Renewals and plan switches record
their own outcome when they charge, so their PaymentIntents need nothing here. Any other
type is acknowledged and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from billgate.billing import payment_methods, refunds, stripe_events
from billgate.billing.purchases import live_checkout
from billgate.clock import utcnow
from billgate.errors import BillgateError
from billgate.payments.stripe_rails import (
    CHECKOUT_METADATA_KEY,
    Intent,
    StripeRails,
    WebhookSignatureInvalid,
    verify_webhook,
)
from billgate.runtime import Runtime

log = logging.getLogger(__name__)

Handler = Callable[[Runtime, StripeRails, str], Awaitable[None]]


def webhook_routes(get_runtime: Callable[[], Runtime]) -> list[Route]:
    async def endpoint(request: Request) -> Response:
        return await receive(get_runtime(), request)

    return [Route("/webhooks/stripe", endpoint, methods=["POST"], name="stripe_webhook")]


async def receive(runtime: Runtime, request: Request) -> Response:
    payload = await request.body()
    try:
        event = verify_webhook(payload, request.headers.get("stripe-signature"),
                               runtime.settings.stripe_webhook_secret)
    except WebhookSignatureInvalid as exc:
        log.warning("Stripe webhook refused: %s", exc)
        return JSONResponse({"error": "invalid signature"}, status_code=400)
    stripe = runtime.live_rails
    if not isinstance(stripe, StripeRails):
        log.error("Stripe webhook %s received but BILLGATE_STRIPE_SECRET_KEY is not set",
                  event["id"])
        return JSONResponse({"error": "Stripe is not configured"}, status_code=503)
    kind = str(event.get("type") or "")
    obj = (event.get("data") or {}).get("object") or {}
    object_id = obj.get("id") if isinstance(obj, dict) else None
    taken = await stripe_events.take(runtime.db, event["id"], type=kind,
                                     object_id=object_id if isinstance(object_id, str) else None,
                                     now=utcnow())
    if taken is stripe_events.Taken.DUPLICATE:
        log.info("Stripe event %s (%s) handled before: ignored", event["id"], kind)
        return JSONResponse({"received": True, "duplicate": True})
    if taken is stripe_events.Taken.BUSY:  # a non-2xx answer: Stripe delivers it again later
        log.info("Stripe event %s (%s) is being handled by another delivery", event["id"], kind)
        return JSONResponse({"error": "being processed; deliver again later"}, status_code=409)
    handler = HANDLERS.get(kind)
    if handler is None or not isinstance(object_id, str):
        log.info("Stripe event %s of type %s acknowledged; billgate does not act on it",
                 event["id"], kind)
    else:
        try:
            await handler(runtime, stripe, object_id)
        except Exception:
            log.exception("Stripe event %s (%s) failed; Stripe will deliver it again",
                          event["id"], kind)
            await stripe_events.failed(runtime.db, event["id"], "handler raised")
            return JSONResponse({"error": "processing failed"}, status_code=500)
    await stripe_events.done(runtime.db, event["id"], now=utcnow())
    return JSONResponse({"received": True})


async def _sync_checkout(runtime: Runtime, stripe: StripeRails, intent: Intent) -> None:
    try:
        await live_checkout.sync_intent(runtime.db, stripe, intent, clock=runtime.clock,
                                        bus=runtime.bus, base_url=runtime.settings.base_url)
    except BillgateError as exc:  # handled: e.g. paid but no longer recordable, so refunded
        log.warning("Stripe %s %s of a checkout: %s", intent.object, intent.id, exc.message)


async def _payment_intent(runtime: Runtime, stripe: StripeRails, object_id: str) -> None:
    await _sync_checkout(runtime, stripe, await stripe.retrieve_payment_intent(object_id))


async def _setup_intent(runtime: Runtime, stripe: StripeRails, object_id: str) -> None:
    intent = await stripe.retrieve_setup_intent(object_id)
    if intent.metadata.get(CHECKOUT_METADATA_KEY):
        await _sync_checkout(runtime, stripe, intent)
        return
    changed = await payment_methods.default_from_webhook(runtime.db, stripe, intent,
                                                         clock=runtime.clock, bus=runtime.bus)
    if changed is not None:
        await payment_methods.retry_past_due(await runtime.billing(), changed,
                                             now=runtime.clock.now())


async def _charge_refunded(runtime: Runtime, stripe: StripeRails, object_id: str) -> None:
    charge = await stripe.retrieve_charge(object_id)
    await refunds.record_external_refunds(await runtime.billing(), charge)


async def _dispute_created(runtime: Runtime, stripe: StripeRails, object_id: str) -> None:
    dispute = await stripe.retrieve_dispute(object_id)
    await refunds.note_dispute(await runtime.billing(), dispute)


HANDLERS: dict[str, Handler] = {
    "payment_intent.succeeded": _payment_intent,
    "payment_intent.payment_failed": _payment_intent,
    "setup_intent.succeeded": _setup_intent,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_created,
}


def handled_types() -> list[str]:
    return sorted(HANDLERS)
