"""The console's Promo codes page in a real Chromium (Debian's, through Playwright) against
a real ``billgate serve``: an operator creates a code (a refused one first, its error next
to the field), sees its redemptions rise when a customer pays with it on the hosted
checkout, and disables it, after which checkout refuses it with the reason. Found by label
and button name; nothing leaves 127.0.0.1 (``browser_testing.py``)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
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

pytestmark = [requires_browser, pytest.mark.timeout(240)]
KEY = "sk_test_console_promo_key"
AUTH = f"Bearer {KEY}"
RETURN_URL = "http://127.0.0.1:9/back"
CHECKOUT = """mutation ($input: CreateCheckoutUrlInput!) {
  createCheckoutUrl(input: $input) { url userErrors { code message } } }"""


@pytest.fixture
async def database_file(tmp_path: Path) -> AsyncIterator[str]:
    yield await example_database(tmp_path)


@pytest.fixture
def billgate_url(database_file: str, tmp_path: Path) -> Iterator[str]:
    with billgate_serve(database_file, tmp_path, SECRET_KEYS=KEY,
                        ALLOWED_RETURN_URLS="http://127.0.0.1:9/") as base:
        yield base


async def checkout(base: str, who: str, promo: str) -> dict[str, object]:
    data = await graphql(base, CHECKOUT, {"input": {
        "customer": {"type": "USER", "customerId": who}, "productId": "credit-pack",
        "returnUrl": RETURN_URL, "promoCode": promo}}, authorization=AUTH)
    return dict(data["createCheckoutUrl"])


async def test_an_operator_runs_a_promo_code(billgate_url: str) -> None:
    from playwright.async_api import async_playwright, expect

    base = billgate_url
    console: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1366, "height": 768})
            context.set_default_timeout(15_000)
            blocked = await block_non_local(context)
            page = await context.new_page()
            page.on("console", lambda message: console.append(message.text))
            await page.goto(f"{base}/admin/sign-in")
            await page.get_by_label("Secret key").fill(KEY)
            await page.get_by_role("button", name="Sign in").click()
            await page.get_by_role("link", name="Promo codes").click()
            await expect(page.get_by_role("heading", name="Promo codes", exact=True)).to_be_visible()
            await expect(page.get_by_text("No promo codes yet.")).to_be_visible()

            # A refused value: the error next to its field, what was typed kept.
            await page.get_by_label("Code", exact=True).fill("spring")
            await page.get_by_label("Duration").select_option("REPEATING")
            await page.get_by_label("Percent off").fill("20")
            await page.get_by_role("button", name="Create promo code").click()
            await expect(page.locator("#promo-duration_in_months-error")).to_contain_text(
                "durationInMonths is required with REPEATING")
            await expect(page.get_by_label("Code", exact=True)).to_have_value("spring")

            await page.get_by_label("Months").fill("3")
            await page.get_by_label("Max redemptions").fill("2")
            await page.get_by_label("Products").fill("credit-pack")
            await page.get_by_role("button", name="Create promo code").click()
            await expect(page.get_by_role("status").first).to_contain_text(
                "Created promo code SPRING.")
            row = page.get_by_role("row", name=re.compile("SPRING"))
            await expect(row).to_contain_text("20% off")
            await expect(row).to_contain_text("3 months")
            await expect(row).to_contain_text("0 of 2")

            # A customer pays with it on the hosted checkout: one redemption.
            made = await checkout(base, "ada", "Spring")
            assert made["userErrors"] == [], made
            async with httpx.AsyncClient() as client:
                paid = await client.post(f"{made['url']}/complete",
                                         data={"test_card": "4242424242424242"})
            assert paid.status_code == 303, paid.text
            await page.reload()
            await expect(row).to_contain_text("1 of 2")

            await page.get_by_role("button", name="Disable SPRING").click()
            await expect(page.get_by_role("status").first).to_contain_text("SPRING disabled.")
            await expect(row).to_contain_text("Disabled")
            refused = await checkout(base, "grace", "spring")
            assert refused["userErrors"] == [{"code": "PROMO_CODE_INVALID",
                                              "message": "promo code SPRING is disabled"}]
            await page.get_by_role("button", name="Enable SPRING").click()
            await expect(row).to_contain_text("Enabled")
        finally:
            await browser.close()
    assert blocked == []
    assert not [m for m in console if "Content Security Policy" in m], console
