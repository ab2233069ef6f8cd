"""The 7-day renewal reminder quotes what the renewal will charge when a plan change is
scheduled for it: the scheduled plan's price times the seats, named, for its period; the
promo code of the old purchase does not carry over (the new plan is not discounted). Each
email goes through a real SMTP server, and each quoted amount is checked against the
renewal invoice that follows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from smtp_testing import SmtpServer

from billgate.billing.catalog import apply_catalog
from billgate.billing.catalog_spec import parse_catalog
from billgate.billing.purchases import service
from billgate.cli import load_catalog_file
from billgate.notifications.sender import send_due

pytestmark = pytest.mark.usefixtures("example_catalog")

SENDER = "Billing <billing@shop.example>"
RETURN_URL = "https://app.example.com/billing/done"
DAY = 24 * 3600
ERRORS = "userErrors { code message field }"
UPDATE_CUSTOMER = f"""mutation ($input: UpdateCustomerInput!) {{
  updateCustomer(input: $input) {{ {ERRORS} }} }}"""
CHECKOUT = f"""mutation ($input: CreateCheckoutUrlInput!) {{
  createCheckoutUrl(input: $input) {{ url {ERRORS} }} }}"""
SWITCH = f"""mutation ($input: SwitchSubscriptionInput!) {{
  switchSubscription(input: $input) {{ subscription {{ id scheduledChange {{ toPriceId }} }} {ERRORS} }} }}"""
CANCEL_CHANGE = f"""mutation ($input: CancelScheduledChangeInput!) {{
  cancelScheduledChange(input: $input) {{ subscription {{ scheduledChange {{ toPriceId }} }} {ERRORS} }} }}"""
PROMO = f"""mutation ($input: CreatePromoCodeInput!) {{
  createPromoCode(input: $input) {{ promoCode {{ code }} {ERRORS} }} }}"""
ADVANCE = f"""mutation ($seconds: Int!) {{
  advanceTestClock(input: {{seconds: $seconds}}) {{ now {ERRORS} }} }}"""
INVOICES = """query ($customer: CustomerRef!) { customer(customer: $customer) {
  invoices(first: 10) { edges { node { amountTotal status } } } } }"""


def user(name: str) -> dict[str, str]:
    return {"type": "USER", "customerId": name}


async def ok(api: Any, document: str, **input: Any) -> dict[str, Any]:
    payload = next(iter((await api.data(document, {"input": input})).values()))
    assert payload["userErrors"] == [], payload
    return payload


async def subscribe(api: Any, runtime: Any, customer: dict[str, str], product_id: str,
                    price_id: str, **fields: Any) -> None:
    await ok(api, UPDATE_CUSTOMER, customer=customer,
             email=f"{customer['customerId']}@example.com")
    made = await ok(api, CHECKOUT, customer=customer, productId=product_id, priceId=price_id,
                    returnUrl=RETURN_URL, **fields)
    await service.complete_checkout(runtime.db, str(made["url"]).rsplit("/", 1)[-1],
                                    rails=runtime.test_rails, clock=runtime.clock,
                                    test_mode=True, bus=runtime.bus)


async def yearly_team_prices(runtime: Any) -> None:
    """The operator sells Team yearly per seat (490.00), and a cheaper yearly price (450.00)."""
    catalog = load_catalog_file(Path(__file__).parents[2] / "examples" / "catalog.yaml")
    team = next(p for p in catalog["products"] if p["productId"] == "team")
    for price_id, amount in (("team-yearly", "490.00"), ("team-yearly-saver", "450.00")):
        team["prices"].append({"priceId": price_id, "amounts": {"USD": amount},
                               "interval": {"unit": "YEAR", "count": 1}})
    async with runtime.db.session() as session, session.begin():
        await apply_catalog(session, parse_catalog(catalog), now=datetime.now(UTC))


async def advance_days(api: Any, days: float) -> None:
    payload = (await api.data(ADVANCE, {"seconds": int(days * DAY)}))["advanceTestClock"]
    assert payload["userErrors"] == [], payload


async def newest_invoice(api: Any, customer: dict[str, str]) -> dict[str, Any]:
    data = await api.data(INVOICES, {"customer": customer})
    return dict(data["customer"]["invoices"]["edges"][0]["node"])


async def deliver(runtime: Any, smtp: SmtpServer) -> int:
    return int(await send_due(runtime.db, smtp_url=smtp.url, sender=SENDER, templates_dir=None,
                              now=datetime.now(UTC) + runtime.clock.offset))


@pytest.mark.timeout(300)
async def test_the_reminder_quotes_the_scheduled_plan_seats_and_no_old_discount(
        api: Any, runtime: Any, smtp: SmtpServer) -> None:
    await ok(api, PROMO, code="YEARLY10", percentOff="10", duration="FOREVER")
    await yearly_team_prices(runtime)
    # ann: Pro yearly with a 10% code forever, moving to Enterprise (99.00 a month) at renewal.
    ann = user("ann")
    await subscribe(api, runtime, ann, "pro", "pro-yearly", promoCode="yearly10")
    await ok(api, SWITCH, customer=ann, fromProductId="pro", toProductId="enterprise",
             when="PERIOD_END")
    # bob: the same code, a change scheduled and then canceled: his own plan, discounted.
    bob = user("bob")
    await subscribe(api, runtime, bob, "pro", "pro-yearly", promoCode="YEARLY10")
    scheduled = await ok(api, SWITCH, customer=bob, fromProductId="pro",
                         toProductId="enterprise", when="PERIOD_END")
    await ok(api, CANCEL_CHANGE, customer=bob, subscriptionId=scheduled["subscription"]["id"])
    # A team of 3 seats on Team yearly, moving to the cheaper yearly price at renewal.
    team = {"type": "TEAM", "customerId": "seats-co"}
    await subscribe(api, runtime, team, "team", "team-yearly", quantity=3)
    await ok(api, SWITCH, customer=team, fromProductId="team", toProductId="team",
             priceId="team-yearly-saver", when="PERIOD_END")

    await advance_days(api, 360)  # 5 days before the renewals
    assert await deliver(runtime, smtp) == 3
    [to_ann] = smtp.collector.to("ann@example.com")
    assert to_ann.subject == "Your yearly Pro plan renews as Enterprise in 7 days"
    assert "it changes to Enterprise" in to_ann.text
    assert "charged 99.00 USD (plus any tax, less any account credit) for the next month" \
        in to_ann.text, to_ann.text
    assert "99.00 USD" in to_ann.html and "Enterprise" in to_ann.html
    [to_bob] = smtp.collector.to("bob@example.com")
    assert to_bob.subject == "Your yearly Pro plan renews in 7 days"
    assert "charged 171.00 USD" in to_bob.text and "for the next year" in to_bob.text
    [to_team] = smtp.collector.to("seats-co@example.com")
    assert to_team.subject == "Your yearly Team plan renews in 7 days"
    assert "charged 1350.00 USD" in to_team.text, "3 seats x 450.00, not 3 x 490.00"
    assert "for the next year" in to_team.text

    await advance_days(api, 6)  # the renewals: each charges what its email said
    assert await newest_invoice(api, ann) == {"amountTotal": 9900, "status": "PAID"}
    assert await newest_invoice(api, bob) == {"amountTotal": 17100, "status": "PAID"}
    assert await newest_invoice(api, team) == {"amountTotal": 135000, "status": "PAID"}


async def test_the_trial_reminder_quotes_the_plan_scheduled_for_the_trial_end(
        api: Any, runtime: Any, smtp: SmtpServer) -> None:
    cat = user("cat")
    await subscribe(api, runtime, cat, "enterprise", "enterprise-monthly")  # a 14-day trial
    await ok(api, SWITCH, customer=cat, fromProductId="enterprise", toProductId="pro",
             priceId="pro-monthly", when="PERIOD_END")
    await advance_days(api, 12)
    assert await deliver(runtime, smtp) == 1
    [email] = smtp.collector.to("cat@example.com")
    assert email.subject == "Your Enterprise trial ends in 3 days"
    assert "starts as Pro (the change you scheduled)" in email.text
    assert "charged 19.00 USD" in email.text, "Pro's price, not Enterprise's 99.00"
    await advance_days(api, 3)
    assert await newest_invoice(api, cat) == {"amountTotal": 1900, "status": "PAID"}
