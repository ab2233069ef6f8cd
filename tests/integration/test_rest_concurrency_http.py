"""The atomic tryDecrease through the REST edge of a real server: 200 concurrent
``update-quantity?allow_negative=false`` calls with ``delta: -1`` against a balance of 50
succeed exactly 50 times (the other 150 are 400 INSUFFICIENT_QUANTITY), the balance ends at 0
with 50 consume rows, and ``billgate audit`` is clean. Runs ``billgate serve`` on SQLite and,
when ``BILLGATE_TEST_DATABASE_URL`` is set, on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from servers import SERVER_KEY, Server, unique
from test_billing_concurrency_http import audit
from test_items_concurrency_http import sql_consume_rows

REQUESTS = 200
BALANCE = 50


@pytest.mark.timeout(400)
async def test_200_concurrent_rest_try_decreases_against_50(server: tuple[Server, str]) -> None:
    srv, url = server
    customer_id = unique("buyer")
    path = f"/api/v1/payments/items/user/{customer_id}/credits"
    limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=REQUESTS)
    async with httpx.AsyncClient(base_url=srv.url, limits=limits, timeout=120,
                                 headers={"x-stack-secret-server-key": SERVER_KEY}) as client:
        granted = await client.post(f"{path}/update-quantity", params={"allow_negative": "false"},
                                    json={"delta": BALANCE})
        assert granted.status_code == 200, granted.text
        start = asyncio.Event()

        async def one() -> httpx.Response:
            await start.wait()
            return await client.post(f"{path}/update-quantity",
                                     params={"allow_negative": "false"}, json={"delta": -1})

        tasks = [asyncio.create_task(one()) for _ in range(REQUESTS)]
        await asyncio.sleep(0)
        start.set()
        async with asyncio.timeout(180):
            responses = await asyncio.gather(*tasks)
        outcomes = Counter((r.status_code, r.json().get("code")) for r in responses)
        assert outcomes == {(200, None): BALANCE,
                            (400, "INSUFFICIENT_QUANTITY"): REQUESTS - BALANCE}, outcomes
        item = (await client.get(path)).json()
    assert (item["quantity"], item["non_negative_quantity"]) == (0, 0)
    assert await sql_consume_rows(url, customer_id) == BALANCE
    audit(url)  # billgate audit: exit 0, every invariant holds
