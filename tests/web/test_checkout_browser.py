"""A purchase clicked through in a real headless Chromium (Debian's ``chromium`` package,
driven by Playwright's async API) against a real ``billgate serve`` process.

The browser runs with JavaScript disabled: the test-mode checkout must work without it. The
return page is served by a second, throwaway server on another port, so the redirect after
the form POST crosses origins exactly as it does for an app (Chromium applies the page's
``form-action`` policy to that redirect).

Skipped outside CI when Chromium or Playwright is missing; in CI (``CI`` set) it always runs.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from billgate.billing import items
from billgate.billing.catalog import apply_catalog
from billgate.billing.catalog_spec import parse_catalog
from billgate.billing.purchases import service
from billgate.cli import load_catalog_file
from billgate.clock import TestClock
from billgate.db.engine import Database
from billgate.db.migrate import upgrade_async
from billgate.types import CustomerRef, CustomerType

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SERVER_KEY = "sk_test_browser_key"
USER = CustomerRef(CustomerType.USER, "browser-user")
EXAMPLE_CATALOG = Path(__file__).parents[2] / "examples" / "catalog.yaml"


def _skip_reason() -> str | None:
    if os.environ.get("CI"):
        return None
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium); CI always runs this test"
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[dev]'); CI always runs this test"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ReturnPage(BaseHTTPRequestHandler):
    """The app's page the customer comes back to."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = b"<!doctype html><title>Back in the app</title><h1>Thanks for buying</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def return_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ReturnPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/billing/done"
    server.shutdown()
    server.server_close()


@pytest.fixture
async def database_file(tmp_path: Path) -> AsyncIterator[str]:
    """A migrated SQLite file holding the example catalog."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'browser.db'}"
    await upgrade_async(url)
    db = Database(url)
    async with db.session() as session, session.begin():
        await apply_catalog(session, parse_catalog(load_catalog_file(EXAMPLE_CATALOG)),
                            now=datetime.now(UTC))
    await db.dispose()
    yield url


@pytest.fixture
def billgate_url(database_file: str, return_url: str, tmp_path: Path) -> Iterator[str]:
    """``billgate serve`` in a subprocess, on a free port, in test mode."""
    port = free_port()
    env = {**os.environ, "BILLGATE_DATABASE_URL": database_file, "BILLGATE_HOST": "127.0.0.1",
           "BILLGATE_PORT": str(port), "BILLGATE_TEST_MODE": "true",
           "BILLGATE_SECRET_KEYS": SERVER_KEY, "BILLGATE_CUSTOMER_TOKEN_SECRET": "browser-test",
           "BILLGATE_ALLOWED_RETURN_URLS": return_url.rsplit("/", 2)[0] + "/",
           "BILLGATE_JSON_LOGS": "false", "BILLGATE_SHUTDOWN_GRACE_SECONDS": "2"}
    log_path = tmp_path / "billgate.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "billgate.cli", "serve"], env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process, log_path)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(base: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline, last = time.monotonic() + 60, "no answer"
    with httpx.Client() as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"billgate serve exited:\n{log_path.read_text()}")
            try:
                response = client.get(f"{base}/readyz")
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:300]}"
            except httpx.TransportError as exc:
                last = repr(exc)
            time.sleep(0.1)
    pytest.fail(f"billgate serve not ready after 60 s (last: {last}):\n{log_path.read_text()}")


async def create_checkout_url(base: str, return_url: str) -> str:
    query = """mutation($input: CreateCheckoutUrlInput!) {
                 createCheckoutUrl(input: $input) { url userErrors { code message } } }"""
    variables = {"input": {"customer": {"type": "USER", "customerId": USER.customer_id},
                           "productId": "credit-pack", "returnUrl": return_url}}
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{base}/graphql", json={"query": query, "variables": variables},
                                     headers={"Authorization": f"Bearer {SERVER_KEY}"})
    payload = response.json()["data"]["createCheckoutUrl"]
    assert payload["userErrors"] == [], payload
    return str(payload["url"])


async def test_click_through_a_test_purchase(billgate_url: str, return_url: str,
                                             database_file: str) -> None:
    from playwright.async_api import async_playwright

    url = await create_checkout_url(billgate_url, return_url)
    assert url.startswith(f"{billgate_url}/checkout/")
    console: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(java_script_enabled=False)
            context.set_default_timeout(10_000)
            page = await context.new_page()
            page.on("console", lambda message: console.append(message.text))
            response = await page.goto(url)
            assert response is not None and response.status == 200
            assert await page.locator("h1").inner_text() == "500 credits"
            assert "$5.00" in await page.locator(".price").inner_text()
            assert "500 AI credits" in await page.locator("ul.included").inner_text()
            assert "TEST MODE" in await page.locator(".test-mode").inner_text()
            # The inlined stylesheet is allowed by its hash: the banner really is styled.
            assert await page.locator(".test-mode").evaluate(
                "e => getComputedStyle(e).fontWeight") == "700"

            await page.get_by_role("button", name="Complete test purchase").click()
            code = url.rsplit("/", 1)[1]
            await page.wait_for_url(f"{return_url}?checkout_status=complete&checkout_id={code}")
            assert await page.locator("h1").inner_text() == "Thanks for buying"

            again = await page.goto(url)
            assert again is not None and again.status == 410
            assert "can't be used" in await page.locator("h1").inner_text()
        finally:
            await browser.close()
    assert not [m for m in console if "Content Security Policy" in m], console
    await _assert_owned(database_file)


async def _assert_owned(database_file: str) -> None:
    db = Database(database_file)
    try:
        clock = TestClock()
        owned = await service.owned_purchases(db, USER, clock=clock)
        assert sorted(p.product_id or "" for p in owned) == ["credit-pack", "free"]
        # 100 from the Free plan every user is given, plus the 500 bought.
        assert (await items.get_balance(db, USER, "credits", clock=clock)).quantity == 600
    finally:
        await db.dispose()
