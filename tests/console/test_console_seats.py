"""The console's Seats form on a subscription: a refused quantity shows the error next to
the field and keeps what was typed, nothing changes; a good one changes the seats as
``updateSubscriptionQuantity`` would and is one ``OperatorAction`` (via "console")."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from console_testing import post_form

from billgate.billing import customers, items
from billgate.billing.purchases import service
from billgate.billing.subscriptions import operations
from billgate.types import CustomerRef, CustomerType

pytestmark = pytest.mark.usefixtures("example_catalog")
TEAM = CustomerRef(CustomerType.TEAM, "t-seats")
PAGE = "/admin/customers/TEAM/t-seats"
WHO = {"type": "TEAM", "customer_id": "t-seats", "back": PAGE}
ACTIONS = "{ operatorActions { edges { node { action target outcome via detail } } } }"


async def buy_team(runtime: Any, quantity: int) -> int:
    checkout = await service.create_checkout(
        runtime.db, TEAM, product_id="team", inline=None, price_id=None, currency=None,
        quantity=quantity, return_url="https://app.example.com/x",
        allowed_return_urls=runtime.settings.allowed_return_urls, by_server=True,
        clock=runtime.clock)
    await service.complete_checkout(runtime.db, checkout.code, rails=runtime.test_rails,
                                    clock=runtime.clock, test_mode=True, bus=runtime.bus)
    return (await team_sub(runtime)).id


async def team_sub(runtime: Any) -> Any:
    async with runtime.db.read_session() as session:
        row = await customers.find(session, TEAM)
        assert row is not None
        return await operations.find(session, row, operations.Selector(product_id="team"))


async def seats(runtime: Any) -> int:
    return (await items.get_balance(runtime.db, TEAM, "seats", clock=runtime.clock)).quantity


async def test_changing_seats_in_the_console(operator: httpx.AsyncClient, runtime: Any,
                                             api: Any) -> None:
    sub_id = await buy_team(runtime, 2)
    page = (await operator.get(PAGE)).text
    assert re.search(rf'id="seats-{sub_id}" name="quantity"[^>]* value="2"', page)
    assert "2 seats" in page

    bad = await post_form(operator, PAGE, "/admin/customer/seats",
                          {**WHO, "subscription_id": str(sub_id), "quantity": "2"})
    assert bad.status_code == 400
    error = re.search(rf'id="seats-{sub_id}-quantity-error">([^<]+)<', bad.text)
    assert error and "already has a quantity of 2" in error.group(1)
    word = await post_form(operator, PAGE, "/admin/customer/seats",
                           {**WHO, "subscription_id": str(sub_id), "quantity": "many"})
    assert word.status_code == 400 and 'value="many"' in word.text, "what was typed is kept"
    assert (await team_sub(runtime)).quantity == 2 and await seats(runtime) == 10

    good = await post_form(operator, PAGE, "/admin/customer/seats",
                           {**WHO, "subscription_id": str(sub_id), "quantity": "4"})
    assert good.status_code == 303 and good.headers["location"] == PAGE
    assert "Team: 4 seats." in (await operator.get(PAGE)).text
    assert (await team_sub(runtime)).quantity == 4 and await seats(runtime) == 20
    actions = [e["node"] for e in (await api.data(ACTIONS))["operatorActions"]["edges"]]
    assert [(a["action"], a["outcome"], a["via"]) for a in actions[:3]] == [
        ("updateSubscriptionQuantity", "ok", "console"),
        ("updateSubscriptionQuantity", "INVALID_INPUT", "console"),
        ("updateSubscriptionQuantity", "INVALID_INPUT", "console")]
    assert actions[0]["target"] == "TEAM:t-seats" and "4 seats" in actions[0]["detail"]
