"""The console's customer page shows each balance's auto top-up: what it buys and when,
and, once a decline turned it off, why."""

from __future__ import annotations

import html
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.usefixtures("example_catalog")

SET = """mutation ($enabled: Boolean!) { setAutoTopUp(input: {customer: {type: USER,
  customerId: "u-top"}, itemId: "credits", threshold: 20, productId: "credit-pack",
  priceId: "once", quantity: 2, maxPerMonth: 3, enabled: $enabled}) { userErrors { code } } }"""


def top_up_cell(page: str) -> str:
    start = page.index('data-auto-top-up="credits"')
    return html.unescape(page[start:page.index("</td>", start)])


async def test_the_customer_page_shows_the_auto_top_up(operator: httpx.AsyncClient,
                                                        api: Any) -> None:
    assert (await api.data(SET, {"enabled": True}))["setAutoTopUp"]["userErrors"] == []
    page = await operator.get("/admin/customers/USER/u-top")
    assert page.status_code == 200
    assert ">Auto top-up</th>" in page.text
    assert ("Buys 2 × credit-pack (once) when available falls to 20 (at most 3 a month)"
            in top_up_cell(page.text))

    assert (await api.data(SET, {"enabled": False}))["setAutoTopUp"]["userErrors"] == []
    page = await operator.get("/admin/customers/USER/u-top")
    assert "Off" in top_up_cell(page.text) and "Buys" not in top_up_cell(page.text)


async def test_a_balance_without_one_shows_a_dash(operator: httpx.AsyncClient, api: Any) -> None:
    await api.data("""mutation { increaseItemQuantity(input: {customer: {type: USER,
        customerId: "u-none"}, itemId: "credits", amount: 5}) { item { quantity } } }""")
    page = await operator.get("/admin/customers/USER/u-none")
    assert "—" in top_up_cell(page.text)
