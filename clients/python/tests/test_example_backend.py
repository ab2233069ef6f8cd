"""examples/backend (Starlette on billgate-client) against a real billgate: it consumes
credits once per idempotency key, refuses with 402 when they run out, mints tokens billgate
accepts, and receives signed webhooks (refusing forged ones)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from server import ROOT, BillgateServer, free_port
from webhook_receiver import wait_for

from billgate_client import Billgate


@pytest.fixture(scope="module")
def backend_app(
    server: BillgateServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """The example app, started as its README says; yields its base URL and webhook endpoint id."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    created = server.request(
        """mutation ($url: String!) { createWebhookEndpoint(input: {url: $url,
        eventTypes: ["webhook.test"]}) { endpoint { id } signingSecret userErrors { code } } }""",
        {"url": f"{base}/billing-events"},
    )["createWebhookEndpoint"]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BILLGATE_")},
        "BILLGATE_URL": server.url,
        "BILLGATE_SECRET_KEY": server.secret_key,
        "BILLGATE_CUSTOMER_TOKEN_SECRET": server.token_secret,
        "BILLGATE_WEBHOOK_SECRET": created["signingSecret"],
    }
    log_path = tmp_path_factory.mktemp("backend") / "backend.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "examples" / "backend" / "app.py"), "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                httpx.get(f"{base}/billing-events")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the example backend did not start"
                time.sleep(0.1)
        yield base, created["endpoint"]["id"]
    finally:
        process.terminate()
        process.wait(timeout=10)
        server.request(
            "mutation ($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) { deletedId } }",
            {"id": created["endpoint"]["id"]},
        )


def test_credits_are_consumed_once_per_idempotency_key_then_402(backend_app: tuple[str, str]) -> None:
    base, _ = backend_app
    user = {"X-User-Id": "be-user"}
    with httpx.Client(base_url=base) as http:
        first = http.post("/api/generate", headers={**user, "Idempotency-Key": "job-1"})
        retry = http.post("/api/generate", headers={**user, "Idempotency-Key": "job-1"})
        assert (first.status_code, first.json()["credits"]) == (200, 95)
        assert (retry.status_code, retry.json()["credits"]) == (200, 95)  # the retry consumed nothing
        answers = [
            http.post("/api/generate", headers={**user, "Idempotency-Key": f"job-{i}"}) for i in range(2, 22)
        ]
        assert [a.status_code for a in answers] == [200] * 19 + [402]
        assert answers[-1].json()["code"] == "INSUFFICIENT_QUANTITY"
        assert http.post("/api/generate").status_code == 401


def test_the_session_token_is_accepted_by_billgate(
    server: BillgateServer, backend_app: tuple[str, str]
) -> None:
    base, _ = backend_app
    session = httpx.get(f"{base}/session", headers={"X-User-Id": "be-token"}).json()
    assert session["billgateUrl"] == server.url
    with Billgate(session["billgateUrl"], token=session["token"]) as app:
        assert app.customer("USER", "be-token").get_item("credits").quantity == 100


def test_webhooks_arrive_verified_and_forgeries_are_refused(
    server: BillgateServer, backend_app: tuple[str, str]
) -> None:
    base, endpoint_id = backend_app
    sent = server.request(
        "mutation ($id: ID!) { sendTestWebhook(input: {id: $id}) { delivery { eventId } } }",
        {"id": endpoint_id},
    )
    event_id = sent["sendTestWebhook"]["delivery"]["eventId"]
    wait_for(
        lambda: httpx.get(f"{base}/billing-events").json() == [{"id": event_id, "type": "webhook.test"}],
        "the test event",
    )
    forged = httpx.post(
        f"{base}/billing-events",
        content=b'{"id": "evt_forged", "type": "invoice.paid"}',
        headers={
            "webhook-id": "evt_forged",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": "v1,bm90IGEgc2lnbmF0dXJl",
        },
    )
    assert forged.status_code == 400
    assert [e["id"] for e in httpx.get(f"{base}/billing-events").json()] == [event_id]
