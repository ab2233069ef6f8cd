"""Verifying billgate's outgoing webhooks (Standard Webhooks, https://www.standardwebhooks.com).

The standard library is enough for the check: an HMAC-SHA256 of ``{webhook-id}.{webhook-
timestamp}.{body}`` with the base64 key of the ``whsec_`` secret, compared with each
``v1,<base64>`` signature of the ``webhook-signature`` header (several during a secret
rotation), and a timestamp within 5 minutes of now (a replayed old request is refused).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

TOLERANCE_SECONDS = 5 * 60
SECRET_PREFIX = "whsec_"


class WebhookVerificationError(Exception):
    """The request is not a genuine, recent billgate event: answer 400 and ignore it."""


def verify_webhook(
    secret: str, body: bytes | str, headers: Mapping[str, str], *, now: float | None = None
) -> dict[str, Any]:
    """The event (``{"id", "type", "createdAt", "testMode", "customer", "data"}``) when the
    signature and timestamp check out; raises WebhookVerificationError otherwise. ``body`` is
    the raw request body, exactly as received; ``headers`` any mapping (names in any case).
    De-duplicate on ``headers["webhook-id"]``: it stays the same on every retry."""
    key = _key(secret)
    lower = {name.lower(): value for name, value in headers.items()}
    try:
        message_id, timestamp, signatures = (
            lower["webhook-id"],
            lower["webhook-timestamp"],
            lower["webhook-signature"],
        )
    except KeyError as exc:
        raise WebhookVerificationError(f"missing header {exc.args[0]}") from None
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a whole number of seconds") from None
    if abs((time.time() if now is None else now) - sent_at) > TOLERANCE_SECONDS:
        raise WebhookVerificationError("webhook-timestamp is more than 5 minutes from now")
    raw = body if isinstance(body, bytes) else body.encode()
    signed = b".".join((message_id.encode(), timestamp.encode(), raw))
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    for signature in signatures.split():
        version, _, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            try:
                event: dict[str, Any] = json.loads(raw)
            except ValueError:
                raise WebhookVerificationError("the body is not JSON") from None
            return event
    raise WebhookVerificationError("no signature matches")


def _key(secret: str) -> bytes:
    encoded = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the webhook secret must be billgate's whsec_... signing secret") from None
