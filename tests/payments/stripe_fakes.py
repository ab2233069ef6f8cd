"""Recorded Stripe responses for unit tests of the Stripe layer (no network, no localstripe).

The bodies below are shaped as the Stripe API answers (trimmed to the fields billgate
reads, plus a few it ignores), so the SDK parses them as it parses real responses.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe

SECRET = "whsec_unit_test_secret"


class FakeStripeHTTP(stripe.HTTPClient):
    """Answers the SDK's requests from a queue of (status, body); records each request
    (method, path, form parameters flattened as ``a[b]``, lower-cased headers)."""

    name = "fake"

    def __init__(self) -> None:
        super().__init__()
        self.queue: list[tuple[int, dict[str, Any]]] = []
        self.calls: list[tuple[str, str, dict[str, str], dict[str, str]]] = []

    def respond(self, status: int, body: dict[str, Any]) -> FakeStripeHTTP:
        self.queue.append((status, body))
        return self

    def request(self, method: str, url: str, headers: Mapping[str, str],
                post_data: Any = None) -> Any:
        raise AssertionError("billgate must use the SDK's async client")

    async def request_async(self, method: str, url: str, headers: Mapping[str, str],
                            post_data: Any = None) -> Any:
        body = post_data.decode() if isinstance(post_data, bytes) else (post_data or "")
        parts = urlsplit(url)
        params = dict(parse_qsl(body or parts.query))
        self.calls.append((method.upper(), parts.path, params,
                           {k.lower(): v for k, v in headers.items()}))
        if not self.queue:
            raise AssertionError(f"unexpected Stripe request {method} {url}")
        status, answer = self.queue.pop(0)
        return json.dumps(answer).encode(), status, {"request-id": "req_unit"}

    async def close_async(self) -> None:
        return None


def payment_intent(**fields: Any) -> dict[str, Any]:
    body = {
        "id": "pi_3QxUnitTest0001", "object": "payment_intent", "amount": 1900, "currency": "usd",
        "status": "succeeded", "customer": "cus_RUnitTest0001", "payment_method": "pm_1QUnitVisa",
        "client_secret": "pi_3QxUnitTest0001_secret_abc", "created": 1763900000,
        "latest_charge": "ch_3QxUnitTest0001", "last_payment_error": None, "livemode": False,
        "metadata": {}, "capture_method": "automatic", "payment_method_types": ["card"],
        "setup_future_usage": None,
    }
    body.update(fields)
    return body


def card_error(code: str, message: str, *, decline_code: str | None = None,
               intent: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": "card_error", "code": code, "message": message,
                             "doc_url": f"https://stripe.com/docs/error-codes/{code}",
                             "request_log_url": "https://dashboard.stripe.com/test/logs/req_unit"}
    if decline_code:
        error["decline_code"] = decline_code
    if intent is not None:
        error["payment_intent"] = intent
    return {"error": error}


def api_error(message: str = "An unknown error occurred") -> dict[str, Any]:
    return {"error": {"type": "api_error", "message": message}}


def sign(payload: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    at = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def event(event_type: str, obj: dict[str, Any], *, event_id: str = "evt_1QUnitTest") -> bytes:
    return json.dumps({"id": event_id, "object": "event", "type": event_type,
                       "created": int(time.time()), "api_version": "2026-10-28.endive",
                       "livemode": False, "data": {"object": obj}}).encode()
