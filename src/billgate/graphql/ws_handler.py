"""graphql-transport-ws as billgate speaks it.

Strawberry's handler, with four differences:

* Messages are text frames: graphql-ws clients (browsers included) parse text, not binary.
* A result shared by many subscribers (``graphql/shared_results.py``) goes out as the same
  bytes to each, only the operation id differing.
* A connection opened with a customer token is closed (4403, as for a bad token) when the
  token expires: a subscription must not outlive the right to read it. The client
  reconnects with a fresh token and re-reads from its last version. Expiry is on the real
  clock, as when the token is checked.
* An operation whose document is too long or whose variables hold text that cannot be
  stored (``input_guard.py``) is answered with an error; the connection stays open.
* One customer token holds at most ``BILLGATE_MAX_SOCKETS_PER_TOKEN`` open connections in
  a process (``TokenSockets``); one more is closed at ``connection_init`` with 4429 and a
  reason naming the setting, instead of being acknowledged. Secret keys (the app's own
  backend) are not limited.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)

from billgate.graphql.input_guard import check_document_size, check_variables
from billgate.graphql.shared_results import SharedData

EXPIRED = (4403, "customer token expired")
TOO_MANY_SOCKETS = 4429


class TokenSockets:
    """How many WebSockets each customer token holds open in this process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def acquire(self, token: str) -> str | None:
        """A slot for one more connection of ``token`` (its key, to release), or None when
        the token already holds ``limit``."""
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
        held = self._open.get(key, 0)
        if self.limit and held >= self.limit:
            return None
        self._open[key] = held + 1
        return key

    def release(self, key: str) -> None:
        held = self._open.get(key, 0) - 1
        if held > 0:
            self._open[key] = held
        else:
            self._open.pop(key, None)

    def refusal(self) -> tuple[int, str]:
        return (TOO_MANY_SOCKETS, f"too many connections for this customer token (the limit "
                                  f"is {self.limit}: BILLGATE_MAX_SOCKETS_PER_TOKEN)")


class BillgateWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    _expiry: asyncio.Task[None] | None = None
    _slot: str | None = None

    async def handle(self) -> None:
        try:
            await super().handle()
        finally:
            if self._expiry is not None:
                self._expiry.cancel()
            if self._slot is not None:
                self.view.token_sockets.release(self._slot)
                self._slot = None

    def _admitted(self) -> bool:
        """Called as the connection is acknowledged: take a slot of the customer token."""
        principal = getattr(self.context, "principal", None)
        if principal is None or not principal.is_client:
            return True
        params = self.context.connection_params or {}
        token = str(params.get("Authorization") or params.get("authorization") or "")
        self._slot = self.view.token_sockets.acquire(token)
        return self._slot is not None

    async def run_operation(self, operation: Any) -> None:
        # The input guard's checks, before Strawberry streams: an error raised by a schema
        # extension there would end the whole connection instead of answering this operation.
        settings = self.context.runtime.settings
        try:
            check_document_size(operation.query, settings.max_query_bytes)
            check_variables(operation.variables)
        except GraphQLError as error:
            await operation.send_initial_errors([error])
            self.operations.pop(operation.id, None)
            return
        await super().run_operation(operation)

    async def handle_connection_init(self, message: Any) -> None:
        await super().handle_connection_init(message)
        expires_at = getattr(getattr(self.context, "principal", None), "expires_at", None)
        if self.connection_acknowledged and expires_at is not None and self._expiry is None:
            self._expiry = asyncio.create_task(self._close_at(expires_at))

    async def _close_at(self, expires_at: float) -> None:
        await asyncio.sleep(max(0.0, expires_at - time.time()))
        with contextlib.suppress(RuntimeError, WebSocketDisconnected):  # already closed
            await self.websocket.close(*EXPIRED)

    async def send_message(self, message: Any) -> None:
        if message["type"] == "connection_ack" and not self._admitted():
            await self.websocket.close(*self.view.token_sockets.refusal())
            return
        payload = message.get("payload")
        if (message["type"] == "next" and len(payload) == 1
                and isinstance(payload.get("data"), SharedData)):
            frame = b"".join((b'{"id":', orjson.dumps(message["id"]),
                              b',"type":"next","payload":{"data":', payload["data"].encoded(),
                              b"}}"))
            await self._send_text(frame.decode())
            return
        await self._send_text(orjson.dumps(message).decode())

    async def _send_text(self, text: str) -> None:
        adapter = self.websocket
        assert isinstance(adapter, ASGIWebSocketAdapter)
        try:
            await adapter.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc
