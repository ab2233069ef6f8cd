#!/usr/bin/env python3
"""A Python backend on billgate (Starlette + billgate-client): it consumes credits per request
with an idempotency key, mints customer tokens for its frontend, and receives billgate's
webhooks.

    pip install billgate-client starlette uvicorn        # in this repository: make install
    BILLGATE_SECRET_KEY=sk_test_... BILLGATE_WEBHOOK_SECRET=whsec_... python examples/backend/app.py

Settings (environment): BILLGATE_URL (default http://127.0.0.1:8000/graphql),
BILLGATE_SECRET_KEY, BILLGATE_CUSTOMER_TOKEN_SECRET (default: `make run`'s development value),
BILLGATE_WEBHOOK_SECRET (the whsec_... of the endpoint you registered for /billing-events).
"""

from __future__ import annotations

import argparse
import logging
import os
import uuid
from collections import OrderedDict

import uvicorn
from billgate_client import (
    AsyncBillgate,
    BillgateError,
    WebhookVerificationError,
    mint_customer_token,
    verify_webhook,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BILLGATE_URL = os.environ.get("BILLGATE_URL", "http://127.0.0.1:8000/graphql")
TOKEN_SECRET = os.environ.get("BILLGATE_CUSTOMER_TOKEN_SECRET", "dev-only-customer-token-secret-change-me")
WEBHOOK_SECRET = os.environ.get("BILLGATE_WEBHOOK_SECRET", "")
CREDITS_PER_REQUEST = 5

billgate = AsyncBillgate(BILLGATE_URL, secret_key=os.environ.get("BILLGATE_SECRET_KEY"))
log = logging.getLogger("backend")
# Event ids already handled (billgate retries until it gets a 2xx: the same webhook-id).
# A real backend keeps these in its database.
seen_events: OrderedDict[str, str] = OrderedDict()


def signed_in_user(request: Request) -> str | None:
    """Stands in for your own authentication (a session cookie, a bearer token...)."""
    return request.headers.get("x-user-id")


async def generate(request: Request) -> Response:
    """An expensive request (say, an AI completion) that costs credits: consume first,
    atomically; billgate never oversells. The idempotency key makes a retried request (the
    same Idempotency-Key header) consume only once."""
    user = signed_in_user(request)
    if not user:
        return JSONResponse({"error": "sign in first"}, status_code=401)
    key = request.headers.get("idempotency-key") or str(uuid.uuid4())
    credits = billgate.customer("USER", user).item("credits")
    try:
        consumed = await credits.try_decrease_quantity(
            CREDITS_PER_REQUEST, idempotency_key=f"generate:{key}", description="generate"
        )
    except BillgateError as exc:
        log.warning("billgate refused: %s", exc)
        return JSONResponse({"error": exc.message, "code": exc.code}, status_code=502)
    if not consumed:
        return JSONResponse({"error": "Not enough credits", "code": "INSUFFICIENT_QUANTITY"}, status_code=402)
    remaining = (await credits.get()).quantity
    return JSONResponse({"result": "(the expensive work)", "credits": remaining})


async def session(request: Request) -> Response:
    """What the frontend needs to talk to billgate itself: a short-lived customer token."""
    user = signed_in_user(request)
    if not user:
        return JSONResponse({"error": "sign in first"}, status_code=401)
    token = mint_customer_token(TOKEN_SECRET, "USER", user, ttl_seconds=600)
    return JSONResponse(
        {"billgateUrl": BILLGATE_URL, "userId": user, "token": token}, headers={"Cache-Control": "no-store"}
    )


async def billing_events(request: Request) -> Response:
    """billgate's webhooks: check the signature on the raw body, de-duplicate, handle."""
    body = await request.body()
    try:
        event = verify_webhook(WEBHOOK_SECRET, body, request.headers)
    except (WebhookVerificationError, ValueError) as exc:
        log.warning("refused a webhook: %s", exc)
        return Response(status_code=400)
    if event["id"] not in seen_events:
        seen_events[event["id"]] = event["type"]
        while len(seen_events) > 1000:
            seen_events.popitem(last=False)
        customer = event.get("customer") or {}
        log.info("billing event %s %s for %s", event["id"], event["type"], customer.get("customerId"))
        # Here: grant the feature, email the customer, update your own records...
    return Response(status_code=204)


async def received_events(request: Request) -> Response:
    """For the demo (and its test): the events handled so far."""
    return JSONResponse([{"id": event_id, "type": kind} for event_id, kind in seen_events.items()])


app = Starlette(
    routes=[
        Route("/api/generate", generate, methods=["POST"]),
        Route("/session", session, methods=["GET"]),
        Route("/billing-events", billing_events, methods=["POST"]),
        Route("/billing-events", received_events, methods=["GET"]),
    ]
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3001)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
