"""Seats in the customer portal through the ASGI app: a plan sold per seat shows its seats
and a **Change seats** form, a plan sold one at a time does not; every refusal changes
nothing (no CSRF token, another customer's plan, not a number, the same number)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from test_portal_pages import BACK, USER, buy, client, csrf_of, enter  # noqa: F401 - fixture

from billgate.billing import customers
from billgate.billing.purchases import service
from billgate.billing.subscriptions import operations
from billgate.types import CustomerRef, CustomerType

pytestmark = pytest.mark.usefixtures("example_catalog")
TEAM = CustomerRef(CustomerType.TEAM, "portal-team")


async def buy_team(runtime: Any, quantity: int) -> int:
    checkout = await service.create_checkout(
        runtime.db, TEAM, product_id="team", inline=None, price_id=None, currency=None,
        quantity=quantity, return_url=BACK, allowed_return_urls=runtime.settings.allowed_return_urls,
        by_server=True, clock=runtime.clock)
    await service.complete_checkout(runtime.db, checkout.code, rails=runtime.test_rails,
                                    clock=runtime.clock, test_mode=True, bus=runtime.bus)
    return (await team_sub(runtime)).id


async def team_sub(runtime: Any) -> Any:
    async with runtime.db.read_session() as session:
        row = await customers.find(session, TEAM)
        assert row is not None
        return await operations.find(session, row, operations.Selector(product_id="team"))


def seats_shown(html: str) -> str | None:
    match = re.search(r"<dd data-seats>(\d+)</dd>", html)
    return match.group(1) if match else None


async def change(browser: httpx.AsyncClient, sub_id: int, data: dict[str, str]) -> str:
    """POST the Seats form; the page it leads back to."""
    response = await browser.post(f"/portal/subscriptions/{sub_id}/seats", data=data)
    assert response.status_code == 303, response.text
    return (await browser.get(response.headers["location"])).text


async def test_a_plan_sold_per_seat_shows_and_changes_its_seats(
        client: httpx.AsyncClient, runtime: Any) -> None:  # noqa: F811
    sub_id = await buy_team(runtime, 3)
    html = await enter(client, runtime, TEAM)
    assert seats_shown(html) == "3" and ">Change seats</button>" in html
    assert "$147.00 / month" in html
    page = await change(client, sub_id, {"csrf_token": csrf_of(html), "quantity": "5"})
    assert "Team now has 5 seats." in page and seats_shown(page) == "5"
    assert "$245.00 / month" in page
    assert (await team_sub(runtime)).quantity == 5


async def test_a_plan_sold_one_at_a_time_has_no_seats_form(
        client: httpx.AsyncClient, runtime: Any) -> None:  # noqa: F811
    await buy(runtime)
    html = await enter(client, runtime, USER)
    assert seats_shown(html) is None and "Change seats" not in html


async def test_refusals_change_nothing(client: httpx.AsyncClient, runtime: Any) -> None:  # noqa: F811
    sub_id = await buy_team(runtime, 3)
    html = await enter(client, runtime, TEAM)
    for form in ({"quantity": "4"}, {"csrf_token": "not-the-token", "quantity": "4"}):
        response = await client.post(f"/portal/subscriptions/{sub_id}/seats", data=form)
        assert response.status_code == 403
    token = csrf_of(html)
    for quantity, message in (("four", "enter a whole number of seats"),
                              ("", "enter a whole number of seats"),
                              ("0", "quantity must be from 1 to"),
                              ("3", "already has a quantity of 3")):
        page = await change(client, sub_id, {"csrf_token": token, "quantity": quantity})
        assert message in page, (quantity, message)
    assert (await team_sub(runtime)).quantity == 3

    await buy(runtime)  # USER's Pro: another customer's plan
    async with runtime.db.read_session() as session:
        user = await customers.find(session, USER)
        assert user is not None
        theirs = await operations.find(session, user, operations.Selector(product_id="pro"))
    page = await change(client, theirs.id, {"csrf_token": token, "quantity": "2"})
    assert "no such subscription" in page
