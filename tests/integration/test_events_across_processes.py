"""Two ``billgate serve`` processes on one database: a subscriber connected to one sees
every change made through the other, in version order.

* PostgreSQL bus (``BILLGATE_EVENT_BUS_URL=postgresql://...``): both processes on one
  PostgreSQL database of the test's own (NOTIFY is per database, so that isolates it).
* Redis bus (``redis://...``): both processes on the suite's database (PostgreSQL when
  ``BILLGATE_TEST_DATABASE_URL`` is set, else one SQLite file shared by the two), on a
  channel of the test's own (``BILLGATE_EVENT_BUS_CHANNEL``: Redis pub/sub is server-wide).

Each variant skips with its reason when its server is not configured; CI sets both.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from servers import (
    SERVER_KEY,
    Server,
    client_token,
    postgres_bus_url,
    prepared_database,
    require_redis,
    running,
    server_env,
    suite_database_kind,
    unique,
    ws_connect,
    ws_receive,
)
from websockets.asyncio.client import ClientConnection

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

QUIET = 0.5

SUBSCRIBE = """
subscription ($customer: CustomerRef!) {
  itemQuantityChanged(customer: $customer, itemId: "credits") { quantity version }
}
"""
CHANGE = """
mutation ($input: ChangeItemQuantityInput!) {{
  {name}(input: $input) {{ {extra} item {{ quantity version }} userErrors {{ code }} }}
}}
"""


@pytest.fixture(scope="module", params=["postgres", "redis"])
async def pair(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Server]]:
    """Servers "a" and "b" on one database, with the event bus of the parameter (shared by
    the tests of this module: each test watches customers of its own)."""
    tmp_path = tmp_path_factory.mktemp(f"pair-{request.param}")
    if request.param == "postgres":
        async with prepared_database("postgresql", tmp_path) as url:
            env = server_env(url, bus_url=postgres_bus_url(url))
            with running({"a": env, "b": env}, tmp_path / "logs") as servers:
                yield servers
    else:
        redis_url = require_redis()
        async with prepared_database(suite_database_kind(), tmp_path) as url:
            env = server_env(url, bus_url=redis_url, bus_channel=f"billgate:test:{unique('it')}")
            with running({"a": env, "b": env}, tmp_path / "logs") as servers:
                yield servers


async def change(server: Server, name: str, customer: dict[str, str], amount: int) -> dict[str, Any]:
    query = CHANGE.format(name=name, extra="success" if name.startswith("try") else "")
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(server.graphql_url, headers={
            "Authorization": f"Bearer {SERVER_KEY}"}, json={"query": query, "variables": {
                "input": {"customer": customer, "itemId": "credits", "amount": amount}}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body["errors"]
    return body["data"][name]


async def watch(server: Server, customer: dict[str, str], authorization: str) -> ClientConnection:
    ws = await ws_connect(server, authorization)
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
        "query": SUBSCRIBE, "variables": {"customer": customer}}}))
    return ws


async def next_item(ws: ClientConnection) -> tuple[int, int]:
    message = await ws_receive(ws)
    assert message["type"] == "next" and not message["payload"].get("errors"), message
    item = message["payload"]["data"]["itemQuantityChanged"]
    return item["version"], item["quantity"]


async def test_a_subscriber_on_one_process_sees_changes_made_through_the_other(pair) -> None:
    a, b = pair["a"], pair["b"]
    customer = {"type": "USER", "customerId": unique("user")}
    await change(a, "increaseItemQuantity", customer, 10)
    on_a = await watch(a, customer, f"Bearer {SERVER_KEY}")
    on_b = await watch(b, customer, f"Bearer {client_token(customer['customerId'])}")
    try:
        assert await next_item(on_a) == (1, 10)
        assert await next_item(on_b) == (1, 10)

        await change(b, "decreaseItemQuantity", customer, 3)
        assert await next_item(on_a) == (2, 7), "made through b, seen on a"
        assert await next_item(on_b) == (2, 7)

        await change(a, "increaseItemQuantity", customer, 5)
        assert await next_item(on_b) == (3, 12), "made through a, seen on b"
        assert await next_item(on_a) == (3, 12)

        # a refused change on b is announced nowhere; the next real one is
        refused = await change(b, "tryDecreaseItemQuantity", customer, 13)
        assert refused["success"] is False
        await change(b, "tryDecreaseItemQuantity", customer, 12)
        assert await next_item(on_a) == (4, 0)
        assert await next_item(on_b) == (4, 0)
    finally:
        await on_a.close()
        await on_b.close()


async def test_a_burst_through_both_processes_arrives_in_version_order(pair) -> None:
    a, b = pair["a"], pair["b"]
    customer = {"type": "USER", "customerId": unique("user")}
    on_a = await watch(a, customer, f"Bearer {SERVER_KEY}")
    try:
        assert await next_item(on_a) == (0, 0)

        await asyncio.gather(*(change(server, "increaseItemQuantity", customer, 1)
                               for server in [a, b] * 8))

        seen = [await next_item(on_a) for _ in range(16)]
        assert seen == [(version, version) for version in range(1, 17)]
        with pytest.raises(TimeoutError):
            await ws_receive(on_a, QUIET)
    finally:
        await on_a.close()
