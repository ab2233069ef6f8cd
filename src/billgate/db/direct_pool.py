"""The direct path's PostgreSQL connections: a pool with no task per request.

asyncpg's own pool runs ``acquire(timeout=)`` through ``wait_for`` and ``release`` through
``shield``: two tasks and their event-loop turns for every request, about 35 µs of CPU on
this machine, as much as the statement itself (``bench/hot_path.py``, docs/performance.md).
The direct path needs none of what they buy: its statements never ``LISTEN``, ``SET``,
take advisory locks or leave a transaction open, so a connection handed back is ready as it
is. This pool hands an idle connection over without awaiting anything, and waits (up to
the connect timeout) only when all ``max_size`` are in use or being opened.

A connection that may be in an unknown state (closed, inside a transaction, or given back
after a cancellation or a client-side timeout) is terminated on release and its slot freed.
A failed connection attempt frees its slot too, so the next request tries again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

Connect = Callable[[float], Awaitable[Any]]  # connect(within seconds) -> an asyncpg Connection


class PoolClosed(Exception):  # noqa: N818 - named as the state it reports
    """The pool was closed (the server is shutting down)."""


class DirectPool:
    """At most ``max_size`` connections, opened by ``connect`` when needed."""

    def __init__(self, connect: Connect, *, max_size: int, timeout: float) -> None:
        self._connect = connect
        self._max_size = max_size
        self._timeout = timeout
        self._idle: list[Any] = []
        self._opened = 0  # connections open or being opened
        # Requests waiting for a connection: each future gets a connection, or None for
        # "a slot is free, open one yourself".
        self._waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._closed = False

    @property
    def size(self) -> int:
        """Connections open or being opened (tests read it)."""
        return self._opened

    async def acquire(self) -> Any:
        """A connection; ``TimeoutError`` when none came within the timeout. Give it back
        with ``release``."""
        if self._closed:
            raise PoolClosed("the direct pool is closed")
        while self._idle:
            conn = self._idle.pop()
            if not conn.is_closed():
                return conn
            self._opened -= 1
        if self._opened < self._max_size:
            return await self._open(self._timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        waiter = loop.create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                conn = await waiter
        except BaseException:
            if not waiter.done():
                self._waiters.remove(waiter)  # still queued: nothing was handed to us
            elif not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()  # handed to us just as we gave up: pass it on
                if handed is None:
                    self._free_slot()
                else:
                    self.release(handed)
            raise
        if conn is None:  # a freed slot was passed to us
            return await self._open(max(0.0, deadline - loop.time()), counted=True)
        return conn

    async def _open(self, within: float, *, counted: bool = False) -> Any:
        if not counted:
            self._opened += 1
        try:
            return await self._connect(within)
        except BaseException:
            self._free_slot()
            raise

    def release(self, conn: Any, *, reusable: bool = True) -> None:
        """``reusable=False`` after a cancellation mid-statement: its state is unknown. A
        statement's own error (a timeout on the server, a unique violation) leaves the
        connection usable; a client-side timeout leaves it mid-cancellation, seen here."""
        if (not reusable or self._closed or conn.is_closed() or conn.is_in_transaction()
                or _cancelling(conn)):
            conn.terminate()
            self._free_slot()
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    def _free_slot(self) -> None:
        """A connection's slot is free: the first waiter opens one in it (so no request
        that arrives meanwhile can take it and the pool never passes ``max_size``)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._opened -= 1

    async def close(self) -> None:
        """Close the idle connections now, the others as they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        self._opened -= len(idle)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(PoolClosed("the direct pool is closed"))
        self._waiters.clear()
        for conn in idle:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)


def _cancelling(conn: Any) -> bool:
    """A statement was cancelled client-side (a timeout) and its cancel is under way."""
    protocol = getattr(conn, "_protocol", None)
    return bool(protocol is not None and protocol._is_cancelling())
