"""A minimal graphql-transport-ws client for the fan-out benchmark.

A thousand ``websockets`` clients in one Python process spend longer parsing frames than
the server spends sending them, so the benchmark would time its own client. This one
speaks just enough WebSocket (RFC 6455: the upgrade, masked text frames out, unmasked
frames in) on an ``asyncio.Protocol`` and timestamps each frame as it arrives.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import time
from typing import Any


def _frame(text: str) -> bytes:
    """A masked, final text frame (clients must mask)."""
    data = text.encode()
    mask = os.urandom(4)
    length = len(data)
    if length < 126:
        head = struct.pack("!BB", 0x81, 0x80 | length)
    elif length < 65536:
        head = struct.pack("!BBH", 0x81, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", 0x81, 0x80 | 127, length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return head + mask + masked


class Subscriber(asyncio.Protocol):
    """One connection with one subscription; ``messages`` holds (arrival time, message)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.upgraded = False
        self.opened = asyncio.Event()
        self.messages: list[tuple[float, dict[str, Any]]] = []
        self.arrived = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = self.buffer[: self.buffer.find(b"\r\n")]
            if b" 101 " not in status:
                raise ConnectionError(f"upgrade refused: {status!r}")
            self.buffer = self.buffer[end + 4:]
            self.upgraded = True
            self.opened.set()
        while len(self.buffer) >= 2:
            length = self.buffer[1] & 0x7F
            offset = 2
            if length == 126:
                if len(self.buffer) < 4:
                    return
                length, offset = struct.unpack("!H", self.buffer[2:4])[0], 4
            elif length == 127:
                if len(self.buffer) < 10:
                    return
                length, offset = struct.unpack("!Q", self.buffer[2:10])[0], 10
            if len(self.buffer) < offset + length:
                return
            opcode, payload = self.buffer[0] & 0x0F, self.buffer[offset: offset + length]
            self.buffer = self.buffer[offset + length:]
            if opcode in (0x1, 0x2):
                self.messages.append((now, json.loads(payload)))
                self.arrived.set()

    def send(self, message: dict[str, Any]) -> None:
        assert self.transport is not None
        self.transport.write(_frame(json.dumps(message)))

    async def next_message(self) -> dict[str, Any]:
        seen = len(self.messages)
        async with asyncio.timeout(60):
            while len(self.messages) <= seen:
                self.arrived.clear()
                await self.arrived.wait()
        return self.messages[seen][1]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def subscribe(port: int, authorization: str, query: str,
                    variables: dict[str, Any]) -> Subscriber:
    """Connect, upgrade, authenticate and subscribe; return once the snapshot arrived."""
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(Subscriber, "127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    assert client.transport is not None
    client.transport.write(
        f"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n".encode())
    await asyncio.wait_for(client.opened.wait(), 60)
    client.send({"type": "connection_init", "payload": {"Authorization": authorization}})
    ack = await client.next_message()
    assert ack["type"] == "connection_ack", ack
    client.send({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}})
    snapshot = await client.next_message()
    assert snapshot["type"] == "next", snapshot
    return client
