"""The Stripe path against localstripe (pinned: localstripe==1.15.10 in the dev extras).

``localstripe`` starts localstripe once per session in a subprocess (``localstripe_server.py``:
its aiohttp app on 127.0.0.1 and a free port, persistence off), waits for the port and
terminates it at the end. Nothing leaves 127.0.0.1.

``runtime`` here is a live-mode runtime whose ``StripeRails`` talk to localstripe through a
recording HTTP client (``rails_calls``), and ``server`` serves the app on a free local port
with localstripe's webhooks registered to it, so events arrive as they would from Stripe
(about a second after the call that caused them).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from stripe_testing import (
    PUBLISHABLE_KEY,
    SECRET_KEY,
    WEBHOOK_SECRET,
    LiveServer,
    RecordingHTTPXClient,
)

from billgate.billing import payment_settings
from billgate.billing.payment_methods import customer_resolver
from billgate.db.engine import Database
from billgate.payments.stripe_rails import LOCALSTRIPE_OMITS, StripeRails

LAUNCHER = Path(__file__).with_name("localstripe_server.py")
pytestmark = pytest.mark.usefixtures("example_catalog")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"localstripe exited at start-up with code {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"localstripe did not listen on 127.0.0.1:{port} within {timeout} s")


@pytest.fixture(scope="session")
def localstripe() -> Iterator[str]:
    """The base URL of a localstripe server of this test session."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(LAUNCHER), str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
async def stripe_client(localstripe: str) -> AsyncIterator[stripe.StripeClient]:
    """A plain Stripe client on localstripe, for what the browser (Stripe.js) or the Stripe
    Dashboard would do in these tests."""
    http = stripe.HTTPXClient()
    yield stripe.StripeClient(SECRET_KEY, base_addresses={"api": localstripe}, http_client=http)
    await http.close_async()


@pytest.fixture
def settings(settings, localstripe: str):  # noqa: ANN001, ANN201 - the root settings, with Stripe
    return dataclasses.replace(settings, stripe_secret_key=SECRET_KEY,
                               stripe_publishable_key=PUBLISHABLE_KEY,
                               stripe_webhook_secret=WEBHOOK_SECRET, stripe_api_base=localstripe)


@pytest.fixture
def rails_calls() -> RecordingHTTPXClient:
    return RecordingHTTPXClient()


@pytest.fixture
async def runtime(db: Database, settings, rails_calls: RecordingHTTPXClient):  # noqa: ANN001, ANN201
    """A live-mode runtime (test mode off) charging through localstripe."""
    from billgate.clock import TestClock
    from billgate.events import MemoryEventBus
    from billgate.runtime import Runtime, method_types_of

    async with db.session() as session, session.begin():
        await payment_settings.update(session, test_mode=False)
    bus = MemoryEventBus()
    await bus.start()
    rails = StripeRails(settings.stripe_secret_key, api_base=settings.stripe_api_base,
                        resolve_customer=customer_resolver(db), http_client=rails_calls,
                        omit_params=LOCALSTRIPE_OMITS, method_types=method_types_of(db))
    yield Runtime(settings=settings, db=db, clock=TestClock(), secret_keys=settings.secret_keys,
                  bus=bus, live_rails=rails)
    await bus.close()
    await rails.aclose()


@pytest.fixture
async def server(app: Any, localstripe: str) -> AsyncIterator[LiveServer]:
    """The app on a free local port, with localstripe's webhooks pointed at it."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", http="h11", ws="none")
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve(sockets=[sock]))
    while not uv.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=localstripe) as ls:
        response = await ls.post("/_config/webhooks/billgate",
                                 data={"url": f"{base}/webhooks/stripe", "secret": WEBHOOK_SECRET})
        response.raise_for_status()
    async with httpx.AsyncClient(base_url=base, follow_redirects=False) as client:
        yield LiveServer(base, client)
    uv.should_exit = True
    await task
    sock.close()
