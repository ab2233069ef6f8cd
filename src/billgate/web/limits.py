"""Refuse request bodies over a size limit before they are read into memory."""

from __future__ import annotations

from typing import Any

from starlette.responses import PlainTextResponse

from billgate.ops.large_bodies import LargeBodyDebt


class BodySizeLimit:
    def __init__(self, app: Any, max_bytes: int, exempt_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Paths whose handlers read with the same limit and answer in their own format.
        self.exempt_prefixes = exempt_prefixes
        # What the bodies it lets through leave for the garbage collector (ops/large_bodies.py).
        self.debt = LargeBodyDebt()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers") or []:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._too_large(scope, receive, send)
        finally:
            self.debt.record(received)

    async def _too_large(self, scope: Any, receive: Any, send: Any) -> None:
        response = PlainTextResponse(f"request body larger than {self.max_bytes} bytes",
                                     status_code=413)
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass
