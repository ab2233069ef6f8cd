"""This process's live feeds, by topic: one feed per watched balance or customer, made on the
first watcher and stopped with the last (``live_items.py``, ``live_customers.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Generic, Protocol, TypeVar

from billgate.events.fanout import LocalFanout, Subscription


class Feed(Protocol):
    watchers: LocalFanout
    error: Exception | None

    def start(self) -> None: ...

    def stop(self) -> None: ...

    async def ready(self) -> None: ...


F = TypeVar("F", bound=Feed)


class Feeds(Generic[F]):
    def __init__(self, max_queued: int) -> None:
        self.max_queued = max_queued
        self._feeds: dict[str, F] = {}

    def __len__(self) -> int:
        return len(self._feeds)

    def feed(self, topic: str) -> F | None:
        """The running feed of ``topic``, if any."""
        return self._feeds.get(topic)

    @contextlib.asynccontextmanager
    async def watch_topic(self, topic: str, make: Callable[[], F]) -> AsyncIterator[Subscription]:
        """Iterate the feed of ``topic`` (made with ``make`` when none runs) from the moment
        this returns: read the current state after entering. Raises ``SubscriberOverflow``
        when this watcher fell behind or the feed failed: read again and watch again."""
        feed = self._feeds.get(topic)
        if feed is None or feed.watchers.closed:
            feed = self._feeds[topic] = make()
            feed.start()
        watcher = Subscription(feed.watchers, topic, self.max_queued)
        try:
            async with watcher:
                await feed.ready()
                if feed.error is not None and watcher.overflowed:
                    raise RuntimeError(f"live updates of {topic} are unavailable") from feed.error
                yield watcher
        finally:
            if feed.watchers.subscriber_count() == 0 and self._feeds.get(topic) is feed:
                del self._feeds[topic]
                feed.stop()
