"""``verify_webhook`` (the standard library's HMAC) against signatures made by the reference
``standardwebhooks`` package and by billgate's own webhook sender."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from server import BillgateServer
from standardwebhooks import Webhook
from webhook_receiver import wait_for, webhook_receiver

from billgate_client import WebhookVerificationError, verify_webhook

SECRET = "whsec_" + base64.b64encode(b"a-32-byte-long-webhook-signing-k").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"another-32-byte-long-signing-key").decode()
BODY = json.dumps({"id": "evt_1", "type": "invoice.paid", "data": {"invoice": {"amountTotal": 1900}}})


def signed(
    secret: str = SECRET, *, body: str = BODY, at: datetime | None = None, message_id: str = "evt_1"
) -> dict[str, str]:
    at = at or datetime.now(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
    }


def test_a_genuine_event_is_returned_parsed() -> None:
    assert verify_webhook(SECRET, BODY.encode(), signed()) == json.loads(BODY)
    # As a str body too, and with headers in any case (frameworks differ).
    headers = {name.title(): value for name, value in signed().items()}
    assert verify_webhook(SECRET, BODY, headers)["type"] == "invoice.paid"


@pytest.mark.parametrize(
    ("why", "body", "headers"),
    [
        ("tampered body", BODY.replace("1900", "19"), signed()),
        ("another secret", BODY, signed(OTHER_SECRET)),
        ("another message id", BODY, {**signed(), "webhook-id": "evt_2"}),
        ("six minutes old", BODY, signed(at=datetime.now(UTC) - timedelta(minutes=6))),
        ("six minutes ahead", BODY, signed(at=datetime.now(UTC) + timedelta(minutes=6))),
        ("no signature header", BODY, {k: v for k, v in signed().items() if k != "webhook-signature"}),
        (
            "a v2 signature",
            BODY,
            {**signed(), "webhook-signature": signed()["webhook-signature"].replace("v1,", "v2,")},
        ),
        ("a timestamp that is no number", BODY, {**signed(), "webhook-timestamp": "soon"}),
    ],
)
def test_anything_else_is_refused(why: str, body: str, headers: dict[str, str]) -> None:
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, body, headers)


def test_during_a_rotation_either_signature_may_match() -> None:
    old, new = signed(OTHER_SECRET), signed(SECRET)
    headers = {**new, "webhook-signature": f"{old['webhook-signature']} {new['webhook-signature']}"}
    assert verify_webhook(SECRET, BODY, headers)["id"] == "evt_1"
    assert verify_webhook(OTHER_SECRET, BODY, headers)["id"] == "evt_1"


def test_a_secret_that_is_not_base64_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        verify_webhook("whsec_not base64!", BODY, signed())


def test_events_from_billgates_real_sender_verify(server: BillgateServer) -> None:
    with webhook_receiver() as (url, received):
        created = server.request(
            """mutation ($url: String!) { createWebhookEndpoint(input: {url: $url,
            eventTypes: ["webhook.test", "subscription.created"]}) { endpoint { id } signingSecret
            userErrors { code message } } }""",
            {"url": url},
        )["createWebhookEndpoint"]
        assert created["userErrors"] == []
        server.request(
            "mutation ($id: ID!) { sendTestWebhook(input: {id: $id}) { userErrors { code } } }",
            {"id": created["endpoint"]["id"]},
        )
        granted = server.request("""mutation { grantProduct(input: {productId: "pro", priceId: "pro-monthly",
            customer: {type: USER, customerId: "py-hooked"}}) { userErrors { code } } }""")
        assert granted["grantProduct"]["userErrors"] == []
        wait_for(lambda: len(received) >= 2, "two deliveries")
        events = [verify_webhook(created["signingSecret"], r.body, r.headers) for r in received]
        assert sorted(e["type"] for e in events) == ["subscription.created", "webhook.test"]
        [subscription] = [e for e in events if e["type"] == "subscription.created"]
        assert subscription["customer"] == {"type": "USER", "customerId": "py-hooked"}
        assert subscription["data"]["subscription"]["productId"] == "pro"
        assert {r.headers["webhook-id"] for r in received} == {e["id"] for e in events}
        with pytest.raises(WebhookVerificationError):
            verify_webhook(SECRET, received[0].body, received[0].headers)
        server.request(
            "mutation ($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) { deletedId } }",
            {"id": created["endpoint"]["id"]},
        )
