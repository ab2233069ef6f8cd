"""``itemQuantityChanged`` over a real WebSocket (the ``websockets`` client speaking
graphql-transport-ws) against a real ``billgate serve``: the snapshot first, then every
committed change in version order; auth in ``connection_init``; nothing announced for a
change that was not committed.

The server runs on the suite's database (PostgreSQL when ``BILLGATE_TEST_DATABASE_URL`` is
set, else SQLite) with the default in-process event bus; changes are made through HTTP.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from servers import (
    SERVER_KEY,
    Server,
    client_token,
    prepared_database,
    running,
    server_env,
    suite_database_kind,
    unique,
    ws_connect,
    ws_receive,
)
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

QUIET = 0.5  # seconds of silence that show nothing else was sent

SUBSCRIBE = """
subscription ($customer: CustomerRef!, $itemId: String!) {
  itemQuantityChanged(customer: $customer, itemId: $itemId) {
    id itemId displayName quantity nonNegativeQuantity version
  }
}
"""
CHANGE = """
mutation ($input: ChangeItemQuantityInput!) {{
  {name}(input: $input) {{ {success} item {{ quantity version }} userErrors {{ code }} }}
}}
"""
LEDGER = """
query ($customer: CustomerRef!, $itemId: String!) {
  customer(customer: $customer) {
    item(itemId: $itemId) {
      quantity version
      changes(first: 100) { edges { node { version quantityAfter } } }
    }
  }
}
"""


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    folder = tmp_path_factory.mktemp("ws")
    async with prepared_database(suite_database_kind(), folder) as url:
        with running({"ws": server_env(url)}, folder / "logs") as servers:
            yield servers["ws"]


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=60,
                                 headers={"Authorization": f"Bearer {SERVER_KEY}"}) as client:
        yield client


def user() -> dict[str, str]:
    return {"type": "USER", "customerId": unique("user")}


# HTTP side ---------------------------------------------------------------------------------


async def change(http: httpx.AsyncClient, name: str, customer: dict[str, str], amount: int,
                 item_id: str = "credits", **fields: Any) -> dict[str, Any]:
    query = CHANGE.format(name=name, success="success" if name.startswith("try") else "")
    response = await http.post("/graphql", json={"query": query, "variables": {"input": {
        "customer": customer, "itemId": item_id, "amount": amount, **fields}}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body["errors"]
    return body["data"][name]


async def increase(http: httpx.AsyncClient, customer: dict[str, str], amount: int,
                   **fields: Any) -> dict[str, Any]:
    payload = await change(http, "increaseItemQuantity", customer, amount, **fields)
    assert payload["userErrors"] == [], payload
    return payload


async def ledger(http: httpx.AsyncClient, customer: dict[str, str],
                 item_id: str = "credits") -> dict[int, int]:
    """version -> quantity after, for every ledger row."""
    response = await http.post("/graphql", json={"query": LEDGER, "variables": {
        "customer": customer, "itemId": item_id}})
    item = response.json()["data"]["customer"]["item"]
    return {e["node"]["version"]: e["node"]["quantityAfter"] for e in item["changes"]["edges"]}


# WebSocket side ----------------------------------------------------------------------------


async def subscribe(ws: ClientConnection, customer: dict[str, str], item_id: str = "credits",
                    op_id: str = "1") -> None:
    await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": {
        "query": SUBSCRIBE, "variables": {"customer": customer, "itemId": item_id}}}))


async def next_item(ws: ClientConnection, op_id: str = "1") -> dict[str, Any]:
    message = await ws_receive(ws)
    assert message["type"] == "next" and message["id"] == op_id, message
    assert not message["payload"].get("errors"), message
    return message["payload"]["data"]["itemQuantityChanged"]


async def nothing_arrives(ws: ClientConnection, seconds: float = QUIET) -> None:
    with pytest.raises(TimeoutError):
        message = await ws_receive(ws, seconds)
        pytest.fail(f"unexpected message {message}")


async def subscription_error(ws: ClientConnection, op_id: str = "1") -> list[str]:
    """The ``extensions.code`` of each error of an operation refused before streaming:
    one ``next`` carrying only errors, then ``complete``."""
    message = await ws_receive(ws)
    assert message["type"] == "next" and message["id"] == op_id, message
    assert message["payload"]["data"] is None and message["payload"]["errors"], message
    done = await ws_receive(ws)
    assert done == {"id": op_id, "type": "complete"}, done
    return [error.get("extensions", {}).get("code") for error in message["payload"]["errors"]]


def server_auth() -> str:
    return f"Bearer {SERVER_KEY}"


# Tests -------------------------------------------------------------------------------------


async def test_snapshot_then_every_change_of_a_concurrent_burst(server: Server, http) -> None:
    customer = user()
    await increase(http, customer, 100)
    ws = await ws_connect(server, server_auth())
    try:
        await subscribe(ws, customer)
        snapshot = await next_item(ws)
        assert (snapshot["itemId"], snapshot["displayName"]) == ("credits", "AI credits")
        assert (snapshot["quantity"], snapshot["version"]) == (100, 1)

        kinds = ["increaseItemQuantity"] * 10 + ["decreaseItemQuantity"] * 10
        random.Random(7).shuffle(kinds)
        amounts = [3 + i for i in range(20)]
        await asyncio.gather(*(change(http, kind, customer, amount)
                               for kind, amount in zip(kinds, amounts, strict=True)))

        seen = [await next_item(ws) for _ in range(20)]
        assert [m["version"] for m in seen] == list(range(2, 22)), "strictly +1, no gaps"
        assert all(m["id"] == snapshot["id"] for m in seen)
        rows = await ledger(http, customer)
        assert {m["version"]: m["quantity"] for m in seen} == {v: q for v, q in rows.items() if v > 1}
        assert all(m["nonNegativeQuantity"] == max(0, m["quantity"]) for m in seen)
        expected = 100 + sum(a if k.startswith("increase") else -a
                             for k, a in zip(kinds, amounts, strict=True))
        assert seen[-1]["quantity"] == expected

        # nothing extra was queued: the next message is the next change
        await change(http, "decreaseItemQuantity", customer, expected + 5)
        after = await next_item(ws)
        assert (after["version"], after["quantity"]) == (22, -5)
        assert after["nonNegativeQuantity"] == 0
    finally:
        await ws.close()


async def test_a_change_that_is_not_committed_is_never_announced(server: Server, http) -> None:
    customer = user()
    await increase(http, customer, 2, idempotencyKey="grant-1")
    ws = await ws_connect(server, server_auth())
    try:
        await subscribe(ws, customer)
        assert (await next_item(ws))["version"] == 1

        refused = await change(http, "tryDecreaseItemQuantity", customer, 5)
        assert refused["success"] is False and refused["userErrors"] == [
            {"code": "INSUFFICIENT_QUANTITY"}]
        bad = await change(http, "decreaseItemQuantity", customer, 0)
        assert bad["userErrors"] == [{"code": "INVALID_INPUT"}]
        replay = await change(http, "increaseItemQuantity", customer, 2, idempotencyKey="grant-1")
        assert replay["item"] == {"quantity": 2, "version": 1}, "a replay changes nothing"
        reused = await change(http, "increaseItemQuantity", customer, 3, idempotencyKey="grant-1")
        assert reused["userErrors"] == [{"code": "IDEMPOTENCY_KEY_REUSED"}]
        # concurrent retries with one key: one commits, the others roll back and replay
        burst = await asyncio.gather(*(change(http, "increaseItemQuantity", customer, 1,
                                              idempotencyKey="burst") for _ in range(6)))
        assert {(p["item"]["quantity"], p["item"]["version"]) for p in burst} == {(3, 2)}

        first = await next_item(ws)
        assert (first["version"], first["quantity"]) == (2, 3)
        await nothing_arrives(ws)

        done = await change(http, "tryDecreaseItemQuantity", customer, 3)
        assert done["success"] is True
        last = await next_item(ws)
        assert (last["version"], last["quantity"]) == (3, 0)
    finally:
        await ws.close()


async def test_a_client_token_watches_its_own_and_its_teams_items(server: Server, http) -> None:
    customer = user()
    team = {"type": "TEAM", "customerId": unique("team")}
    await increase(http, customer, 7)
    token = client_token(customer["customerId"], teams={team["customerId"]: "member"})
    ws = await ws_connect(server, f"Bearer {token}")
    try:
        await subscribe(ws, customer, op_id="own")
        await subscribe(ws, team, "seats", op_id="team")
        snapshots = {}
        for _ in range(2):
            message = await ws_receive(ws)
            assert message["type"] == "next", message
            snapshots[message["id"]] = message["payload"]["data"]["itemQuantityChanged"]
        assert (snapshots["own"]["quantity"], snapshots["own"]["version"]) == (7, 1)
        assert (snapshots["team"]["quantity"], snapshots["team"]["version"]) == (0, 0)

        await change(http, "decreaseItemQuantity", customer, 2)
        assert (await next_item(ws, "own"))["quantity"] == 5
        await change(http, "increaseItemQuantity", team, 4, item_id="seats")
        seats = await next_item(ws, "team")
        assert (seats["quantity"], seats["version"]) == (4, 1)
    finally:
        await ws.close()


@pytest.mark.parametrize("target", ["other-user", "other-team", "custom"])
async def test_a_client_token_cannot_watch_others(server: Server, http, target) -> None:
    me = user()
    customer, item_id = {
        "other-user": (user(), "credits"),
        "other-team": ({"type": "TEAM", "customerId": unique("team")}, "seats"),
        "custom": ({"type": "CUSTOM", "customerId": unique("custom")}, "credits"),
    }[target]
    token = client_token(me["customerId"], teams={unique("my-team"): "admin"})
    ws = await ws_connect(server, f"Bearer {token}")
    try:
        await subscribe(ws, customer, item_id)
        assert await subscription_error(ws) == ["FORBIDDEN"]

        # the connection stays usable for what the token may watch
        await subscribe(ws, me, op_id="2")
        assert (await next_item(ws, "2"))["version"] == 0
    finally:
        await ws.close()


async def test_an_anonymous_connection_may_watch_nothing(server: Server) -> None:
    ws = await ws_connect(server, None)
    try:
        await subscribe(ws, user())
        assert await subscription_error(ws) == ["FORBIDDEN"]
    finally:
        await ws.close()


@pytest.mark.parametrize(("item_id", "customer_type", "code"), [
    ("nope", "USER", "ITEM_NOT_FOUND"), ("seats", "USER", "CUSTOMER_TYPE_MISMATCH")])
async def test_an_unknown_or_mismatched_item_is_an_error(server: Server, item_id, customer_type,
                                                         code) -> None:
    ws = await ws_connect(server, server_auth())
    try:
        await subscribe(ws, {"type": customer_type, "customerId": unique("c")}, item_id)
        assert await subscription_error(ws) == [code]
    finally:
        await ws.close()


@pytest.mark.parametrize("authorization", [
    pytest.param("Bearer not-a-key", id="unknown-key"),
    pytest.param("Bearer " + client_token("u1", ttl_seconds=-60), id="expired-token"),
    pytest.param("Bearer a.b.c", id="malformed-token"),
    pytest.param("Basic dXNlcjpwYXNz", id="not-bearer"),
    pytest.param(12345, id="not-a-string"),
])
async def test_bad_credentials_close_the_connection_with_4403(server: Server,
                                                              authorization) -> None:
    ws = await ws_connect(server, init=False)
    try:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": authorization}}))
        with pytest.raises(ConnectionClosed) as closed:
            await ws_receive(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    finally:
        await ws.close()


async def test_a_token_signed_with_another_secret_is_rejected(server: Server) -> None:
    from billgate.graphql.auth import mint_customer_token

    forged = mint_customer_token("another-secret-that-is-long-enough-for-hs256", "u1")
    ws = await ws_connect(server, init=False)
    try:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": f"Bearer {forged}"}}))
        with pytest.raises(ConnectionClosed) as closed:
            await ws_receive(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    finally:
        await ws.close()


async def test_a_subscription_needs_connection_init_first(server: Server) -> None:
    ws = await ws_connect(server, init=False)
    try:
        await subscribe(ws, user())
        with pytest.raises(ConnectionClosed) as closed:
            await ws_receive(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401  # Unauthorized
    finally:
        await ws.close()


async def test_subscribers_of_one_balance_each_get_their_own_selection_in_text_frames(
        server: Server, http) -> None:
    """Changes are executed and encoded once per distinct (query, variables, caller) and
    shared: subscribers asking the same get the same data under their own ids, one asking
    other fields gets those fields, a client token gets the change too."""
    customer = user()
    await increase(http, customer, 10)
    narrow = ("subscription ($c: CustomerRef!) { itemQuantityChanged(customer: $c, "
              "itemId: \"credits\") { version } }")
    same = [await ws_connect(server, server_auth()) for _ in range(3)]
    other = await ws_connect(server, server_auth())
    own = await ws_connect(server, f"Bearer {client_token(customer['customerId'])}")
    try:
        for op_id, ws in enumerate(same):
            await subscribe(ws, customer, op_id=f"op-{op_id}")
            await next_item(ws, f"op-{op_id}")
        await subscribe(own, customer, op_id="own")
        await next_item(own, "own")
        await other.send(json.dumps({"id": "n", "type": "subscribe", "payload": {
            "query": narrow, "variables": {"c": customer}}}))
        assert (await ws_receive(other))["payload"]["data"]["itemQuantityChanged"] == {"version": 1}

        await increase(http, customer, 5)
        frames = [await asyncio.wait_for(ws.recv(), 30) for ws in same]
        assert all(isinstance(frame, str) for frame in frames), "graphql-ws clients parse text"
        # The client offered permessage-deflate; frames this small are sent uncompressed.
        assert all(ws.response.headers.get("Sec-WebSocket-Extensions") is None for ws in same)
        messages = [json.loads(frame) for frame in frames]
        assert [m["id"] for m in messages] == ["op-0", "op-1", "op-2"]
        assert all(m["type"] == "next" for m in messages)
        data = [m["payload"]["data"]["itemQuantityChanged"] for m in messages]
        assert data[0] == data[1] == data[2]
        assert (data[0]["quantity"], data[0]["version"], data[0]["displayName"]) == (15, 2, "AI credits")
        assert (await ws_receive(other))["payload"]["data"]["itemQuantityChanged"] == {"version": 2}
        assert (await next_item(own, "own")) == data[0]
    finally:
        for ws in [*same, other, own]:
            await ws.close()


async def test_a_connection_ends_when_its_customer_token_expires(server: Server, http) -> None:
    """The token was good when the connection opened; when it expires the server closes the
    connection with 4403, as for a bad token, instead of streaming on. A server key's
    connection on the same balance is not affected."""
    customer = user()
    await increase(http, customer, 3)
    short = await ws_connect(server, f"Bearer {client_token(customer['customerId'], ttl_seconds=2)}")
    lasting = await ws_connect(server, server_auth())
    try:
        for ws in (short, lasting):
            await subscribe(ws, customer)
            assert (await next_item(ws))["version"] == 1
        await increase(http, customer, 1)  # before expiry: delivered
        assert (await next_item(short))["version"] == 2
        with pytest.raises(ConnectionClosed) as closed:
            await ws_receive(short, 10)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, "customer token expired")
        await increase(http, customer, 1)
        assert [(await next_item(lasting))["version"] for _ in range(2)] == [2, 3]
    finally:
        await short.close()
        await lasting.close()


@pytest.mark.parametrize("bad", ["nul", "long document"])
async def test_bad_input_answers_the_operation_and_keeps_the_connection(server: Server, bad: str) -> None:
    ws = await ws_connect(server, server_auth())
    try:
        me = user()
        if bad == "nul":
            await subscribe(ws, {"type": "USER", "customerId": "u\x00"})
        else:
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
                "query": SUBSCRIBE + "#" * 70_000,
                "variables": {"customer": me, "itemId": "credits"}}}))
        message = await ws_receive(ws)
        assert message["type"] == "error" and message["id"] == "1", message
        assert [e["extensions"]["code"] for e in message["payload"]] == ["INVALID_INPUT"]

        await subscribe(ws, me, op_id="2")
        assert (await next_item(ws, "2"))["version"] == 0
    finally:
        await ws.close()
