"""Helpers of the localstripe tests: keys, a recording HTTP client for the Stripe SDK,
signed webhook bodies, and the GraphQL operations of billing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import stripe

SECRET_KEY = "sk_test_billgate_localstripe"
PUBLISHABLE_KEY = "pk_test_billgate_localstripe"
WEBHOOK_SECRET = "whsec_billgate_test_secret"

VISA = "4242424242424242"
DECLINED = "4000000000000002"  # refused when attached (localstripe) / charged (Stripe)
DECLINED_AT_CHARGE = "4000000000000341"  # attaches, then every charge is declined

USER = {"type": "USER", "customerId": "u1"}
OTHER_USER = {"type": "USER", "customerId": "u2"}
RETURN_URL = "https://app.example.com/billing/done"
USER_ERRORS = "userErrors { code message field }"

CREATE_SETUP_INTENT = f"""
mutation ($input: CreatePaymentMethodSetupIntentInput!) {{
  createPaymentMethodSetupIntent(input: $input) {{ setupIntentId clientSecret {USER_ERRORS} }}
}}
"""
SET_DEFAULT = f"""
mutation ($input: SetDefaultPaymentMethodFromSetupIntentInput!) {{
  setDefaultPaymentMethodFromSetupIntent(input: $input) {{
    paymentMethod {{ id brand last4 expMonth expYear }} {USER_ERRORS}
  }}
}}
"""
BILLING = """
query ($customer: CustomerRef!) {
  customer(customer: $customer) {
    billing { hasCustomer defaultPaymentMethod { id brand last4 expMonth expYear } }
  }
}
"""
REFUND = f"""
mutation ($input: RefundTransactionInput!) {{
  refundTransaction(input: $input) {{
    transaction {{ id kind amount refundedAmount currency }}
    refund {{ id kind amount currency }}
    {USER_ERRORS}
  }}
}}
"""
CREATE_CHECKOUT = f"""
mutation ($input: CreateCheckoutUrlInput!) {{
  createCheckoutUrl(input: $input) {{ url {USER_ERRORS} }}
}}
"""
UPDATE_CUSTOMER = f"""
mutation ($input: UpdateCustomerInput!) {{
  updateCustomer(input: $input) {{ {USER_ERRORS} }}
}}
"""
ITEM = """
query ($customer: CustomerRef!, $itemId: String!) {
  customer(customer: $customer) { item(itemId: $itemId) { quantity } }
}
"""
SUBSCRIPTIONS = """
query ($customer: CustomerRef!) {
  customer(customer: $customer) {
    subscriptions { edges { node { id status productId dunning { inDunning } } } }
  }
}
"""


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


class RecordingHTTPXClient(stripe.HTTPXClient):
    """The SDK's httpx client, recording every request billgate makes (method, path, form
    parameters flattened as ``a[b]``, headers such as ``Idempotency-Key``)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []

    async def request_async(self, method: str, url: str, headers: Mapping[str, str],
                            post_data: Any = None) -> Any:
        self.calls.append(_call(method, url, headers, post_data))
        return await super().request_async(method, url, headers, post_data)

    def find(self, method: str, path: str) -> list[Call]:
        return [c for c in self.calls if c.method.upper() == method.upper() and c.path == path]


def _call(method: str, url: str, headers: Mapping[str, str], post_data: Any) -> Call:
    body = post_data.decode() if isinstance(post_data, bytes) else (post_data or "")
    parts = urlsplit(url)
    params = dict(parse_qsl(body)) if body else dict(parse_qsl(parts.query))
    return Call(method.upper(), parts.path, params, {k.lower(): v for k, v in headers.items()})


@dataclass
class LiveServer:
    base_url: str
    client: httpx.AsyncClient


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header value, as Stripe (and localstripe) make it."""
    at = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def event_body(event_type: str, obj: dict[str, Any], *, event_id: str | None = None) -> bytes:
    return json.dumps({
        "id": event_id or f"evt_test_{hashlib.sha256(json.dumps(obj).encode()).hexdigest()[:16]}",
        "object": "event", "type": event_type, "created": int(time.time()),
        "data": {"object": obj}, "api_version": "2026-10-28",
    }).encode()


WAIT_SECONDS = 15.0


async def eventually(check: Callable[[], Awaitable[bool]], *, what: str = "condition") -> None:
    """Wait until ``check()`` holds (webhooks arrive about a second after their cause)."""
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def card(client: stripe.StripeClient, number: str) -> str:
    """A card payment method, as Stripe.js would create it in the browser."""
    pm = await client.v1.payment_methods.create_async(
        {"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    return str(pm.id)
