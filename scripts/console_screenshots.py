#!/usr/bin/env python3
"""Screenshots of every console page for docs/console.md, on a laptop (1366x768) and a
phone (390 wide), from a real ``billgate serve`` holding a small demo shop.

    .venv/bin/python scripts/console_screenshots.py [OUT_DIR]   # default docs/console

Needs Debian's Chromium (/usr/bin/chromium) and Playwright, as the browser tests do. The
demo data is made through billgate itself (checkouts, grants, refunds, a webhook endpoint
that fails), then the transactions are spread over the last 30 days so the Overview's chart
has something to draw. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "web"))
from browser_testing import CHROMIUM, CHROMIUM_ARGS, billgate_serve, example_database  # noqa: E402

KEY = "sk_test_demo_console_key"
AUTH = {"Authorization": f"Bearer {KEY}"}
RETURN_URL = "http://127.0.0.1:9/back"
PEOPLE = ["ada", "grace", "linus", "margaret", "alan", "barbara", "ken", "dennis", "frances",
          "edsger", "radia", "tim", "katherine", "john", "sophie", "guido", "yukihiro", "anders"]
CHUNKS = bool(os.environ.get("CONSOLE_SHOTS_CHUNKS"))
SIZES = {"laptop": {"width": 1366, "height": 768}, "narrow": {"width": 390, "height": 844}}
PAGES = [("sign-in", "/admin/sign-in"), ("overview", "/admin"), ("catalog", "/admin/catalog"),
         ("product", "/admin/catalog/products/pro"), ("customers", "/admin/customers"),
         ("customer", "/admin/customers/USER/ada"), ("transactions", "/admin/transactions"),
         ("invoices", "/admin/invoices"), ("payouts", "/admin/payouts"),
         ("promo-codes", "/admin/promo-codes"), ("webhooks", "/admin/webhooks"),
         ("settings", "/admin/settings"), ("activity", "/admin/activity")]


async def gql(client: httpx.AsyncClient, query: str, variables: dict | None = None) -> dict:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}},
                                 headers=AUTH)
    body = response.json()
    assert not body.get("errors"), body
    return dict(body["data"])


async def buy(client: httpx.AsyncClient, who: str, product: str, price: str | None = None,
              card: str = "4242424242424242", promo: str | None = None) -> None:
    data = await gql(client, """mutation ($input: CreateCheckoutUrlInput!) {
        createCheckoutUrl(input: $input) { url userErrors { message } } }""",
                     {"input": {"customer": {"type": "USER", "customerId": who}, "productId": product,
                                "priceId": price, "returnUrl": RETURN_URL, "promoCode": promo}})
    url = data["createCheckoutUrl"]["url"]
    await client.post(url.replace(str(client.base_url).rstrip("/"), "") + "/complete",
                      data={"test_card": card})


async def seed(base: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await gql(client, """mutation { createWebhookEndpoint(input: {url:
            "http://127.0.0.1:9/billing-events", description: "Backend (down)"}) {
            userErrors { message } } }""")
        for code in ('{code: "WELCOME20", displayName: "Welcome offer", percentOff: "20", '
                     'duration: ONCE, maxRedemptions: 100, firstPurchaseOnly: true}',
                     '{code: "PROYEAR", amountOff: [{currency: USD, amount: "5.00"}], '
                     'duration: REPEATING, durationInMonths: 12, productIds: ["pro"]}',
                     '{code: "LAUNCH", percentOff: "50", duration: FOREVER, '
                     'expiresAt: "2030-01-01T00:00:00Z"}'):
            await gql(client, f"mutation {{ createPromoCode(input: {code}) "
                              "{ userErrors { message } } }")
        for n, who in enumerate(PEOPLE):
            await gql(client, """mutation ($c: CustomerRef!, $e: String) { updateCustomer(input:
                {customer: $c, email: $e}) { userErrors { message } } }""",
                      {"c": {"type": "USER", "customerId": who}, "e": f"{who}@example.com"})
            if n % 3 == 0:
                await buy(client, who, "pro", "pro-monthly", promo="welcome20" if n % 2 else None)
            elif n % 3 == 1:
                await buy(client, who, "pro", "pro-yearly")
            if n % 2 == 0:
                await buy(client, who, "credit-pack")
        await buy(client, "ada", "credit-pack")
        await gql(client, """mutation { grantProduct(input: {customer: {type: USER, customerId:
            "grace"}, productId: "internal-grant"}) { userErrors { message } } }""")
        for team in ("acme", "globex", "initech"):
            await gql(client, """mutation ($c: CustomerRef!) { grantProduct(input: {customer: $c,
                productId: "team"}) { userErrors { message } } }""",
                      {"c": {"type": "TEAM", "customerId": team}})
        tx = await gql(client, """{ transactions(first: 5, filter: {kinds: ["purchase"]}) {
            edges { node { id amount } } } }""")
        await gql(client, """mutation ($id: ID!) { refundTransaction(input: {transactionId: $id,
            amount: 500}) { userErrors { message } } }""",
                  {"id": tx["transactions"]["edges"][1]["node"]["id"]})
        await gql(client, """mutation { increaseItemQuantity(input: {customer: {type: USER,
            customerId: "ada"}, itemId: "credits", amount: 250, description: "Launch bonus",
            expiresAt: "2030-01-01T00:00:00Z"}) { userErrors { message } } }""")
        await gql(client, """mutation { tryDecreaseItemQuantity(input: {customer: {type: USER,
            customerId: "ada"}, itemId: "credits", amount: 42}) { success } }""")
        await gql(client, """mutation { updatePaymentSettings(input: {sellerName: "Demo Shop Ltd",
            sellerEmail: "billing@demo.example", sellerTaxId: "GB123456789",
            sellerAddress: {line1: "1 Example Street", city: "London", postalCode: "EC1A 1AA",
            country: "GB"}}) { userErrors { message } } }""")


async def spread(database_url: str) -> None:
    """Date the demo's transactions (and their subscriptions) over the last 30 days."""
    from sqlalchemy import select

    from billgate.db.engine import Database
    from billgate.db.models import Invoice, Transaction

    db = Database(database_url)
    now = datetime.now(UTC)
    async with db.session() as session, session.begin():
        rows = (await session.scalars(select(Transaction).order_by(Transaction.id))).all()
        step = timedelta(days=29) / max(len(rows), 1)
        for n, row in enumerate(rows):  # oldest first, as they were made
            row.created_at = now - timedelta(days=29) + step * n
        for invoice in (await session.scalars(select(Invoice))).all():
            if invoice.transaction_id is not None:
                match = next((r for r in rows if r.id == invoice.transaction_id), None)
                if match is not None:
                    invoice.created_at = match.created_at
    await db.dispose()


async def shoot(base: str, out: Path) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for size, viewport in SIZES.items():
                context = await browser.new_context(viewport=viewport, device_scale_factor=1)
                page = await context.new_page()
                await page.goto(f"{base}/admin/sign-in")
                await page.screenshot(path=str(out / f"sign-in-{size}.png"))
                await page.get_by_label("Secret key").fill(KEY)
                await page.get_by_role("button", name="Sign in").click()
                await page.wait_for_url(f"{base}/admin")
                for name, path in PAGES[1:]:
                    await page.goto(f"{base}{path}")
                    if name == "customer":
                        await page.wait_for_selector('[data-live-dot="credits"].on', timeout=10_000)
                    await page.screenshot(path=str(out / f"{name}-{size}.png"), full_page=True)
                    if CHUNKS and size == "narrow":  # for reviewing: phone-screen slices
                        height = await page.evaluate("document.documentElement.scrollHeight")
                        for n, top in enumerate(range(0, height, 1100)):
                            await page.screenshot(path=str(out / f"{name}-{size}-{n}.png"), full_page=True,
                                                  clip={"x": 0, "y": top, "width": 390,
                                                        "height": min(1100, height - top)})
                await context.close()
        finally:
            await browser.close()


async def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = await example_database(Path(tmp))
        with billgate_serve(url, Path(tmp), SECRET_KEYS=KEY, ALLOWED_RETURN_URLS="http://127.0.0.1:9/",
                            WEBHOOK_HTTP_HOSTS="127.0.0.1", WEBHOOK_ALLOW_PRIVATE="true",
                            SCHEDULER_INTERVAL="0.5") as base:
            await seed(base)
            await spread(url)
            await asyncio.sleep(3)  # the scheduler tries the failing endpoint
            await shoot(base, out)


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "console"
    folder.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(folder))
