"""``BILLGATE_ALLOWED_ORIGINS`` for the WebSocket: a real ``billgate serve`` accepts the
handshake from an allowed origin (and from clients that send no ``Origin``, like servers),
and answers 403 naming the setting to any other origin."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from servers import (
    SERVER_KEY,
    WS_SUBPROTOCOL,
    WS_WAIT,
    Server,
    prepared_database,
    running,
    server_env,
    ws_receive,
)
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    folder = tmp_path_factory.mktemp("ws-origins")
    async with prepared_database("sqlite", folder) as url:
        env = server_env(url, ALLOWED_ORIGINS="https://app.example.com,http://localhost:*")
        with running({"origins": env}, folder / "logs") as servers:
            yield servers["origins"]


async def handshake(server: Server, origin: str | None) -> Any:
    return await connect(server.ws_url, subprotocols=[WS_SUBPROTOCOL], open_timeout=WS_WAIT,
                         origin=origin)  # type: ignore[arg-type]


async def assert_usable(ws: Any) -> None:
    """The connection speaks graphql-transport-ws: init is acknowledged."""
    await ws.send(json.dumps({"type": "connection_init",
                              "payload": {"Authorization": f"Bearer {SERVER_KEY}"}}))
    assert (await ws_receive(ws))["type"] == "connection_ack"
    await ws.close()


@pytest.mark.parametrize("origin", ["https://app.example.com", "http://localhost:3000",
                                    "http://localhost:8080"])
async def test_allowed_origins_connect(server: Server, origin: str) -> None:
    await assert_usable(await handshake(server, origin))


async def test_no_origin_connects(server: Server) -> None:
    await assert_usable(await handshake(server, None))


async def test_same_origin_connects(server: Server) -> None:
    await assert_usable(await handshake(server, server.url))


@pytest.mark.parametrize("origin", ["https://evil.example", "http://127.0.0.1:3000",
                                    "https://app.example.com.evil.io"])
async def test_other_origins_get_403_naming_the_setting(server: Server, origin: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await handshake(server, origin)
    assert refused.value.response.status_code == 403
    assert b"BILLGATE_ALLOWED_ORIGINS" in refused.value.response.body
    assert "BILLGATE_ALLOWED_ORIGINS" in server.log_tail(200)
