"""Seats in a real Chromium (Debian's, through Playwright) against ``billgate serve``: a team
buys 3 seats of Team on the hosted checkout page (the page shows the quantity and the
total), its admin adds seats in the customer portal, then an operator takes some away in
the console. Fields and buttons are found by label and name; nothing leaves 127.0.0.1.

Skipped outside CI when Chromium or Playwright is missing (``browser_testing.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

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

pytestmark = [requires_browser, pytest.mark.timeout(240)]
KEY = "sk_test_seats_browser_key"
AUTH = f"Bearer {KEY}"
TEAM = {"type": "TEAM", "customerId": "acme"}


@pytest.fixture
async def database_file(tmp_path: Path) -> AsyncIterator[str]:
    yield await example_database(tmp_path)


@pytest.fixture
def return_url() -> Iterator[str]:
    """The app's page the checkout and the portal lead back to (another origin)."""
    with app_page("Back in the app") as port:
        yield f"http://127.0.0.1:{port}/back"


@pytest.fixture
def billgate_url(database_file: str, tmp_path: Path, return_url: str) -> Iterator[str]:
    with billgate_serve(database_file, tmp_path, SECRET_KEYS=KEY,
                        ALLOWED_RETURN_URLS=return_url.removesuffix("back")) as base:
        yield base


async def checkout_url(base: str, quantity: int, return_url: str) -> str:
    data = await graphql(base, """mutation ($input: CreateCheckoutUrlInput!) {
        createCheckoutUrl(input: $input) { url userErrors { message } } }""",
                         {"input": {"customer": TEAM, "productId": "team", "quantity": quantity,
                                    "returnUrl": return_url}}, authorization=AUTH)
    assert data["createCheckoutUrl"]["userErrors"] == [], data
    return str(data["createCheckoutUrl"]["url"])


async def portal_url(base: str, return_url: str) -> str:
    data = await graphql(base, """mutation ($input: CreateCustomerPortalUrlInput!) {
        createCustomerPortalUrl(input: $input) { url userErrors { message } } }""",
                         {"input": {"customer": TEAM, "returnUrl": return_url}}, authorization=AUTH)
    assert data["createCustomerPortalUrl"]["userErrors"] == [], data
    return str(data["createCustomerPortalUrl"]["url"])


async def seats_balance(base: str) -> int:
    data = await graphql(base, """query ($c: CustomerRef!) { customer(customer: $c) {
        item(itemId: "seats") { quantity } } }""", {"c": TEAM}, authorization=AUTH)
    return int(data["customer"]["item"]["quantity"])


async def test_seats_bought_added_in_the_portal_and_removed_in_the_console(
        billgate_url: str, return_url: str) -> None:
    from playwright.async_api import async_playwright, expect

    base = billgate_url
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1200, "height": 900})
            context.set_default_timeout(15_000)
            blocked = await block_non_local(context)
            errors: list[str] = []
            page = await context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))

            # The hosted checkout shows 3 seats and 3 x $49.00; the test card pays it.
            await page.goto(await checkout_url(base, 3, return_url))
            await expect(page.locator("dl.summary")).to_contain_text("Quantity3")
            await expect(page.locator("dl.summary")).to_contain_text("$147.00 / month")
            await expect(page.get_by_text("15 Seats")).to_be_visible()
            await page.get_by_role("button", name="Complete test purchase").click()
            await expect(page.get_by_role("heading", name="Back in the app")).to_be_visible()
            assert await seats_balance(base) == 15

            # The team's admin adds 2 seats in the portal.
            await page.goto(await portal_url(base, return_url))
            await page.wait_for_url(f"{base}/portal")
            team = page.get_by_role("article", name="Team")
            await expect(team.locator("[data-seats]")).to_have_text("3")
            await team.get_by_label("Seats").fill("5")
            await team.get_by_role("button", name="Change seats").click()
            await expect(page.locator("p.flash")).to_have_text("Team now has 5 seats.")
            await expect(team.locator("[data-seats]")).to_have_text("5")
            await expect(team).to_contain_text("$245.00 / month")
            await expect(page.locator('[data-balance="Seats"]')).to_have_text("25")
            # The same number again is refused with the reason, and nothing changes.
            await team.get_by_role("button", name="Change seats").click()
            await expect(page.locator("p.flash")).to_contain_text("already has a quantity of 5")
            await expect(team.locator("[data-seats]")).to_have_text("5")

            # An operator takes 3 seats away in the console.
            await page.goto(f"{base}/admin/customers/TEAM/acme")
            await page.get_by_label("Secret key").fill(KEY)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page).to_have_url(f"{base}/admin/customers/TEAM/acme")
            seats = page.get_by_role("form", name="Seats of Team")
            await expect(seats.get_by_label("Seats")).to_have_value("5")
            await seats.get_by_label("Seats").fill("2")
            await seats.get_by_role("button", name="Change seats").click()
            assert "Team: 2 seats." in await page.get_by_role("status").first.inner_text()
            await expect(page.get_by_role("form", name="Seats of Team").get_by_label("Seats")
                         ).to_have_value("2")
            assert await seats_balance(base) == 10
            # Above the plan's maximum (none here: 10,000) is refused next to the field.
            await page.get_by_role("form", name="Seats of Team").get_by_label("Seats").evaluate(
                "input => input.removeAttribute('max')")
            await page.get_by_role("form", name="Seats of Team").get_by_label("Seats").fill("10001")
            await page.get_by_role("form", name="Seats of Team").get_by_role(
                "button", name="Change seats").click()
            field = page.get_by_role("form", name="Seats of Team").get_by_label("Seats")
            await expect(field).to_have_attribute("aria-invalid", "true")
            await expect(page.locator(".field-error")).to_contain_text(
                "quantity must be from 1 to 10000 for Team")
            assert await seats_balance(base) == 10
            assert errors == [] and blocked == []
        finally:
            await browser.close()
