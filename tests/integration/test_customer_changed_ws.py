"""``customerChanged`` over a real WebSocket (the ``websockets`` client speaking
graphql-transport-ws) against a real ``billgate serve`` with the example catalog: the state
now, then the state again after each committed change of the customer's products,
subscriptions or invoices, and nothing for a change that did not happen. Read rules as
``customer``: another user's state is FORBIDDEN."""

from __future__ import annotations

import json
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
    postgres_bus_url,
    prepared_database,
    require_postgres,
    require_redis,
    running,
    server_env,
    suite_database_kind,
    unique,
    ws_connect,
    ws_receive,
)

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

RETURN_URL = "https://app.example.com/billing"
SUBSCRIBE = """
subscription ($customer: CustomerRef!) {
  customerChanged(customer: $customer) {
    customerId
    products(first: 20) { edges { node { productId } } }
    subscriptions(first: 5) { edges { node { productId status cancelAtPeriodEnd } } }
    invoices(first: 5) { edges { node { status } } }
  }
}
"""
GRANT = """mutation ($input: GrantProductInput!) { grantProduct(input: $input) { userErrors { code } } }"""
CANCEL = """mutation ($input: CancelSubscriptionInput!) {
  cancelSubscription(input: $input) { userErrors { code } } }"""
ADVANCE = """mutation ($input: AdvanceTestClockInput!) {
  advanceTestClock(input: $input) { userErrors { code } } }"""
CHECKOUT = """mutation ($input: CreateCheckoutUrlInput!) {
  createCheckoutUrl(input: $input) { url userErrors { code } } }"""


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    folder: Path = tmp_path_factory.mktemp("customer-changed")
    async with prepared_database(suite_database_kind(), folder) as url:
        await apply_example_catalog(url)
        env = server_env(url, ALLOWED_RETURN_URLS="https://app.example.com/")
        with running({"live": env}, folder / "logs") as servers:
            yield servers["live"]


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=60,
                                 headers={"Authorization": f"Bearer {SERVER_KEY}"}) as client:
        yield client


async def mutate(http: httpx.AsyncClient, query: str, name: str, **input: Any) -> dict[str, Any]:
    response = await http.post("/graphql", json={"query": query, "variables": {"input": input}})
    body = response.json()
    assert not body.get("errors"), body
    return dict(body["data"][name])


async def subscribe(ws: Any, customer: dict[str, str]) -> None:
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
        "query": SUBSCRIBE, "variables": {"customer": customer}}}))


async def next_state(ws: Any) -> dict[str, Any]:
    message = await ws_receive(ws)
    assert message["type"] == "next" and message["id"] == "1", message
    assert not message["payload"].get("errors"), message
    state = message["payload"]["data"]["customerChanged"]
    return {
        "products": sorted(e["node"]["productId"] for e in state["products"]["edges"]),
        "subscriptions": [(e["node"]["productId"], e["node"]["status"], e["node"]["cancelAtPeriodEnd"])
                          for e in state["subscriptions"]["edges"]],
        "invoices": [e["node"]["status"] for e in state["invoices"]["edges"]],
    }


async def test_state_now_then_after_each_committed_change(server: Server, http: httpx.AsyncClient) -> None:
    customer = {"type": "USER", "customerId": unique("user")}
    ws = await ws_connect(server, f"Bearer {SERVER_KEY}")
    try:
        await subscribe(ws, customer)
        assert await next_state(ws) == {"products": ["free"], "subscriptions": [], "invoices": []}

        await mutate(http, GRANT, "grantProduct", customer=customer, productId="pro", priceId="pro-monthly")
        state = await next_state(ws)
        assert state["products"] == ["pro"] and state["subscriptions"] == [("pro", "ACTIVE", False)]

        await mutate(http, CANCEL, "cancelSubscription", customer=customer, productId="pro")
        assert (await next_state(ws))["subscriptions"] == [("pro", "ACTIVE", True)]

        # A refused change commits nothing and announces nothing: the next message is the
        # checkout's completion below, not this.
        refused = await mutate(http, CANCEL, "cancelSubscription", customer=customer, productId="team")
        assert refused["userErrors"]

        checkout = await mutate(http, CHECKOUT, "createCheckoutUrl", customer=customer,
                                productId="credit-pack", returnUrl=RETURN_URL)
        code = checkout["url"].rsplit("/", 1)[1]
        completed = await http.post(f"/checkout/{code}/complete")
        assert completed.status_code == 303
        state = await next_state(ws)
        assert state["products"] == ["credit-pack", "pro"]
        assert state["invoices"] == ["PAID"]

        # The scheduler's work (here run by the test clock) is announced too: the pending
        # cancel takes effect at the period end.
        await mutate(http, ADVANCE, "advanceTestClock", seconds=32 * 86_400)
        state = await next_state(ws)
        assert state["subscriptions"] == [("pro", "CANCELED", True)]
        assert state["products"] == ["credit-pack", "free"]
    finally:
        await ws.close()


async def test_a_user_watches_itself_but_not_another_user(server: Server) -> None:
    me = unique("user")
    ws = await ws_connect(server, f"Bearer {client_token(me)}")
    try:
        await subscribe(ws, {"type": "USER", "customerId": me})
        assert (await next_state(ws))["products"] == ["free"]
        await ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {
            "query": SUBSCRIBE, "variables": {"customer": {"type": "USER", "customerId": unique("other")}}}}))
        message = await ws_receive(ws)
        assert message["id"] == "2" and message["payload"]["data"] is None, message
        assert [e["extensions"]["code"] for e in message["payload"]["errors"]] == ["FORBIDDEN"]
    finally:
        await ws.close()


@pytest.mark.parametrize("bus", ["postgresql", "redis"])
async def test_a_change_made_on_one_replica_reaches_a_subscriber_on_another(
        tmp_path: Path, bus: str) -> None:
    require_postgres()
    async with prepared_database("postgresql", tmp_path) as url:
        await apply_example_catalog(url)
        bus_url = postgres_bus_url(url) if bus == "postgresql" else require_redis()
        channel = unique("bg_customer").replace("-", "_")
        envs = {name: server_env(url, bus_url=bus_url, bus_channel=channel) for name in ("a", "b")}
        with running(envs, tmp_path / "logs") as servers:
            customer = {"type": "USER", "customerId": unique("user")}
            ws = await ws_connect(servers["a"], f"Bearer {SERVER_KEY}")
            try:
                await subscribe(ws, customer)
                assert (await next_state(ws))["products"] == ["free"]
                async with httpx.AsyncClient(base_url=servers["b"].url, timeout=60, headers={
                        "Authorization": f"Bearer {SERVER_KEY}"}) as other:
                    await mutate(other, GRANT, "grantProduct", customer=customer, productId="pro",
                                 priceId="pro-monthly")
                assert (await next_state(ws))["products"] == ["pro"]
            finally:
                await ws.close()
