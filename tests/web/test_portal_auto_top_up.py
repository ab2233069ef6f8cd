"""The customer portal shows the customer's auto top-ups beside its balances, and why one
is off after a declined charge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from test_portal_pages import USER, enter

pytestmark = pytest.mark.usefixtures("example_catalog")

SET = """mutation { setAutoTopUp(input: {customer: {type: USER, customerId: "portal-user"},
  itemId: "credits", threshold: 25, productId: "credit-pack"}) { userErrors { code } } }"""


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # noqa: ANN001
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_the_portal_shows_the_auto_top_up_and_why_it_is_off(
        client: httpx.AsyncClient, runtime: Any, api: Any) -> None:
    page = await enter(client, runtime, USER)
    assert "Auto top-up of" not in page
    assert (await api.data(SET))["setAutoTopUp"]["userErrors"] == []
    page = (await client.get("/portal")).text
    assert ('<dt>Auto top-up of AI credits</dt><dd data-auto-top-up="AI credits">Buys 1 × '
            'credit-pack when available falls to 25 (at most 10 a month)</dd>') in page

    await api.data("""mutation { setTestPaymentMethod(input: {customer: {type: USER,
        customerId: "portal-user"}, cardNumber: "4000000000000002"}) { userErrors { code } } }""")
    await api.data("""mutation { tryDecreaseItemQuantity(input: {customer: {type: USER,
        customerId: "portal-user"}, itemId: "credits", amount: 80}) { success } }""")
    await api.data("mutation { advanceTestClock(input: {seconds: 1}) { now } }")
    page = (await client.get("/portal")).text
    assert '<dd data-auto-top-up="AI credits">Off: Your card was declined.</dd>' in page
