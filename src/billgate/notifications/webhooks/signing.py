"""Standard Webhooks signing (https://www.standardwebhooks.com): ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature`` headers over ``id.timestamp.body`` with
HMAC-SHA256 and a ``whsec_`` secret. The ``standardwebhooks`` library does the HMAC, so a
receiver using it verifies what we send by construction (tests check it end to end)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks import Webhook

PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` + base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def headers(event_id: str, body: bytes, *, secrets_in_use: Sequence[str],
            timestamp: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers. Several secrets (during a rotation) give several
    space-separated signatures; a receiver holding either secret accepts the message."""
    payload = body.decode()
    signatures = [Webhook(secret).sign(event_id, timestamp, payload) for secret in secrets_in_use]
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
