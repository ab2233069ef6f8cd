"""What the real-browser tests share: Debian's Chromium driven by Playwright, and
``billgate serve`` in a subprocess on a migrated SQLite file holding the example catalog.

The tests skip (with the reason) when Chromium or Playwright is missing, except in CI
(``CI`` set), where they always run.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
EXAMPLE_CATALOG = Path(__file__).parents[2] / "examples" / "catalog.yaml"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

# The secret key of the hosted checkout tests' server (``conftest.billgate_url``).
SERVER_KEY = "sk_test_browser_key"


def skip_reason() -> str | None:
    if os.environ.get("CI"):
        return None
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium); CI always runs this test"
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[dev]'); CI always runs this test"
    return None


requires_browser = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def example_database(folder: Path) -> str:
    """A migrated SQLite file in ``folder`` holding the example catalog."""
    from billgate.billing.catalog import apply_catalog
    from billgate.billing.catalog_spec import parse_catalog
    from billgate.cli import load_catalog_file
    from billgate.db.engine import Database
    from billgate.db.migrate import upgrade_async

    url = f"sqlite+aiosqlite:///{folder / 'browser.db'}"
    await upgrade_async(url)
    db = Database(url)
    async with db.session() as session, session.begin():
        await apply_catalog(session, parse_catalog(load_catalog_file(EXAMPLE_CATALOG)),
                            now=datetime.now(UTC))
    await db.dispose()
    return url


@contextmanager
def billgate_serve(database_url: str, log_dir: Path, **settings: str) -> Iterator[str]:
    """``billgate serve`` in test mode on a free port; ``settings`` are ``BILLGATE_<NAME>``
    values. Yields the base URL; always stops the process."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLGATE_")}
    env.update({"BILLGATE_DATABASE_URL": database_url, "BILLGATE_HOST": "127.0.0.1",
                "BILLGATE_PORT": str(port), "BILLGATE_TEST_MODE": "true",
                "BILLGATE_JSON_LOGS": "false", "BILLGATE_SHUTDOWN_GRACE_SECONDS": "2"})
    env.update({f"BILLGATE_{k}": v for k, v in settings.items()})
    log_path = log_dir / f"billgate-{port}.log"
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


@contextmanager
def app_page(heading: str) -> Iterator[int]:
    """An app's page on its own port (another origin than billgate): every GET answers a
    page whose <h1> is ``heading``. Yields the port."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = f"<!doctype html><title>The app</title><h1>{heading}</h1>".encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


async def block_non_local(context: Any) -> list[str]:
    """Abort every request of ``context`` that would leave this machine; returns the list
    the aborted URLs are appended to (a test asserts it stays empty)."""
    blocked: list[str] = []

    async def route(route: Any) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname in LOCAL_HOSTS:
            await route.continue_()
        else:
            blocked.append(url)
            await route.abort()

    await context.route("**/*", route)
    return blocked


async def graphql(base: str, query: str, variables: dict[str, Any] | None = None, *,
                  authorization: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{base}/graphql", json={"query": query, "variables": variables or {}},
                                     headers={"Authorization": authorization})
    body = response.json()
    assert response.status_code == 200 and not body.get("errors"), body
    return dict(body["data"])
