"""An operator's day in a real Chromium (Debian's, through Playwright) against a real
``billgate serve``: sign in, create a product and a price, find a customer, adjust a balance
with an expiry (and watch it change live when the app's backend spends), grant a product,
refund a charge taking back what it granted, cancel and resume a subscription, block new
purchases, read the activity log, sign out. Elements are found by label and button name, as
a person finds them. Nothing leaves 127.0.0.1 (every other request is aborted and counted).

Skipped outside CI when Chromium or Playwright is missing (``browser_testing.py``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

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
KEY = "sk_test_console_browser_key"
AUTH = f"Bearer {KEY}"
ADA = {"type": "USER", "customerId": "ada"}
RETURN_URL = "http://127.0.0.1:9/back"


@pytest.fixture
async def database_file(tmp_path: Path) -> AsyncIterator[str]:
    yield await example_database(tmp_path)


@pytest.fixture
def billgate_url(database_file: str, tmp_path: Path) -> Iterator[str]:
    with billgate_serve(database_file, tmp_path, SECRET_KEYS=KEY,
                        ALLOWED_RETURN_URLS="http://127.0.0.1:9/") as base:
        yield base


async def buy(base: str, product_id: str, price_id: str | None = None) -> None:
    """Ada buys through the hosted checkout page with the test card that succeeds."""
    data = await graphql(base, """mutation ($input: CreateCheckoutUrlInput!) {
        createCheckoutUrl(input: $input) { url userErrors { message } } }""",
                         {"input": {"customer": ADA, "productId": product_id, "priceId": price_id,
                                    "returnUrl": RETURN_URL}}, authorization=AUTH)
    url = data["createCheckoutUrl"]["url"]
    async with httpx.AsyncClient() as client:
        done = await client.post(f"{url}/complete", data={"test_card": "4242424242424242"})
    assert done.status_code == 303, done.text


async def spend(base: str, amount: int) -> None:
    await graphql(base, """mutation ($c: CustomerRef!, $n: BigInt!) { tryDecreaseItemQuantity(
        input: {customer: $c, itemId: "credits", amount: $n}) { success } }""",
                  {"c": ADA, "n": amount}, authorization=AUTH)


async def flash(page: Any) -> str:
    return str(await page.get_by_role("status").first.inner_text())


async def test_an_operators_day(billgate_url: str) -> None:
    from playwright.async_api import async_playwright, expect

    base = billgate_url
    await buy(base, "credit-pack")
    await buy(base, "pro", "pro-monthly")
    console: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1366, "height": 768})
            context.set_default_timeout(15_000)
            blocked = await block_non_local(context)
            page = await context.new_page()
            page.on("console", lambda message: console.append(message.text))

            # Sign in: a console page asked for first leads to sign-in, then to that page.
            await page.goto(f"{base}/admin/customers")
            await expect(page).to_have_url(re.compile(r"/admin/sign-in\?next="))
            await page.get_by_label("Secret key").fill("sk_wrong_key")
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.get_by_role("alert")).to_contain_text("not a secret key")
            await page.get_by_label("Secret key").fill(KEY)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page).to_have_url(f"{base}/admin/customers")

            # A product and its price, previewed then saved.
            await page.get_by_role("link", name="Catalog").click()
            await page.get_by_role("link", name="New product", exact=True).click()
            await page.get_by_label("Product ID").fill("booster")
            await page.get_by_label("Display name").fill("Booster pack")
            await page.get_by_label("Price ID").fill("booster-once")
            await page.get_by_label("Amounts").fill("USD 3.00")
            await page.get_by_role("button", name="Preview changes").click()
            await expect(page.get_by_role("heading", name="What will be created")).to_be_visible()
            await page.get_by_role("button", name="Save product").click()
            assert "Saved product booster." in await flash(page)
            await expect(page.get_by_role("cell", name="booster-once: USD 3.00")).to_be_visible()

            # Find Ada.
            await page.get_by_role("link", name="Customers").click()
            await page.get_by_label("Search").fill("ad")
            await page.get_by_role("button", name="Search").click()
            await page.get_by_role("link", name="ada", exact=True).click()
            await expect(page.get_by_role("heading", name=re.compile("^ada"))).to_be_visible()

            # The balance is live: the app's backend spends and the page follows.
            balance = page.locator('[data-live-item="credits"]')
            await expect(page.locator('[data-live-dot="credits"].on')).to_be_visible()
            before = int((await balance.inner_text()).replace(",", ""))
            await spend(base, 7)
            await expect(balance).to_have_text(f"{before - 7:,}")

            # Adjust the balance with an expiry.
            await page.get_by_label("Item").select_option("credits")
            await page.get_by_label("Amount", exact=True).first.fill("250")
            await page.get_by_label("Expires at").fill("2030-01-01T00:00")
            await page.get_by_label("Reason").fill("Launch bonus")
            await page.get_by_role("button", name="Adjust balance").click()
            assert f"is now {before - 7 + 250:,}" in await flash(page)
            await expect(page.get_by_role("cell", name="manual · Launch bonus").first).to_be_visible()

            # Grant the new product.
            await page.get_by_label("Product", exact=True).select_option("booster")
            await page.get_by_role("button", name="Grant product").click()
            assert "Granted Booster pack." in await flash(page)

            # Refund the credit pack and take back its 500 credits.
            row = page.locator("tr", has=page.get_by_role("cell", name="500 credits", exact=True)) \
                .filter(has_text="purchase")
            await row.get_by_label("Take back what it granted").check()
            await row.get_by_role("button", name="Refund").click()
            assert "Refunded $5.00 and took back what it granted." in await flash(page)

            # Cancel Pro at the period end, undo it; pause it, resume it.
            pro = page.locator(".sub", has=page.get_by_text("Pro", exact=True))
            await pro.get_by_role("button", name="Cancel at period end").click()
            assert "Canceled at the end of the period" in await flash(page)
            await pro.get_by_role("button", name="Undo cancel").click()
            assert "The cancel was undone" in await flash(page)
            await pro.get_by_role("button", name="Pause").click()
            assert "Paused" in await flash(page)
            await pro.get_by_role("button", name="Resume").click()
            assert "Resumed" in await flash(page)
            await expect(pro.get_by_text("ACTIVE")).to_be_visible()

            # Block new purchases.
            await page.get_by_role("link", name="Settings").click()
            await page.get_by_label("Block new purchases").check()
            await page.get_by_role("button", name="Save settings").click()
            assert "Settings saved" in await flash(page)
            await expect(page.get_by_label("Block new purchases")).to_be_checked()

            # The activity log has the day.
            await page.get_by_role("link", name="Activity").click()
            log = await page.locator("table").inner_text()
            for action in ("signIn", "upsertProduct", "increaseItemQuantity", "grantProduct",
                           "refundTransaction", "cancelSubscription", "uncancelSubscription",
                           "pauseSubscription", "resumeSubscription", "updatePaymentSettings",
                           "tryDecreaseItemQuantity"):
                assert action in log, action

            # Sign out: the console is closed again.
            await page.get_by_role("button", name="Sign out").click()
            await expect(page.get_by_label("Secret key")).to_be_visible()
            await page.goto(f"{base}/admin/settings")
            await expect(page).to_have_url(re.compile(r"/admin/sign-in\?next=%2Fadmin%2Fsettings"))
            assert blocked == []
        finally:
            await browser.close()
    assert not [m for m in console if "Content Security Policy" in m], console

    settings = await graphql(base, "{ paymentSettings { blockNewPurchases } }", authorization=AUTH)
    assert settings["paymentSettings"]["blockNewPurchases"] is True
    owned = await graphql(base, """{ customer(customer: {type: USER, customerId: "ada"}) {
        products { edges { node { productId } } } } }""", authorization=AUTH)
    assert "booster" in {e["node"]["productId"] for e in owned["customer"]["products"]["edges"]}
