"""``examples/frontend/`` in a real Chromium: the page is served from one origin (by the
example's own ``serve.py``, which plays the app's backend and hands out customer tokens)
and calls ``billgate serve`` on another, through CORS and a WebSocket. Every request that
would leave the machine is aborted.

The counter shows the balance and follows a server-side ``tryDecreaseItemQuantity`` within
a second, also after its 3-second customer token expired (the page fetches a new one from
serve.py and reconnects: before @billgate/client it kept the first token and its counter went
stale); the plan flips from Free to Pro after clicking through the hosted checkout, both in
the tab that bought and, without reloading, in another tab that was watching."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_testing import (
    CHROMIUM,
    CHROMIUM_ARGS,
    billgate_serve,
    block_non_local,
    example_database,
    free_port,
    graphql,
    requires_browser,
)

pytestmark = requires_browser

ROOT = Path(__file__).parents[2]
SERVER_KEY = "sk_test_example_frontend"
TOKEN_SECRET = "example-frontend-token-secret-of-32-bytes"
USER = "frontend-user"
# The promise: a spend shows on the counter within a second.
LIVE_WITHIN_MS = 1_000
TOKEN_TTL_SECONDS = 3
SPEND = """mutation ($customer: CustomerRef!) { tryDecreaseItemQuantity(input: {customer: $customer,
  itemId: "credits", amount: 10}) { success } }"""


@pytest.fixture
def app_port() -> int:
    return free_port()


@pytest.fixture
async def database(tmp_path: Path) -> str:
    return await example_database(tmp_path)


@pytest.fixture
def billgate(database: str, tmp_path: Path, app_port: int) -> Iterator[str]:
    app_origin = f"http://localhost:{app_port}"
    with billgate_serve(database, tmp_path, SECRET_KEYS=SERVER_KEY,
                        CUSTOMER_TOKEN_SECRET=TOKEN_SECRET, ALLOWED_ORIGINS=app_origin,
                        ALLOWED_RETURN_URLS=f"{app_origin}/") as base:
        yield base


@pytest.fixture
def app_url(billgate: str, app_port: int, tmp_path: Path) -> Iterator[str]:
    """The example app, served as its README says, on ``localhost`` (another origin)."""
    log = (tmp_path / "frontend.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "frontend" / "serve.py"), "--host", "127.0.0.1",
         "--port", str(app_port), "--billgate", billgate, "--user", USER,
         "--token-ttl", str(TOKEN_TTL_SECONDS)],
        env={"BILLGATE_CUSTOMER_TOKEN_SECRET": TOKEN_SECRET, "PATH": "/usr/bin:/bin"},
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://localhost:{app_port}/"
    try:
        _wait_for(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "serve.py exited"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer")


@pytest.fixture
async def context() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context()
            context.set_default_timeout(15_000)
            yield context
        finally:
            await browser.close()


async def test_live_credits_and_an_upgrade(context: Any, app_url: str, billgate: str) -> None:
    from playwright.async_api import expect

    blocked = await block_non_local(context)
    errors: list[str] = []
    watching = await context.new_page()
    watching.on("pageerror", lambda error: errors.append(str(error)))
    sessions: list[str] = []
    watching.on("request", lambda request: request.url.endswith("/session") and sessions.append(request.url))
    await watching.goto(app_url)
    await expect(watching.locator("#plan")).to_have_text("Free")
    await expect(watching.locator("#credits")).to_have_text("100")  # the Free plan's grant

    data = await graphql(billgate, SPEND, {"customer": {"type": "USER", "customerId": USER}},
                         authorization=f"Bearer {SERVER_KEY}")
    assert data["tryDecreaseItemQuantity"]["success"] is True
    await expect(watching.locator("#credits")).to_have_text("90", timeout=LIVE_WITHIN_MS)

    # The page's first token has expired: billgate closed its live connection, the page got a
    # new token from serve.py and reconnected. A spend now still shows within a second.
    await asyncio.sleep(TOKEN_TTL_SECONDS + 0.5)
    data = await graphql(billgate, SPEND, {"customer": {"type": "USER", "customerId": USER}},
                         authorization=f"Bearer {SERVER_KEY}")
    assert data["tryDecreaseItemQuantity"]["success"] is True
    await expect(watching.locator("#credits")).to_have_text("80", timeout=LIVE_WITHIN_MS)
    assert len(sessions) >= 2, sessions

    buying = await context.new_page()
    await buying.goto(app_url)
    await buying.get_by_role("button", name="Upgrade to Pro").click()
    await buying.wait_for_url(f"{billgate}/checkout/*")
    assert await buying.locator("h1").inner_text() == "Pro"
    assert await buying.get_by_role("link", name="Cancel").get_attribute("href") == app_url
    await buying.get_by_role("button", name="Complete test purchase").click()
    await buying.wait_for_url(f"{app_url}?checkout_status=complete&checkout_id=*")
    await expect(buying.locator("#notice")).to_have_text("Thanks! Your purchase is complete.")
    await expect(buying.locator("#plan")).to_have_text("Pro")
    await expect(buying.get_by_role("button", name="Upgrade to Pro")).to_be_hidden()

    # The first tab was never reloaded: customerChanged brought the new plan.
    await expect(watching.locator("#plan")).to_have_text("Pro")
    assert await watching.locator("#error").is_hidden()
    assert errors == [] and blocked == []
