"""A purchase clicked through in a real headless Chromium (Debian's ``chromium`` package,
driven by Playwright's async API) against a real ``billgate serve`` process.

The browser runs with JavaScript disabled: the test-mode checkout must work without it. The
return page is served by a second, throwaway server on another port, so the redirect after
the form POST crosses origins exactly as it does for an app (Chromium applies the page's
``form-action`` policy to that redirect).

Skipped outside CI when Chromium or Playwright is missing; in CI (``CI`` set) it always runs
(``browser_testing.py``).
"""

from __future__ import annotations

import httpx
from browser_testing import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SERVER_KEY,
    requires_browser,
)

from billgate.billing import items
from billgate.billing.purchases import service
from billgate.clock import TestClock
from billgate.db.engine import Database
from billgate.types import CustomerRef, CustomerType

USER = CustomerRef(CustomerType.USER, "browser-user")

pytestmark = requires_browser



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

            # A declining test card: a clear message, nothing bought, the link still usable.
            await page.get_by_label("4000 0000 0000 0002").check()
            await page.get_by_role("button", name="Complete test purchase").click()
            assert await page.get_by_role("alert").inner_text() == "Your card was declined."
            await page.get_by_label("4242 4242 4242 4242").check()
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
