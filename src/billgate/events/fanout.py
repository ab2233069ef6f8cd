"""Local fan-out: topic -> subscribers, each with a bounded queue.

Every backend ends in one ``LocalFanout`` per bus instance. The memory backend feeds it
straight from ``publish``; the PostgreSQL and Redis backends feed it from their single
listener connection, so each process has one delivery path and one order.

Overflow semantics (the choice, documented once here)
-----------------------------------------------------
A subscriber holds at most ``max_queued`` undelivered messages. When a message arrives
and its queue is already full, the subscriber is *overflowed*:

* all its queued messages are dropped at once (memory is freed immediately, not when the
  consumer wakes up),
* it is detached from its topic (later messages cost it nothing),
* its iterator raises ``SubscriberOverflow`` on the next read (immediately, if the
  consumer is waiting), and on every read after that.

An exception rather than a sentinel value, so a consumer cannot mistake the end of a gap
for a payload or ignore it by accident. The consumer's recovery is always the same: leave
the ``async with``, open a new subscription, re-read the current state from the database,
and carry on from there (subscribe first, then read, so nothing falls between the two).

``BusReconnected`` is a subclass raised for the same reason from a different cause: the
bus lost its server connection and re-established it, so messages published meanwhile
may have been missed. Catching ``SubscriberOverflow`` handles both.

Closing the bus ends every subscription normally: queued messages are still delivered,
then the iterator stops (``StopAsyncIteration``).

Payload dicts are decoded once per message and the same object is handed to every
subscriber of the topic in this process: treat them as read-only.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final

Payload = dict[str, Any]

DEFAULT_MAX_QUEUED: Final = 256


class SubscriberOverflow(Exception):  # noqa: N818 - the public name the API layer catches
    """This subscription missed messages and has ended.

    Re-read the state from the database and subscribe again.
    """


class BusReconnected(SubscriberOverflow):
    """The bus lost its server connection and reconnected; messages may have been missed."""


_WAKE: Final = object()  # wakes a consumer blocked on an empty queue

_NEW, _ACTIVE, _EXITED = "new", "active", "exited"


class Subscription:
    """One consumer of one topic: an async context manager and an async iterator.

    ::

        async with bus.subscribe("item:USER:user-123:credits") as events:
            snapshot = await read_balance(...)      # after subscribing: no gap
            async for payload in events:            # raises SubscriberOverflow on a gap
                ...

    Entering registers the subscriber; leaving unregisters it and frees its queue. It is
    meant for one consumer task; it cannot be entered twice.
    """

    __slots__ = ("topic", "max_queued", "_fanout", "_queue", "_state", "_failure", "_finished")

    def __init__(self, fanout: LocalFanout, topic: str, max_queued: int = DEFAULT_MAX_QUEUED):
        if not isinstance(max_queued, int) or max_queued < 1:
            raise ValueError(f"max_queued must be a positive integer, got {max_queued!r}")
        self.topic = topic
        self.max_queued = max_queued
        self._fanout = fanout
        # One slot more than the bound, so the wake-up marker always fits.
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=max_queued + 1)
        self._state = _NEW
        self._failure: SubscriberOverflow | None = None
        self._finished = False  # the bus closed

    # -- consumer side -------------------------------------------------------------------

    async def __aenter__(self) -> Subscription:
        if self._state is not _NEW:
            raise RuntimeError("a Subscription can be entered only once")
        self._fanout.add(self)  # raises if the bus is closed
        self._state = _ACTIVE
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._detach()
        self._state = _EXITED
        self._wake()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Payload:
        while True:
            if self._state is _NEW:
                raise RuntimeError("use `async with bus.subscribe(topic) as sub:` before iterating")
            if self._failure is not None:
                raise self._failure.with_traceback(None)
            if self._state is _EXITED:
                raise StopAsyncIteration
            if self._finished and self._queue.empty():
                raise StopAsyncIteration
            item = await self._queue.get()
            if item is not _WAKE:
                return item  # type: ignore[no-any-return]

    def newest(self, current: Payload) -> Payload:
        """``current``, or the newest message queued since (the older ones are dropped):
        for messages that each supersede the one before, such as "read the state again"."""
        newest = current
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not _WAKE:
                newest = item
        return newest

    @property
    def overflowed(self) -> bool:
        """True once this subscription has missed messages (the iterator raises)."""
        return self._failure is not None

    @property
    def queued(self) -> int:
        """Messages waiting to be read."""
        pending: deque[object] = self._queue._queue  # type: ignore[attr-defined]
        return sum(1 for item in pending if item is not _WAKE)

    # -- fan-out side --------------------------------------------------------------------

    def _offer(self, payload: Payload) -> None:
        if self._queue.qsize() >= self.max_queued:
            self._fail(
                SubscriberOverflow(
                    f"subscriber to {self.topic!r} fell more than {self.max_queued} messages "
                    "behind; its queued messages were dropped"
                )
            )
            return
        self._queue.put_nowait(payload)

    def _fail(self, error: SubscriberOverflow) -> None:
        if self._failure is not None or self._state is not _ACTIVE:
            return
        self._failure = error
        self._detach()
        self._wake()

    def _finish(self) -> None:
        self._finished = True
        self._wake()

    def _detach(self) -> None:
        self._fanout.remove(self)
        while not self._queue.empty():
            self._queue.get_nowait()

    def _wake(self) -> None:
        # Only a consumer blocked on an empty queue needs waking; any other consumer
        # re-checks the state before its next wait.
        if self._queue.empty():
            self._queue.put_nowait(_WAKE)


class LocalFanout:
    """Topic -> set of active subscriptions of this process."""

    def __init__(self) -> None:
        self._topics: dict[str, set[Subscription]] = {}
        self._closed = False

    def add(self, subscription: Subscription) -> None:
        if self._closed:
            raise RuntimeError("the event bus is closed")
        self._topics.setdefault(subscription.topic, set()).add(subscription)

    def remove(self, subscription: Subscription) -> None:
        subscribers = self._topics.get(subscription.topic)
        if subscribers is None:
            return
        subscribers.discard(subscription)
        if not subscribers:
            del self._topics[subscription.topic]

    def deliver(self, topic: str, payload: Payload) -> int:
        """Queue ``payload`` for every subscriber of ``topic``; return how many there were."""
        subscribers = self._topics.get(topic)
        if not subscribers:
            return 0
        for subscription in tuple(subscribers):
            subscription._offer(payload)
        return len(subscribers)

    def fail_all(self, make_error: Callable[[], SubscriberOverflow]) -> int:
        """End every subscription with an error (each gets its own instance)."""
        subscriptions = [s for subscribers in self._topics.values() for s in subscribers]
        for subscription in subscriptions:
            subscription._fail(make_error())
        return len(subscriptions)

    def close(self) -> None:
        """End every subscription normally (after its queued messages) and refuse new ones."""
        self._closed = True
        topics, self._topics = self._topics, {}
        for subscribers in topics.values():
            for subscription in subscribers:
                subscription._finish()

    @property
    def closed(self) -> bool:
        return self._closed

    def subscriber_count(self, topic: str | None = None) -> int:
        if topic is not None:
            return len(self._topics.get(topic, ()))
        return sum(len(subscribers) for subscribers in self._topics.values())
