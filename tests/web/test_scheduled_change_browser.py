"""Plan changes at the period end in a real Chromium against a real ``billgate serve``: in
the customer portal a downgrade defaults to "at the end of the period" (the immediate credit
is the other choice), the scheduled change is shown and canceled; in the console an operator
sees it, cancels it, schedules another (the open portal tab follows by itself,
``customerChanged``), and after the period end (the test clock) the customer is on the new
plan. Found by labels and button names."""

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
KEY = "sk_test_scheduled_change_browser"
AUTH = f"Bearer {KEY}"
ADA = {"type": "USER", "customerId": "ada"}
RETURN_URL = "http://127.0.0.1:9/back"
DAY = 86400
LIVE_WAIT_MS = 10_000  # a change made elsewhere reaches the open portal within this
ADVANCE = """mutation ($s: Int!) { advanceTestClock(input: {seconds: $s}) { now userErrors { code } } }"""
PORTAL = """mutation ($input: CreateCustomerPortalUrlInput!) {
  createCustomerPortalUrl(input: $input) { url userErrors { message } } }"""


@pytest.fixture
async def database_file(tmp_path: Path) -> AsyncIterator[str]:
    yield await example_database(tmp_path)


@pytest.fixture
def base(database_file: str, tmp_path: Path) -> Iterator[str]:
    with billgate_serve(database_file, tmp_path, SECRET_KEYS=KEY,
                        ALLOWED_RETURN_URLS="http://127.0.0.1:9/") as url:
        yield url


async def buy_enterprise_and_pay(base: str) -> None:
    """Ada buys Enterprise (a 14-day trial) with the good test card; its trial ends and the
    first month is paid."""
    data = await graphql(base, """mutation ($input: CreateCheckoutUrlInput!) {
        createCheckoutUrl(input: $input) { url userErrors { message } } }""",
                         {"input": {"customer": ADA, "productId": "enterprise",
                                    "returnUrl": RETURN_URL}}, authorization=AUTH)
    async with httpx.AsyncClient() as client:
        done = await client.post(f"{data['createCheckoutUrl']['url']}/complete",
                                 data={"test_card": "4242424242424242"})
    assert done.status_code == 303, done.text
    await advance(base, 15 * DAY)


async def advance(base: str, seconds: int) -> None:
    data = await graphql(base, ADVANCE, {"s": seconds}, authorization=AUTH)
    assert data["advanceTestClock"]["userErrors"] == []


async def flash_text(page: Any) -> str:
    return str(await page.locator("p.flash").first.inner_text())


async def test_a_downgrade_at_the_period_end_in_the_portal_and_the_console(base: str) -> None:
    from playwright.async_api import async_playwright, expect

    await buy_enterprise_and_pay(base)
    link = (await graphql(base, PORTAL, {"input": {"customer": ADA, "returnUrl": RETURN_URL}},
                          authorization=AUTH))["createCustomerPortalUrl"]["url"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1200, "height": 900})
            context.set_default_timeout(15_000)
            blocked = await block_non_local(context)
            page = await context.new_page()

            # The portal: Enterprise -> Pro defaults to the period end.
            await page.goto(link)
            enterprise = page.get_by_role("article", name="Enterprise")
            await enterprise.get_by_label("New plan").select_option(label="Pro, $19.00 / month")
            await enterprise.get_by_role("button", name="Switch plan").click()
            later = page.get_by_role("radio", name=re.compile("^At the end of the period"))
            now = page.get_by_role("radio", name=re.compile("^Now: .* credited to your account"))
            await expect(later).to_be_checked()
            await expect(now).not_to_be_checked()
            await page.get_by_role("button", name="Confirm switch").click()
            assert "Your plan changes at the end of the period" in await flash_text(page)
            scheduled = enterprise.locator("[data-scheduled]")
            await expect(scheduled).to_contain_text("Changes to Pro ($19.00 / month) on")
            await expect(enterprise).to_contain_text("Next charge")
            await expect(enterprise.locator("[data-status]")).to_have_text("Active")

            # ... and canceled there.
            await enterprise.get_by_role("button", name="Cancel scheduled change").click()
            assert "The scheduled change was canceled" in await flash_text(page)
            await expect(scheduled).to_have_count(0)

            # Scheduled again; the console shows it and cancels it, then schedules yearly.
            await enterprise.get_by_label("New plan").select_option(label="Pro, $19.00 / month")
            await enterprise.get_by_role("button", name="Switch plan").click()
            await page.get_by_role("button", name="Confirm switch").click()
            await expect(scheduled).to_have_count(1)

            # The console, in another tab; the open portal follows what it does.
            console = await context.new_page()
            await console.goto(f"{base}/admin/customers")
            await console.get_by_label("Secret key").fill(KEY)
            await console.get_by_role("button", name="Sign in").click()
            await console.goto(f"{base}/admin/customers/USER/ada")
            sub = console.locator(".sub", has=console.get_by_text("Enterprise", exact=True))
            badge = sub.locator("[data-scheduled]")
            await expect(badge).to_contain_text("Changes to Pro, pro-monthly on")
            await sub.get_by_role("button", name="Cancel scheduled change").click()
            status = console.get_by_role("status").first
            await expect(status).to_contain_text("The scheduled change was canceled")
            await expect(badge).to_have_count(0)
            await expect(scheduled).to_have_count(0, timeout=LIVE_WAIT_MS)
            await sub.get_by_label("Change plan at period end").select_option(label="Pro, pro-yearly")
            await sub.get_by_role("button", name="Schedule change").click()
            await expect(status).to_contain_text("changes at the period end")
            await expect(badge).to_contain_text("Changes to Pro, pro-yearly on")
            await expect(scheduled).to_contain_text("Changes to Pro ($190.00 / year) on",
                                                    timeout=LIVE_WAIT_MS)

            # The period end: the renewal is of Pro yearly.
            await advance(base, 30 * DAY)
            page = console
            await page.reload()
            pro = page.locator(".sub", has=page.get_by_text("Pro", exact=True))
            await expect(pro.get_by_text("ACTIVE")).to_be_visible()
            await expect(pro).to_contain_text("$190.00 / year")
            await expect(sub.get_by_text("CANCELED")).to_be_visible()
            assert blocked == []
        finally:
            await browser.close()
