"""``migrateSubscriptionsPrice`` end to end: the subscribers of Pro monthly (19.00) are moved
to a new price (25.00) at their next renewal, each customer gets a notice through a real
SMTP server with the new amount and the date, the renewal charges the new amount and the
new subscription shows ``migratedAt``. Grandfathering stays the default."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from smtp_testing import SmtpServer
from sqlalchemy import select

from billgate.billing import audit
from billgate.billing.catalog import apply_catalog
from billgate.billing.catalog_spec import parse_catalog
from billgate.billing.purchases import service
from billgate.cli import load_catalog_file
from billgate.db.models import ScheduledChange
from billgate.notifications.sender import send_due

pytestmark = pytest.mark.usefixtures("example_catalog")

SENDER = "Billing <billing@shop.example>"
RETURN_URL = "https://app.example.com/billing/done"
ERRORS = "userErrors { code message field }"
UPDATE_CUSTOMER = f"""mutation ($input: UpdateCustomerInput!) {{
  updateCustomer(input: $input) {{ {ERRORS} }} }}"""
CHECKOUT = f"""mutation ($input: CreateCheckoutUrlInput!) {{
  createCheckoutUrl(input: $input) {{ url {ERRORS} }} }}"""
CANCEL = f"""mutation ($input: CancelSubscriptionInput!) {{
  cancelSubscription(input: $input) {{ {ERRORS} }} }}"""
MIGRATE = f"""mutation ($input: MigrateSubscriptionsPriceInput!) {{
  migrateSubscriptionsPrice(input: $input) {{ scheduledCount {ERRORS} }} }}"""
ADVANCE = f"""mutation ($seconds: Int!) {{
  advanceTestClock(input: {{seconds: $seconds}}) {{ now {ERRORS} }} }}"""
SUBS = """query ($customer: CustomerRef!) { customer(customer: $customer) {
  subscriptions(first: 10) { edges { node {
    productId priceId status currentPeriodEnd migratedAt
    scheduledChange { toProductId toPriceId at } } } }
  invoices(first: 10) { edges { node { amountTotal status } } } } }"""


def user(name: str) -> dict[str, str]:
    return {"type": "USER", "customerId": name}


async def subscribe(api: Any, runtime: Any, name: str, price_id: str = "pro-monthly") -> None:
    payload = (await api.data(UPDATE_CUSTOMER, {"input": {"customer": user(name),
                                                          "email": f"{name}@example.com"}}))
    assert payload["updateCustomer"]["userErrors"] == []
    made = (await api.data(CHECKOUT, {"input": {"customer": user(name), "productId": "pro",
                                                "priceId": price_id,
                                                "returnUrl": RETURN_URL}}))["createCheckoutUrl"]
    assert made["userErrors"] == [], made
    await service.complete_checkout(runtime.db, made["url"].rsplit("/", 1)[-1],
                                    rails=runtime.test_rails, clock=runtime.clock,
                                    test_mode=True, bus=runtime.bus)


async def account(api: Any, name: str) -> dict[str, Any]:
    data = (await api.data(SUBS, {"customer": user(name)}))["customer"]
    return {"subscriptions": [e["node"] for e in data["subscriptions"]["edges"]],
            "invoices": [e["node"] for e in data["invoices"]["edges"]]}


async def new_price(runtime: Any, amount: str) -> None:
    """The operator adds Pro monthly at ``amount`` as ``pro-monthly-2027`` (catalog apply)."""
    catalog = load_catalog_file(Path(__file__).parents[2] / "examples" / "catalog.yaml")
    pro = next(p for p in catalog["products"] if p["productId"] == "pro")
    pro["prices"].append({"priceId": "pro-monthly-2027", "amounts": {"USD": amount},
                          "interval": {"unit": "MONTH", "count": 1}})
    async with runtime.db.session() as session, session.begin():
        await apply_catalog(session, parse_catalog(catalog), now=datetime.now(UTC))


async def migrate(api: Any, **input: str) -> dict[str, Any]:
    return (await api.data(MIGRATE, {"input": input}))["migrateSubscriptionsPrice"]


async def test_subscribers_are_moved_at_renewal_with_a_notice(api: Any, runtime: Any,
                                                              smtp: SmtpServer) -> None:
    for name in ("ann", "bob", "cat"):
        await subscribe(api, runtime, name)
    await subscribe(api, runtime, "yan", "pro-yearly")
    assert (await api.data(CANCEL, {"input": {"customer": user("cat"), "productId": "pro"}})
            )["cancelSubscription"]["userErrors"] == []
    await new_price(runtime, "25.00")
    period_end = (await account(api, "ann"))["subscriptions"][0]["currentPeriodEnd"]

    moved = await migrate(api, productId="pro", fromPriceId="pro-monthly",
                          toPriceId="pro-monthly-2027")
    assert moved == {"scheduledCount": 2, "userErrors": []}, "ann and bob; cat is leaving"
    again = await migrate(api, productId="pro", fromPriceId="pro-monthly",
                          toPriceId="pro-monthly-2027")
    assert again["scheduledCount"] == 0, "run twice: each subscription moves once"
    ann = (await account(api, "ann"))["subscriptions"][0]
    assert ann["scheduledChange"] == {"toProductId": "pro", "toPriceId": "pro-monthly-2027",
                                      "at": period_end}
    assert (await account(api, "yan"))["subscriptions"][0]["scheduledChange"] is None

    sent = await send_due(runtime.db, smtp_url=smtp.url, sender=SENDER, templates_dir=None,
                          now=datetime.now(UTC) + runtime.clock.offset)
    assert sent == 2
    assert sorted(r for m in smtp.messages for r in m.recipients) == [
        "ann@example.com", "bob@example.com"]
    [notice] = smtp.collector.to("ann@example.com")
    day = period_end[:10]
    assert notice.subject == f"Your Pro price changes on {day}"
    assert "25.00 USD per month (it was 19.00 USD)" in notice.text
    assert "25.00 USD" in notice.html and day in notice.html

    await api.data(ADVANCE, {"seconds": 32 * 24 * 3600})
    ann_now = await account(api, "ann")
    newest = ann_now["subscriptions"][0]
    assert (newest["priceId"], newest["status"]) == ("pro-monthly-2027", "ACTIVE")
    assert newest["migratedAt"] == period_end and newest["scheduledChange"] is None
    assert ann_now["invoices"][0] == {"amountTotal": 2500, "status": "PAID"}
    cat = (await account(api, "cat"))["subscriptions"][0]
    assert cat["status"] == "CANCELED" and cat["migratedAt"] is None
    yan = await account(api, "yan")
    assert yan["subscriptions"][0]["priceId"] == "pro-yearly" and len(yan["invoices"]) == 1
    async with runtime.db.read_session() as session:
        assert [str(v) for v in await audit.run(session)] == []
        statuses = sorted((await session.scalars(select(ScheduledChange.status))).all())
    assert statuses == ["APPLIED", "APPLIED"]


async def test_grandfathered_without_a_migration_and_same_price_migration(
        api: Any, runtime: Any) -> None:
    await subscribe(api, runtime, "dan")
    catalog = load_catalog_file(Path(__file__).parents[2] / "examples" / "catalog.yaml")
    pro = next(p for p in catalog["products"] if p["productId"] == "pro")
    pro["prices"][0]["amounts"]["USD"] = "21.00"  # pro-monthly itself costs more now
    async with runtime.db.session() as session, session.begin():
        await apply_catalog(session, parse_catalog(catalog), now=datetime.now(UTC))
    await api.data(ADVANCE, {"seconds": 32 * 24 * 3600})
    assert (await account(api, "dan"))["invoices"][0]["amountTotal"] == 1900, \
        "grandfathered: the snapshot's price renews"

    moved = await migrate(api, productId="pro", fromPriceId="pro-monthly",
                          toPriceId="pro-monthly")
    assert moved["scheduledCount"] == 1, "to the current amount of the same price"
    await subscribe(api, runtime, "eve")  # bought at 21.00: nothing to move
    assert (await migrate(api, productId="pro", fromPriceId="pro-monthly",
                          toPriceId="pro-monthly"))["scheduledCount"] == 0
    await api.data(ADVANCE, {"seconds": 31 * 24 * 3600})
    assert (await account(api, "dan"))["invoices"][0]["amountTotal"] == 2100


async def test_bad_migrations_are_refused(api: Any, runtime: Any) -> None:
    await subscribe(api, runtime, "fay")
    cases = [({"productId": "nope", "fromPriceId": "a", "toPriceId": "b"}, "PRODUCT_NOT_FOUND"),
             ({"productId": "pro", "fromPriceId": "pro-monthly", "toPriceId": "nope"},
              "PRICE_NOT_FOUND"),
             ({"productId": "credit-pack", "fromPriceId": "once", "toPriceId": "once"},
              "INVALID_INPUT")]
    for input, code in cases:
        payload = await migrate(api, **input)
        assert [e["code"] for e in payload["userErrors"]] == [code], payload
    body = await api.as_user("fay")(MIGRATE, {"input": {
        "productId": "pro", "fromPriceId": "pro-monthly", "toPriceId": "pro-yearly"}})
    assert [e["code"] for e in body["data"]["migrateSubscriptionsPrice"]["userErrors"]] == [
        "FORBIDDEN"]
    async with runtime.db.read_session() as session:
        assert (await session.scalars(select(ScheduledChange))).all() == []
