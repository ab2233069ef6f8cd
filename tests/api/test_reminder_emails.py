"""Reminder emails queued by the scheduler: "your trial ends in 3 days" and "your yearly
plan renews in 7 days", each once per trial end or period end, none for a plan that will
not charge (canceled at period end, monthly)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from billgate.billing import reminders
from billgate.billing.purchases import service
from billgate.db.models import EmailOutbox
from billgate.notifications.sender import render

pytestmark = pytest.mark.usefixtures("example_catalog")

USER = {"type": "USER", "customerId": "u-remind"}
RETURN_URL = "https://app.example.com/billing/done"
DAY = 24 * 3600
ERRORS = "userErrors { code message }"
CUSTOMER = f"""mutation ($input: UpdateCustomerInput!) {{ updateCustomer(input: $input) {{ {ERRORS} }} }}"""
CHECKOUT = f"""mutation ($input: CreateCheckoutUrlInput!) {{
  createCheckoutUrl(input: $input) {{ url {ERRORS} }} }}"""
ADVANCE = f"""mutation ($input: AdvanceTestClockInput!) {{
  advanceTestClock(input: $input) {{ {ERRORS} }} }}"""
CANCEL = f"""mutation ($input: CancelSubscriptionInput!) {{
  cancelSubscription(input: $input) {{ {ERRORS} }} }}"""


async def ok(api: Any, document: str, **input: Any) -> dict[str, Any]:
    payload = next(iter((await api.data(document, {"input": input})).values()))
    assert payload["userErrors"] == [], payload
    return payload


async def subscribe(api: Any, runtime: Any, product_id: str, price_id: str) -> None:
    await ok(api, CUSTOMER, customer=USER, email="buyer@example.com")
    made = await ok(api, CHECKOUT, customer=USER, productId=product_id, priceId=price_id,
                    returnUrl=RETURN_URL)
    await service.complete_checkout(runtime.db, str(made["url"]).rsplit("/", 1)[-1],
                                    rails=runtime.test_rails, clock=runtime.clock, test_mode=True,
                                    bus=runtime.bus)


async def advance_days(api: Any, days: float) -> None:
    await ok(api, ADVANCE, seconds=int(days * DAY))


async def queued(runtime: Any, template: str) -> list[EmailOutbox]:
    async with runtime.db.read_session() as session:
        return list(await session.scalars(select(EmailOutbox).where(EmailOutbox.template == template)
                                          .order_by(EmailOutbox.id)))


async def test_a_trial_ending_in_3_days_is_announced_once(api: Any, runtime: Any) -> None:
    await subscribe(api, runtime, "enterprise", "enterprise-monthly")  # a 14-day trial
    await advance_days(api, 10.5)
    assert await queued(runtime, reminders.TRIAL_ENDING) == [], "not before 3 days are left"
    await advance_days(api, 1)
    await advance_days(api, 0.5)  # the scheduler runs again: still one
    [email] = await queued(runtime, reminders.TRIAL_ENDING)
    assert email.to_address == "buyer@example.com"
    rendered = render(email.template, email.context)
    assert rendered.subject == "Your Enterprise trial ends in 3 days"
    assert "charged 99.00 USD" in rendered.text
    await advance_days(api, 5)  # the trial ended and the first period was charged
    assert len(await queued(runtime, reminders.TRIAL_ENDING)) == 1


async def test_a_yearly_plan_is_announced_7_days_before_each_renewal(api: Any,
                                                                     runtime: Any) -> None:
    await subscribe(api, runtime, "pro", "pro-yearly")
    await advance_days(api, 350)
    assert await queued(runtime, reminders.RENEWAL_UPCOMING) == []
    await advance_days(api, 10)  # past the 7-day mark: one reminder
    await advance_days(api, 1)
    [email] = await queued(runtime, reminders.RENEWAL_UPCOMING)
    rendered = render(email.template, email.context)
    assert rendered.subject == "Your yearly Pro plan renews in 7 days"
    assert "charged 190.00 USD" in rendered.text
    await advance_days(api, 10)  # day 371: renewed on day 365; the next period is a new moment
    await advance_days(api, 355)  # day 726: 4 days before the next renewal
    assert len(await queued(runtime, reminders.RENEWAL_UPCOMING)) == 2


async def test_no_reminder_for_a_plan_that_will_not_renew_or_is_monthly(api: Any,
                                                                       runtime: Any) -> None:
    await subscribe(api, runtime, "pro", "pro-yearly")
    await ok(api, CANCEL, customer=USER, productId="pro")  # at period end
    await advance_days(api, 362)
    assert await queued(runtime, reminders.RENEWAL_UPCOMING) == []

    other = {"type": "USER", "customerId": "u-monthly"}
    await ok(api, CUSTOMER, customer=other, email="m@example.com")
    made = await ok(api, CHECKOUT, customer=other, productId="pro", priceId="pro-monthly",
                    returnUrl=RETURN_URL)
    await service.complete_checkout(runtime.db, str(made["url"]).rsplit("/", 1)[-1],
                                    rails=runtime.test_rails, clock=runtime.clock, test_mode=True)
    await advance_days(api, 27)
    assert await queued(runtime, reminders.RENEWAL_UPCOMING) == []
