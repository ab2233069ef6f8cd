"""The hosted checkout's "Promo code" field in a real headless Chromium (JavaScript off: the
page must work without it) against a real ``billgate serve``: a code that cannot be used
says why and changes nothing, a good one refreshes the shown total, and paying redeems it
once (``browser_testing.py``; skipped outside CI without Chromium or Playwright)."""

from __future__ import annotations

from typing import Any

import httpx
from browser_testing import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SERVER_KEY,
    requires_browser,
)

USER = {"type": "USER", "customerId": "promo-user"}

pytestmark = requires_browser



async def graphql(base: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{base}/graphql", json={"query": query, "variables": variables},
                                     headers={"Authorization": f"Bearer {SERVER_KEY}"})
    body = response.json()
    assert not body.get("errors"), body
    return dict(body["data"])


async def create_code(base: str, **fields: Any) -> None:
    data = await graphql(base, """mutation ($input: CreatePromoCodeInput!) {
        createPromoCode(input: $input) { promoCode { code } userErrors { message } } }""",
                         {"input": fields})
    assert data["createPromoCode"]["userErrors"] == [], data


async def checkout_url(base: str, return_url: str) -> str:
    data = await graphql(base, """mutation ($input: CreateCheckoutUrlInput!) {
        createCheckoutUrl(input: $input) { url userErrors { message } } }""",
                         {"input": {"customer": USER, "productId": "credit-pack",
                                    "returnUrl": return_url}})
    return str(data["createCheckoutUrl"]["url"])


async def test_the_promo_code_field_refreshes_the_total(billgate_url: str,
                                                        return_url: str) -> None:
    from playwright.async_api import async_playwright

    await create_code(billgate_url, code="SAVE20", percentOff="20", duration="ONCE",
                      maxRedemptions=1)
    await create_code(billgate_url, code="PROONLY", percentOff="50", duration="ONCE",
                      productIds=["pro"])
    url = await checkout_url(billgate_url, return_url)
    console: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(java_script_enabled=False)
            context.set_default_timeout(10_000)
            page = await context.new_page()
            page.on("console", lambda message: console.append(message.text))
            await page.goto(url)
            due = page.locator("dd.total")
            assert await due.inner_text() == "$5.00"

            async def apply(text: str) -> None:
                await page.get_by_label("Promo code").fill(text)
                await page.get_by_role("button", name="Apply").click()

            await apply("nope")
            assert await page.get_by_role("alert").inner_text() == "promo code 'NOPE' is unknown"
            assert await due.inner_text() == "$5.00", "nothing changed"
            await apply("proonly")
            assert await page.get_by_role("alert").inner_text() == \
                "promo code PROONLY is not for this product"
            assert await due.inner_text() == "$5.00"

            await apply("save20")  # any case
            await page.wait_for_url(url)
            assert await page.get_by_role("alert").count() == 0
            assert await page.locator("dt.discount").inner_text() == \
                "Promo code SAVE20 (20% off)"
            assert await page.locator("dd.discount").inner_text() == "-$1.00"
            assert await due.inner_text() == "$4.00"
            assert await page.get_by_label("Promo code").input_value() == "SAVE20"

            await page.get_by_label("4242 4242 4242 4242").check()
            await page.get_by_role("button", name="Complete test purchase").click()
            await page.wait_for_url(f"{return_url}?**")
            assert await page.locator("h1").inner_text() == "Thanks for buying"
        finally:
            await browser.close()
    assert not [m for m in console if "Content Security Policy" in m], console
    data = await graphql(billgate_url, """query ($c: CustomerRef!) {
        promoCodes(first: 5) { edges { node { code timesRedeemed } } }
        customer(customer: $c) { invoices(first: 5) { edges { node { amountTotal discount } } } } }""",
                         {"c": USER})
    assert {e["node"]["code"]: e["node"]["timesRedeemed"]
            for e in data["promoCodes"]["edges"]} == {"SAVE20": 1, "PROONLY": 0}
    assert [e["node"] for e in data["customer"]["invoices"]["edges"]] == [
        {"amountTotal": 400, "discount": 100}]
