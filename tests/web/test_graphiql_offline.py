"""GraphiQL with no internet: a real Chromium whose every non-local request is aborted loads
billgate's ``/graphql`` page, renders GraphiQL from the packaged assets, runs a query with the
development key (generated in test mode when no key is set) and follows a subscription."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from browser_testing import (
    CHROMIUM,
    CHROMIUM_ARGS,
    billgate_serve,
    block_non_local,
    example_database,
    graphql,
    requires_browser,
)

pytestmark = requires_browser

QUERY = "{ products(first: 1) { edges { node { productId } } } }"
SUBSCRIPTION = ('subscription { itemQuantityChanged(customer: {type: USER, customerId: "ide-user"}, '
                'itemId: "credits") { quantity version } }')
INCREASE = """mutation { increaseItemQuantity(input: {customer: {type: USER, customerId: "ide-user"},
  itemId: "credits", amount: 42}) { userErrors { code } } }"""


@pytest.fixture
async def database(tmp_path: Path) -> str:
    return await example_database(tmp_path)


@pytest.fixture
def server(database: str, tmp_path: Path) -> Iterator[str]:
    # No BILLGATE_SECRET_KEYS: test mode generates the development key.
    with billgate_serve(database, tmp_path) as base:
        yield base


def development_key(database_url: str) -> str:
    path = database_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as conn:
        [(value,)] = conn.execute("SELECT value FROM app_settings WHERE key = 'dev_secret_key'")
    return str(json.loads(value))  # stored as JSON


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def open_graphiql(browser: Any, server: str, query: str, key: str) -> tuple[Any, list[str]]:
    context = await browser.new_context()
    context.set_default_timeout(15_000)
    blocked = await block_non_local(context)
    page = await context.new_page()
    headers = json.dumps({"Authorization": f"Bearer {key}"})
    response = await page.goto(f"{server}/graphql?{urlencode({'q': query, 'headers': headers})}")
    assert response is not None and response.status == 200
    await page.locator(".graphiql-container").wait_for()
    return page, blocked


async def test_graphiql_runs_a_query_offline(browser: Any, server: str, database: str) -> None:
    page, blocked = await open_graphiql(browser, server, QUERY, development_key(database))
    await page.locator(".graphiql-execute-button").click()
    result = page.locator(".result-window")
    await result.filter(has_text='"productId"').wait_for()
    assert '"credit-pack"' in await result.inner_text()
    assert blocked == []


async def test_graphiql_follows_a_subscription_offline(browser: Any, server: str, database: str) -> None:
    key = development_key(database)
    page, blocked = await open_graphiql(browser, server, SUBSCRIPTION, key)
    await page.locator(".graphiql-execute-button").click()
    result = page.locator(".result-window")
    await result.filter(has_text='"itemQuantityChanged"').wait_for()
    await graphql(server, INCREASE, authorization=f"Bearer {key}")
    # The change, live: the grant created the customer, with the Free plan's 100 credits first.
    await result.filter(has_text='"quantity": 142').wait_for()
    assert blocked == []


async def test_graphiql_sends_no_authorization_until_a_key_is_typed(
        browser: Any, server: str) -> None:
    """A first visit (no headers in the URL or the browser's storage): GraphiQL sends no
    Authorization header at all, so its schema loads and the public catalog answers, and
    in test mode with the development key the editor says where that key is."""
    context = await browser.new_context()
    context.set_default_timeout(15_000)
    blocked = await block_non_local(context)
    page = await context.new_page()
    sent: list[tuple[str | None, int]] = []

    async def on_response(response: Any) -> None:
        if response.url.endswith("/graphql") and response.request.method == "POST":
            sent.append((await response.request.header_value("authorization"), response.status))

    page.on("response", on_response)
    await page.goto(f"{server}/graphql")
    await page.locator(".graphiql-container").wait_for()
    await page.locator(".graphiql-execute-button").click()
    await page.locator(".result-window").filter(has_text='"data"').wait_for()
    assert sent and all(header is None and status == 200 for header, status in sent), sent
    assert '"productId"' in await page.locator(".result-window").inner_text()
    editor = page.locator(".graphiql-query-editor")
    await editor.filter(has_text="development secret key").wait_for()
    assert "paste it in the Headers tab" in await editor.inner_text()
    assert blocked == []


async def test_without_a_development_key_the_hint_names_no_key(
        browser: Any, database: str, tmp_path: Path) -> None:
    with billgate_serve(database, tmp_path, SECRET_KEYS="sk_test_configured") as base:
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(f"{base}/graphql")
        editor = page.locator(".graphiql-query-editor")
        await editor.filter(has_text="billgate GraphQL").wait_for(timeout=15_000)
        text = await editor.inner_text()
        assert "development" not in text and "<secret key or customer token>" in text
