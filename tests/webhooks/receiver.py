"""A real HTTP receiver for outgoing webhooks: a small Starlette app under uvicorn on
127.0.0.1, which verifies every request with ``standardwebhooks`` as an app would."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any] | None
    verified_with: list[str]  # which of the path's secrets verify this request


@dataclass
class Receiver:
    base_url: str = ""
    # Per path: the secrets to verify with, and the statuses to answer in turn (the last
    # one repeats; default 200).
    secrets: dict[str, list[str]] = field(default_factory=dict)
    answers: dict[str, list[int]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        body = await request.body()
        headers = dict(request.headers)
        verified: list[str] = []
        payload = None
        for secret in self.secrets.get(path, []):
            try:
                payload = Webhook(secret).verify(body, headers)
                verified.append(secret)
            except WebhookVerificationError:
                pass
        self.received.append(Received(path, headers, body, payload, verified))
        if path == "/redirect":
            return RedirectResponse(self.url("/final"), status_code=307)
        queue = self.answers.get(path, [200])
        status = queue.pop(0) if len(queue) > 1 else queue[0]
        return PlainTextResponse("x" * 100_000 if status >= 500 else "ok", status_code=status)


@contextlib.asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/{path:path}", receiver.handle, methods=["POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    receiver.base_url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(1000):  # bounded: at most ~10 s for the server to come up
        if server.started:
            break
        await asyncio.sleep(0.01)  # noqa: ASYNC110 - uvicorn exposes no start event
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task
        sock.close()
