"""Auto top-up (issue 27) as people see it, in a real Chromium (Debian's, through Playwright)
against a real ``billgate serve`` whose scheduler buys the top-ups: the app's backend sets
one with the secret key; the operator console's customer page (the Balances table's "Auto
top-up" column) and the customer portal ("Auto top-up of AI credits") show the threshold
and the product bought; a crossing buys a pack (the open portal follows by itself: a new
paid invoice); with the declining test card the next crossing turns it off and both pages
say so with the processor's reason. Found by roles, labels and button names; nothing
leaves 127.0.0.1.

Runs on PostgreSQL when ``BILLGATE_TEST_DATABASE_URL`` is set (a database of its own,
dropped after), else on a SQLite file. Skipped outside CI when Chromium or Playwright is
missing (``browser_testing.py``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from browser_testing import (
    CHROMIUM,
    CHROMIUM_ARGS,
    EXAMPLE_CATALOG,
    billgate_serve,
    block_non_local,
    example_database,
    graphql,
    requires_browser,
)

from testdb import PG_URL, create_pg_database, drop_pg_database

pytestmark = [requires_browser, pytest.mark.timeout(240)]
KEY = "sk_test_auto_top_up_browser"
AUTH = f"Bearer {KEY}"
ADA = {"type": "USER", "customerId": "ada"}
RETURN_URL = "http://127.0.0.1:9/back"
LIVE_WAIT_MS = 10_000  # a change elsewhere reaches the open portal within this
SUMMARY = "Buys 1 × credit-pack (once) when available falls to 20 (at most 3 a month)"
DECLINED = "Off: Your card was declined."
SET = """mutation ($input: SetAutoTopUpInput!) { setAutoTopUp(input: $input) {
  autoTopUp { enabled } userErrors { code message } } }"""
SPEND = """mutation ($c: CustomerRef!, $n: BigInt!) { tryDecreaseItemQuantity(input: {
  customer: $c, itemId: "credits", amount: $n}) { success userErrors { message } } }"""
CARD = """mutation ($c: CustomerRef!, $n: String!) { setTestPaymentMethod(input: {customer: $c,
  cardNumber: $n}) { userErrors { message } } }"""
READ = """query ($c: CustomerRef!) { customer(customer: $c) { item(itemId: "credits") {
  quantity autoTopUp { enabled lastTriggeredAt disabledReason } } } }"""
PORTAL = """mutation ($input: CreateCustomerPortalUrlInput!) {
  createCustomerPortalUrl(input: $input) { url userErrors { message } } }"""


async def _example_catalog(url: str) -> None:
    from billgate.billing.catalog import apply_catalog
    from billgate.billing.catalog_spec import parse_catalog
    from billgate.cli import load_catalog_file
    from billgate.db.engine import Database
    from billgate.db.migrate import upgrade_async

    await upgrade_async(url)
    db = Database(url)
    try:
        async with db.session() as session, session.begin():
            await apply_catalog(session, parse_catalog(load_catalog_file(EXAMPLE_CATALOG)),
                                now=datetime.now(UTC))
    finally:
        await db.dispose()


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[str]:
    """The example catalog on the suite's database kind: the other browser tests use a SQLite
    file only, but the crossing is read in a statement that differs per database."""
    if not PG_URL:
        yield await example_database(tmp_path)
        return
    url = await create_pg_database(PG_URL)
    try:
        await _example_catalog(url)
        yield url
    finally:
        await drop_pg_database(PG_URL, url)


@pytest.fixture
def base(database: str, tmp_path: Path) -> Iterator[str]:
    # The scheduler is on by default in `billgate serve`; a short interval keeps the test quick.
    with billgate_serve(database, tmp_path, SECRET_KEYS=KEY, SCHEDULER_INTERVAL="0.2",
                        ALLOWED_RETURN_URLS="http://127.0.0.1:9/") as url:
        yield url


async def call(base: str, query: str, variables: dict[str, Any]) -> Any:
    """The one field the operation asks for; asserts it has no userErrors."""
    data = next(iter((await graphql(base, query, variables, authorization=AUTH)).values()))
    assert not (data or {}).get("userErrors"), data
    return data


async def spend(base: str, amount: int) -> None:
    assert (await call(base, SPEND, {"c": ADA, "n": amount}))["success"]


async def credits_once(base: str, done: Any) -> dict[str, Any]:
    """Ada's credits once ``done(item)`` holds (the scheduler ran the top-up)."""
    async with asyncio.timeout(60):
        while True:
            item = dict((await call(base, READ, {"c": ADA}))["item"])
            if done(item):
                return item
            await asyncio.sleep(0.2)


async def balance_row(page: Any, item: str) -> tuple[Any, Any]:
    """The item's cells in the Balances table under "Auto top-up" and "Balance", found as a
    person reads a table: the column by its heading, the row by the item's name."""
    table = page.get_by_role("table").filter(
        has=page.get_by_role("columnheader", name="Auto top-up"))
    headings = [h.strip() for h in await table.get_by_role("columnheader").all_text_contents()]
    cells = table.get_by_role("row").filter(
        has=page.get_by_role("cell", name=re.compile(item))).get_by_role("cell")
    return cells.nth(headings.index("Auto top-up")), cells.nth(headings.index("Balance"))


def fact(page: Any, term: str) -> Any:
    """What the portal's Balances list says for ``term`` (the definition after the term)."""
    return page.get_by_role("term").filter(has_text=re.compile(f"^{re.escape(term)}$")).locator(
        "xpath=following-sibling::dd[1]")


async def test_the_console_and_the_portal_show_the_auto_top_up_and_why_it_turned_off(
        base: str) -> None:
    from playwright.async_api import async_playwright, expect

    done = await call(base, SET, {"input": {
        "customer": ADA, "itemId": "credits", "threshold": 20, "productId": "credit-pack",
        "priceId": "once", "quantity": 1, "maxPerMonth": 3}})
    assert done["autoTopUp"]["enabled"] is True
    link = (await call(base, PORTAL, {"input": {"customer": ADA, "returnUrl": RETURN_URL}}))["url"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1366, "height": 900})
            context.set_default_timeout(15_000)
            blocked = await block_non_local(context)
            errors: list[str] = []

            # The operator's console: the column under "Auto top-up" says what it buys, when.
            console = await context.new_page()
            console.on("pageerror", lambda error: errors.append(str(error)))
            await console.goto(f"{base}/admin/customers/USER/ada")
            await console.get_by_label("Secret key").fill(KEY)
            await console.get_by_role("button", name="Sign in").click()
            await expect(console).to_have_url(f"{base}/admin/customers/USER/ada")
            await expect(console.get_by_role("columnheader", name="Auto top-up")).to_be_visible()
            top_up, balance = await balance_row(console, "AI credits")
            await expect(top_up).to_have_text(SUMMARY)
            await expect(balance).to_have_text("100")

            # The customer's portal, beside the balances.
            portal = await context.new_page()
            portal.on("pageerror", lambda error: errors.append(str(error)))
            await portal.goto(link)
            await portal.wait_for_url(f"{base}/portal")
            await expect(fact(portal, "AI credits")).to_have_text("100")
            await expect(fact(portal, "Auto top-up of AI credits")).to_have_text(SUMMARY)

            # The app spends 85 of 100: the crossing buys a pack (the good test card). The
            # open portal reloads by itself (a paid invoice); the console's balance is live.
            await spend(base, 85)
            bought = await credits_once(base, lambda i: i["quantity"] == 515)
            assert bought["autoTopUp"]["lastTriggeredAt"] is not None
            await expect(fact(portal, "AI credits")).to_have_text("515", timeout=LIVE_WAIT_MS)
            await expect(portal.get_by_role("row", name=re.compile("Paid"))).to_have_count(1)
            await expect(fact(portal, "Auto top-up of AI credits")).to_have_text(SUMMARY)
            await expect(balance).to_have_text("515", timeout=LIVE_WAIT_MS)
            await console.reload()
            await expect(top_up).to_contain_text(SUMMARY)
            await expect(top_up).to_contain_text("last ")

            # With the declining test card the next crossing is refused: off, with why.
            await call(base, CARD, {"c": ADA, "n": "4000000000000002"})
            await spend(base, 500)
            off = await credits_once(base, lambda i: not i["autoTopUp"]["enabled"])
            assert (off["quantity"], off["autoTopUp"]["disabledReason"]) == (
                15, "Your card was declined.")
            await console.reload()
            await expect(top_up).to_contain_text(DECLINED)
            await expect(top_up).not_to_contain_text("Buys")
            await expect(balance).to_have_text("15")
            await portal.goto(f"{base}/portal")
            await expect(fact(portal, "Auto top-up of AI credits")).to_have_text(DECLINED)
            await expect(fact(portal, "AI credits")).to_have_text("15")
            await expect(portal.get_by_role("row", name=re.compile("Paid"))).to_have_count(1)
            assert errors == [] and blocked == []
        finally:
            await browser.close()
