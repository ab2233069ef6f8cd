"""The checkout's links back to the app, checked against what Chromium itself does with them
(Debian's Chromium through Playwright, a real ``billgate serve`` with the allowed list as
``make run`` sets it: ``localhost,127.0.0.1``).

The issue's ``cancelUrl: "http://evil.com\\\\@localhost/x"`` was accepted and rendered as the
page's Cancel link, which Chromium follows to evil.com. Now it is refused; a link stored
before the rule is not rendered; and for a list of tricky URLs, whatever billgate accepts is
exactly what Chromium's URL parser makes of it, on an allowed host.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_testing import (
    CHROMIUM,
    CHROMIUM_ARGS,
    app_page,
    billgate_serve,
    block_non_local,
    example_database,
    graphql,
    requires_browser,
)

from billgate.billing.return_urls import check
from billgate.errors import ReturnUrlNotAllowed

pytestmark = requires_browser

SERVER_KEY = "sk_test_return_urls"
MAKE_RUN = "localhost,127.0.0.1"
HOSTILE = "http://evil.com\\@localhost/x"
CHECKOUT = """mutation($input: CreateCheckoutUrlInput!) {
  createCheckoutUrl(input: $input) { url userErrors { code field message } } }"""

TRICKY = [
    HOSTILE, "http://localhost\\@evil.com/x", "http:/\\evil.com/", "http:\\\\evil.com\\@localhost",
    "http://evil.com\t@localhost/", "http://evil.com%40localhost/", "http://localhost%2f@evil.com/",
    "http://localhost:3000@evil.com/", "http://localhost#@evil.com/", "http://localhost?@evil.com/",
    "http://evil.com/..//localhost", "http://localhost/..\\..\\evil", "http://LOCALHOST:3000/Back",
    "http://localhost:3000/a/./b/../c", "http://127.0.0.1:3000/", "http://127.1:3000/",
    "http://0x7f000001/", "http://[::ffff:127.0.0.1]/", "http://localhost./", " http://localhost/",
    "http://localhost:80/", "https://localhost:443/x", "HtTp://localhost/", "http://localhost\u3002evil.com/",
]


@pytest.fixture
def app_url() -> Iterator[str]:
    with app_page("Back in the app") as port:
        yield f"http://localhost:{port}"


@pytest.fixture
async def database_file(tmp_path: Path) -> AsyncIterator[str]:
    yield await example_database(tmp_path)


@pytest.fixture
def billgate_url(database_file: str, tmp_path: Path) -> Iterator[str]:
    with billgate_serve(database_file, tmp_path, SECRET_KEYS=SERVER_KEY,
                        ALLOWED_RETURN_URLS=MAKE_RUN) as base:
        yield base


async def create_checkout(base: str, **urls: str) -> dict[str, Any]:
    data = await graphql(base, CHECKOUT, {"input": {
        "customer": {"type": "USER", "customerId": "browser-user"}, "productId": "credit-pack",
        **urls}}, authorization=f"Bearer {SERVER_KEY}")
    return dict(data["createCheckoutUrl"])


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await launched.new_context()
            context.set_default_timeout(10_000)
            context.blocked = await block_non_local(context)
            yield context
        finally:
            await launched.close()


async def test_the_issues_cancel_url_is_refused(billgate_url: str, app_url: str) -> None:
    payload = await create_checkout(billgate_url, returnUrl=f"{app_url}/billing", cancelUrl=HOSTILE)
    assert payload["url"] is None
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("RETURN_URL_NOT_ALLOWED", ["cancelUrl"])
    assert "backslash" in error["message"]


async def test_the_cancel_link_goes_back_to_the_app(billgate_url: str, app_url: str,
                                                    browser: Any) -> None:
    payload = await create_checkout(billgate_url, returnUrl=f"{app_url}/billing",
                                    cancelUrl=f"{app_url}/pricing")
    page = await browser.new_page()
    await page.goto(payload["url"])
    await page.get_by_role("link", name="Cancel").click()
    await page.wait_for_url(f"{app_url}/pricing")
    assert await page.get_by_role("heading").inner_text() == "Back in the app"
    assert browser.blocked == []


async def test_a_hostile_link_stored_before_the_rule_is_not_rendered(
        billgate_url: str, app_url: str, database_file: str, browser: Any) -> None:
    payload = await create_checkout(billgate_url, returnUrl=f"{app_url}/billing",
                                    cancelUrl=f"{app_url}/pricing")
    code = payload["url"].rsplit("/", 1)[1]
    with sqlite3.connect(database_file.split("///", 1)[1]) as conn:  # as an older billgate stored it
        conn.execute("UPDATE checkout_sessions SET cancel_url = ? WHERE code = ?", (HOSTILE, code))
    page = await browser.new_page()
    await page.goto(payload["url"])
    hrefs = await page.eval_on_selector_all("a", "links => links.map(a => a.href)")
    assert not [href for href in hrefs if "evil.com" in href], hrefs
    assert await page.get_by_role("link", name="Cancel").count() == 0


async def test_what_billgate_accepts_is_what_chromium_reads(browser: Any) -> None:
    page = await browser.new_page()
    allowed = MAKE_RUN.split(",")
    for url in TRICKY:
        read = await page.evaluate(
            "u => { try { const x = new URL(u); return [x.href, x.hostname]; }"
            " catch (e) { return null; } }", url)
        try:
            ours = check(url, allowed)
        except ReturnUrlNotAllowed:
            continue
        assert read is not None, f"billgate accepted {url!r}, which Chromium cannot parse"
        href, hostname = read
        assert href == ours, f"{url!r}: billgate keeps {ours!r}, Chromium goes to {href!r}"
        assert hostname in allowed, f"{url!r} was accepted but Chromium goes to {hostname}"
