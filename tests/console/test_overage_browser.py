"""Holds and overage where people look, in a real Chromium against a real ``billgate serve``
(issue 27 item 5): a customer on a plan with overage holds 10 credits and spends past zero;
the console's customer page shows the reserved 10 beside the balance and the overage used
so far this period with what it comes to, and so does the customer's portal. Found by
labels, headings and cells, as a person reads them. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import re
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
    graphql,
    requires_browser,
)

pytestmark = [requires_browser, pytest.mark.timeout(180)]
KEY = "sk_test_overage_browser_key"
AUTH = f"Bearer {KEY}"
ADA = {"type": "USER", "customerId": "ada"}
RETURN_URL = "http://127.0.0.1:9/back"
METERED = {
    "displayName": "Metered", "customerType": "USER", "productLineId": "user-plans",
    "prices": [{"priceId": "metered-monthly", "interval": {"unit": "MONTH", "count": 1},
                "amounts": [{"currency": "USD", "amount": "10.00"}]}],
    "includedItems": [{"itemId": "credits", "quantity": 100,
                       "repeat": {"unit": "MONTH", "count": 1}, "expires": "WHEN_REPEATED"}],
    "overage": [{"itemId": "credits", "limit": 50,
                 "unitAmounts": [{"currency": "USD", "amount": "0.02"}]}],
}


@pytest.fixture
async def database_file(tmp_path: Path) -> AsyncIterator[str]:
    yield await example_database(tmp_path)


@pytest.fixture
def billgate_url(database_file: str, tmp_path: Path) -> Iterator[str]:
    with billgate_serve(database_file, tmp_path, SECRET_KEYS=KEY,
                        ALLOWED_RETURN_URLS="http://127.0.0.1:9/") as base:
        yield base


async def call(base: str, document: str, variables: dict[str, Any]) -> dict[str, Any]:
    data = await graphql(base, document, variables, authorization=AUTH)
    payload = next(iter(data.values()))
    assert not payload.get("userErrors"), payload
    return payload


async def ada_on_overage(base: str) -> str:
    """Metered granted to Ada (100 credits), 10 held, 115 spent: 15 past zero, 10 reserved.
    Returns Ada's portal link."""
    await call(base, """mutation ($input: UpsertProductInput!) { upsertProduct(input: $input) {
        product { productId } userErrors { message } } }""",
               {"input": {"productId": "metered", "product": METERED}})
    await call(base, """mutation ($input: GrantProductInput!) { grantProduct(input: $input) {
        userErrors { message } } }""", {"input": {"customer": ADA, "productId": "metered"}})
    held = await call(base, """mutation ($input: ReserveItemQuantityInput!) {
        reserveItemQuantity(input: $input) { success userErrors { message } } }""",
                      {"input": {"customer": ADA, "itemId": "credits", "amount": 10,
                                 "ttlSeconds": 3600}})
    assert held["success"] is True
    spent = await call(base, """mutation ($c: CustomerRef!) { tryDecreaseItemQuantity(
        input: {customer: $c, itemId: "credits", amount: 115}) { success userErrors { code } } }""",
                       {"c": ADA})
    assert spent["success"] is True
    portal = await call(base, """mutation ($input: CreateCustomerPortalUrlInput!) {
        createCustomerPortalUrl(input: $input) { url userErrors { message } } }""",
                        {"input": {"customer": ADA, "returnUrl": RETURN_URL}})
    return str(portal["url"])


async def test_the_console_and_the_portal_show_holds_and_overage(billgate_url: str) -> None:
    from playwright.async_api import async_playwright, expect

    base = billgate_url
    portal_url = await ada_on_overage(base)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1366, "height": 900})
            context.set_default_timeout(15_000)
            blocked = await block_non_local(context)
            page = await context.new_page()

            # The console: sign in, then Ada's page.
            await page.goto(f"{base}/admin/customers/USER/ada")
            await expect(page).to_have_url(re.compile(r"/admin/sign-in\?next="))
            await page.get_by_label("Secret key").fill(KEY)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.get_by_role("heading", name=re.compile("^ada"))).to_be_visible()
            balances = page.get_by_role("region", name="Balances")
            credits = balances.get_by_role("row", name=re.compile("AI credits"))
            await expect(credits.get_by_role("cell").nth(1)).to_have_text("-15")
            await expect(credits.get_by_role("cell").nth(2)).to_have_text("10")
            header = balances.get_by_role("columnheader", name="Reserved")
            await expect(header).to_be_visible()
            await expect(page.get_by_role("heading", name="Overage this period")).to_be_visible()
            overage = page.get_by_role("table", name="Overage this period")
            row = overage.get_by_role("row", name=re.compile("credits"))
            await expect(row.get_by_role("cell")).to_have_text(["credits", "15", "50", "$0.30"])

            # The portal: Ada's own page.
            await page.goto(portal_url)
            await expect(page.get_by_role("heading", name="Balances")).to_be_visible()
            await expect(page.locator('dd[data-balance="AI credits"]')).to_have_text(
                "-15 (10 reserved)")
            await expect(page.get_by_role("heading", name="Overage this period")).to_be_visible()
            await expect(page.locator('dd[data-overage="AI credits"]')).to_have_text(
                "15 of 50 · $0.30")
            assert blocked == [], blocked
        finally:
            await browser.close()
