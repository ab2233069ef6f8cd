"""A customer's visit to the portal in a real Chromium, against ``billgate serve``: from the
example app's **Manage billing** button to the portal; preview and confirm an upgrade; the
invoice's PDF link; cancel and undo; a declining card; the test clock fails a renewal and
the open page turns PAST_DUE by itself (``customerChanged``, no reload by the test); **Pay
now** with the declining card is refused and the invoice stays open; a good card saved in
the portal pays it (a new default card retries at once) and the page shows ACTIVE. Then a
second failed renewal is paid with **Pay now**, and another open portal tab follows from
PAST_DUE to ACTIVE by itself. Screenshots for docs/portal.md are written on the way."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import httpx
import pypdf
from browser_testing import block_non_local, graphql, requires_browser
from sqlalchemy import update
from test_example_frontend import (  # noqa: F401 - fixtures
    SERVER_KEY,
    USER,
    app_port,
    app_url,
    billgate,
    context,
    database,
)

from billgate.db.engine import Database
from billgate.db.models import Customer

pytestmark = requires_browser

DOCS = Path(__file__).parents[2] / "docs"
LIVE_WAIT_MS = 10_000  # a renewal elsewhere reaches the open page within this
ADVANCE = """mutation ($s: Int!) { advanceTestClock(input: {seconds: $s}) { now userErrors { code } } }"""
MONTH_AND_A_DAY = 32 * 86400


async def advance(base: str, seconds: int) -> None:
    data = await graphql(base, ADVANCE, {"s": seconds}, authorization=f"Bearer {SERVER_KEY}")
    assert data["advanceTestClock"]["userErrors"] == []


async def shoot(page: Any, name: str) -> None:
    await page.screenshot(path=str(DOCS / name), full_page=True)


async def save_card(page: Any, label: str, *, screenshot: str | None = None) -> None:
    await page.get_by_role("button", name="Update card").click()
    await page.get_by_label(label).check()
    if screenshot:
        await shoot(page, screenshot)
    await page.get_by_role("button", name="Save card").click()


async def good_card_without_retry(database_url: str) -> None:
    """A good default card written to the database (as if saved without the automatic
    retry), so that the open invoice is paid by the Pay now button itself."""
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            await session.execute(update(Customer).where(Customer.customer_id == USER).values(
                default_payment_method={"id": "pm_card_4242424242424242", "brand": "visa",
                                        "last4": "4242", "expMonth": 12, "expYear": 2030}))
    finally:
        await db.dispose()


async def test_a_customers_visit_to_the_portal(
        context: Any, app_url: str, billgate: str, database: str) -> None:  # noqa: F811
    from playwright.async_api import expect

    blocked = await block_non_local(context)
    errors: list[str] = []
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.set_viewport_size({"width": 1000, "height": 900})

    # Pro through the hosted checkout, then Manage billing.
    await page.goto(app_url)
    await page.get_by_role("button", name="Upgrade to Pro").click()
    await page.get_by_role("button", name="Complete test purchase").click()
    await expect(page.locator("#plan")).to_have_text("Pro")
    await page.get_by_role("button", name="Manage billing").click()
    await page.wait_for_url(f"{billgate}/portal")
    pro = page.get_by_role("article", name="Pro")
    await expect(pro.locator("[data-status]")).to_have_text("Active")
    await expect(pro).to_contain_text("Next charge")
    assert await page.get_by_role("link", name="Back to the app").get_attribute("href") == app_url
    await shoot(page, "portal.png")

    # Switch plan: the preview, then Confirm switch.
    await pro.get_by_label("New plan").select_option(label="Enterprise, $99.00 / month")
    await pro.get_by_role("button", name="Switch plan").click()
    await expect(page.get_by_role("heading", name="Pro → Enterprise")).to_be_visible()
    await expect(page.get_by_role("cell", name="Unused time on Pro")).to_be_visible()
    await expect(page.get_by_role("cell", name="Remaining time on Enterprise")).to_be_visible()
    await expect(page.locator("[data-due-now]")).to_contain_text("Amount due now: $")
    await shoot(page, "portal-switch-preview.png")
    await page.get_by_role("button", name="Confirm switch").click()
    await expect(page.locator("p.flash")).to_have_text("You are now on Enterprise.")
    enterprise = page.get_by_role("article", name="Enterprise")
    await expect(enterprise.locator("[data-status]")).to_have_text("Active")

    # Every invoice is named by its number and has a Download PDF link to its PDF, which
    # carries the same number.
    number = (await page.get_by_role("link", name=re.compile(r"^INV-\d{4}-\d{6}$"))
              .first.text_content() or "").strip()
    pdf = page.get_by_role("link", name="Download PDF").first
    href = await pdf.get_attribute("href")
    assert href and href.startswith(f"{billgate}/invoices/") and href.endswith("/pdf")
    async with httpx.AsyncClient() as client:
        response = await client.get(href)
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(response.content)).pages)
    assert number and number in text

    # Cancel plan, then Undo cancel.
    await enterprise.get_by_role("button", name="Cancel plan").click()
    await expect(enterprise).to_contain_text("Ends on")
    await enterprise.get_by_role("button", name="Undo cancel").click()
    await expect(enterprise.get_by_role("button", name="Cancel plan")).to_be_visible()
    await expect(enterprise.get_by_role("button", name="Undo cancel")).to_be_hidden()

    # A declining card; the renewal fails while the page is open: it turns PAST_DUE by itself.
    await save_card(page, "4000 0000 0000 0002 (declined)", screenshot="portal-card.png")
    await expect(page.get_by_text("Visa ending 0002")).to_be_visible()
    await advance(billgate, MONTH_AND_A_DAY)
    await expect(enterprise.locator("[data-status]")).to_have_text("Past due", timeout=LIVE_WAIT_MS)
    pay_now = page.get_by_role("button", name="Pay now")
    await expect(pay_now).to_have_count(1)

    # Pay now with the declining card: refused, still open.
    await pay_now.click()
    await expect(page.locator("p.flash")).to_contain_text("declined")
    await expect(page.locator("p.flash")).to_contain_text("The invoice is still open.")
    await expect(page.get_by_role("button", name="Pay now")).to_have_count(1)
    await shoot(page, "portal-past-due.png")

    # A good card, saved in the portal, pays the open invoice at once.
    await save_card(page, "4242 4242 4242 4242 (succeeds)")
    await expect(enterprise.locator("[data-status]")).to_have_text("Active")
    await expect(page.get_by_role("button", name="Pay now")).to_have_count(0)

    # Another failed renewal, paid with Pay now; a second portal tab follows by itself.
    await save_card(page, "4000 0000 0000 0002 (declined)")
    await advance(billgate, MONTH_AND_A_DAY)
    await expect(enterprise.locator("[data-status]")).to_have_text("Past due", timeout=LIVE_WAIT_MS)
    watching = await context.new_page()
    watching.on("pageerror", lambda error: errors.append(str(error)))
    await watching.goto(f"{billgate}/portal")  # the same portal session (cookie)
    watched = watching.get_by_role("article", name="Enterprise").locator("[data-status]")
    await expect(watched).to_have_text("Past due")
    await good_card_without_retry(database)
    await page.reload()
    await page.get_by_role("button", name="Pay now").click()
    await expect(page.locator("p.flash")).to_have_text("Thank you: the invoice is paid.")
    await expect(enterprise.locator("[data-status]")).to_have_text("Active")
    await expect(watched).to_have_text("Active", timeout=LIVE_WAIT_MS)
    await shoot(page, "portal-paid.png")

    # Back to the app.
    await page.get_by_role("link", name="Back to the app").click()
    await page.wait_for_url(app_url)
    await expect(page.locator("#plan")).to_have_text("Enterprise")
    assert errors == [] and blocked == []
