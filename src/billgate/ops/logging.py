"""Structured JSON logs, each line carrying the request id of the request it belongs to."""

from __future__ import annotations

import logging
import secrets
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

request_id: ContextVar[str | None] = ContextVar("billgate_request_id", default=None)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def configure(*, debug: bool = False, json_logs: bool = True) -> None:
    """Send every log line to stderr as JSON (``json_logs=False``: plain text for a terminal)."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if json_logs:
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its start-up chatter
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class RequestIdMiddleware:
    """Takes ``X-Request-ID`` from the caller (or makes one), logs under it, echoes it back."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming[:64] if incoming and incoming.isprintable() else secrets.token_hex(8)
        token = request_id.set(rid)

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        # A WebSocket has no response headers to add to; its sends (one per live update
        # per subscriber) go straight through.
        try:
            await self.app(scope, receive, send_with_id if scope["type"] == "http" else send)
        finally:
            request_id.reset(token)
