"""``customerChanged`` at scale, against a real ``billgate serve``: many sockets with 100
identical subscriptions each, and one change is executed once (not once per subscription),
however many watch it; and one customer token holds a bounded number of sockets.

Executions are counted by the server itself (``billgate_live_executions_total`` on
``/metrics``), so the test needs no timing. What a change costs in time with N identical
subscriptions against one is printed by ``bench/customer_changed.py``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import (
    SERVER_KEY,
    Server,
    apply_example_catalog,
    client_token,
    prepared_database,
    running,
    server_env,
    suite_database_kind,
    unique,
    ws_connect,
    ws_receive,
)
from test_customer_changed_ws import GRANT

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

SOCKETS = 10
PER_SOCKET = 100
CAP = 4
SUBSCRIBE = """subscription ($customer: CustomerRef!) {
  customerChanged(customer: $customer) { customerId products(first: 20) { edges { node { productId } } } }
}"""


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    folder: Path = tmp_path_factory.mktemp("customer-fanout")
    async with prepared_database(suite_database_kind(), folder) as url:
        await apply_example_catalog(url)
        env = server_env(url, MAX_SOCKETS_PER_TOKEN=str(CAP))
        with running({"live": env}, folder / "logs") as servers:
            yield servers["live"]


async def executions(server: Server) -> float:
    async with httpx.AsyncClient(timeout=30) as client:
        text = (await client.get(f"{server.url}/metrics")).text
    match = re.search(r'^billgate_live_executions_total\{subscription="customerChanged"\} (\S+)$',
                      text, re.MULTILINE)
    assert match, "billgate_live_executions_total{subscription=\"customerChanged\"} is missing"
    return float(match.group(1))


async def products_of(ws: Any, count: int) -> list[list[str]]:
    """The products of the next ``count`` states on ``ws`` (any operation ids)."""
    states = []
    for _ in range(count):
        message = await ws_receive(ws)
        assert message["type"] == "next" and not message["payload"].get("errors"), message
        edges = message["payload"]["data"]["customerChanged"]["products"]["edges"]
        states.append(sorted(edge["node"]["productId"] for edge in edges))
    return states


@pytest.mark.timeout(600)
async def test_one_change_executes_once_for_a_thousand_identical_subscriptions(
        server: Server) -> None:
    customer = {"type": "USER", "customerId": unique("user")}
    sockets = [await ws_connect(server, f"Bearer {SERVER_KEY}") for _ in range(SOCKETS)]
    try:
        for ws in sockets:
            for n in range(PER_SOCKET):
                await ws.send(json.dumps({"id": str(n), "type": "subscribe", "payload": {
                    "query": SUBSCRIBE, "variables": {"customer": customer}}}))
        for ws in sockets:
            assert await products_of(ws, PER_SOCKET) == [["free"]] * PER_SOCKET
        before = await executions(server)

        async with httpx.AsyncClient(base_url=server.url, timeout=60,
                                     headers={"Authorization": f"Bearer {SERVER_KEY}"}) as http:
            response = await http.post("/graphql", json={"query": GRANT, "variables": {"input": {
                "customer": customer, "productId": "credit-pack"}}})
            assert response.json()["data"]["grantProduct"]["userErrors"] == []
        states = await asyncio.gather(*(products_of(ws, PER_SOCKET) for ws in sockets))
        assert all(state == [["credit-pack", "free"]] * PER_SOCKET for state in states)
        assert await executions(server) - before == 1, \
            "one execution for 1,000 identical subscriptions of one change"
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))


async def test_a_customer_token_holds_a_bounded_number_of_sockets(server: Server) -> None:
    from websockets.exceptions import ConnectionClosed

    token = f"Bearer {client_token(unique('user'))}"
    held = [await ws_connect(server, token) for _ in range(CAP)]
    try:
        refused = await ws_connect(server, token, init=False)
        await refused.send(json.dumps({"type": "connection_init", "payload": {"Authorization": token}}))
        with pytest.raises(ConnectionClosed) as closed:
            await ws_receive(refused)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4429
        assert closed.value.rcvd.reason == ("too many connections for this customer token "
                                            f"(the limit is {CAP}: BILLGATE_MAX_SOCKETS_PER_TOKEN)")

        another = await ws_connect(server, f"Bearer {client_token(unique('user'))}")
        await another.close()  # other tokens are not affected

        await held.pop().close()
        await asyncio.sleep(0.2)  # the server sees the close
        held.append(await ws_connect(server, token))  # a slot was freed
    finally:
        await asyncio.gather(*(ws.close() for ws in held))


async def test_server_keys_are_not_limited(server: Server) -> None:
    sockets = [await ws_connect(server, f"Bearer {SERVER_KEY}") for _ in range(CAP + 2)]
    await asyncio.gather(*(ws.close() for ws in sockets))
