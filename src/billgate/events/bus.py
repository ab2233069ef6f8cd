"""The event bus: publish after commit, subscribe to topics, fan out to bounded queues.

One protocol, ``EventBus``, three backends chosen by URL (``BILLGATE_EVENT_BUS_URL``):

================================================  ==========================================
``memory://`` (default)                           one process; ``publish`` fans out directly
``postgres://``, ``postgresql://``,               LISTEN/NOTIFY on one channel; one listener
``postgresql+asyncpg://``                         connection per process
``redis://``, ``rediss://``                       pub/sub on one channel; one subscriber
                                                  connection per process
================================================  ==========================================

Contract
--------
* ``publish`` is called only *after* the database transaction that made the change has
  committed (the billing layer guarantees it; the bus does not check). A subscriber that
  receives an event can therefore always read the change it announces.
* Delivery is at most once. Events published while a server connection is down are lost;
  subscribers learn it (``BusReconnected``) and recover by re-reading the database. A
  payload should carry ids and version numbers, not the state itself.
* Per process, all local subscribers of a topic see the events of one publisher in the
  order it published them. With the PostgreSQL and Redis backends local subscribers receive
  the process's own events through the server, like everyone else's: one path, one order.
* The encoded message (``{"t": topic, "p": payload}`` as JSON) must fit in
  ``MAX_MESSAGE_BYTES`` (PostgreSQL's NOTIFY limit). Every backend enforces it, so what
  works on ``memory://`` in development works on PostgreSQL in production.
* Slow consumers: see ``billgate.events.fanout`` (bounded queues, ``SubscriberOverflow``).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Final, Protocol, Self
from urllib.parse import urlsplit

import orjson

from billgate.events.fanout import (
    DEFAULT_MAX_QUEUED,
    BusReconnected,
    LocalFanout,
    Payload,
    SubscriberOverflow,
    Subscription,
)

__all__ = [
    "MAX_MESSAGE_BYTES",
    "BusReconnected",
    "EventBus",
    "Payload",
    "PublishError",
    "SubscriberOverflow",
    "Subscription",
    "create_bus",
]

logger = logging.getLogger("billgate.events")

# PostgreSQL rejects a NOTIFY payload of 8000 bytes or more (default build).
MAX_MESSAGE_BYTES: Final = 7999


class PublishError(Exception):
    """The event could not be handed to the server (connection or server error).

    The database change is already committed at this point: log it and carry on, don't
    fail the request. Subscribers of that event will only see the next one.
    """


class EventBus(Protocol):
    """Publish after commit; subscribe to a topic.

    Topics are strings such as ``item:USER:user-123:credits``; payloads are small dicts of
    JSON types. A bus is started once and closed once (also usable as ``async with``).
    """

    async def __aenter__(self) -> Self:
        """``start()``; ``async with create_bus(url) as bus:``."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """``close()``."""

    async def start(self) -> None:
        """Connect (fails fast if the server is unreachable). Call once, before use."""

    async def close(self) -> None:
        """Stop background tasks, close connections, end all subscriptions. Idempotent."""

    async def publish(self, topic: str, payload: Payload) -> None:
        """Send ``payload`` to every subscriber of ``topic`` in every process.

        Call only after the database transaction behind the event has committed.
        Raises ``TypeError`` for a payload that is not a dict of JSON types, ``ValueError``
        when the encoded message exceeds ``MAX_MESSAGE_BYTES``, ``PublishError`` when the
        server cannot be reached, ``RuntimeError`` when the bus is not running.
        """

    def subscribe(self, topic: str, *, max_queued: int = DEFAULT_MAX_QUEUED) -> Subscription:
        """A subscription to ``topic``; it receives events from entering its ``async with``."""
        ...


# -- URL -> backend ----------------------------------------------------------------------

_POSTGRES_SCHEMES: Final = ("postgres", "postgresql", "postgresql+asyncpg")
_REDIS_SCHEMES: Final = ("redis", "rediss")


def is_postgres_bus(url: str) -> bool:
    """Whether ``url`` names the PostgreSQL bus (it takes database connections)."""
    return (urlsplit(url).scheme.lower() if "://" in url else "") in _POSTGRES_SCHEMES


def create_bus(url: str = "memory://", *, channel: str | None = None, **options: Any) -> EventBus:
    """Build (not start) the bus named by ``url``.

    ``channel`` overrides the server channel (default ``billgate_events`` on PostgreSQL,
    ``billgate:events`` on Redis); processes that should see each other's events use the
    same one. It is ignored by ``memory://``. ``options`` go to the backend's constructor
    (e.g. ``health_check_interval``, ``reconnect_max_delay``).
    """
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme == "memory":
        from billgate.events.memory import MemoryEventBus

        return MemoryEventBus(**options)
    if scheme in _POSTGRES_SCHEMES:
        from billgate.events.postgres import PostgresEventBus

        dsn = "postgresql" + url[len(scheme) :] if scheme == "postgresql+asyncpg" else url
        if channel is not None:
            options["channel"] = channel
        return PostgresEventBus(dsn, **options)
    if scheme in _REDIS_SCHEMES:
        from billgate.events.redis import RedisEventBus

        if channel is not None:
            options["channel"] = channel
        return RedisEventBus(url, **options)
    shown = f"scheme {scheme!r}" if scheme else "no scheme"
    raise ValueError(
        f"unsupported event bus URL ({shown}; BILLGATE_EVENT_BUS_URL): expected memory://, "
        "postgres://, postgresql://, postgresql+asyncpg://, redis:// or rediss://"
    )


# -- shared pieces of the backends -------------------------------------------------------


def encode_message(topic: str, payload: Payload) -> bytes:
    """The wire form ``{"t": topic, "p": payload}``, validated and size-checked."""
    check_topic(topic)
    if not isinstance(payload, dict):
        raise TypeError(f"event payload must be a dict, got {type(payload).__name__}")
    data = orjson.dumps({"t": topic, "p": payload})  # JSONEncodeError is a TypeError
    if len(data) > MAX_MESSAGE_BYTES:
        raise ValueError(
            f"event for {topic!r} is {len(data)} bytes encoded; the limit is "
            f"{MAX_MESSAGE_BYTES} (send ids and versions, let subscribers re-read the rest)"
        )
    return data


def decode_message(data: bytes | str) -> tuple[str, Payload]:
    """Inverse of ``encode_message``; ``ValueError`` for anything malformed."""
    message = orjson.loads(data)  # JSONDecodeError is a ValueError
    if not isinstance(message, dict):
        raise ValueError("event message is not a JSON object")
    topic, payload = message.get("t"), message.get("p")
    if not isinstance(topic, str) or not topic or not isinstance(payload, dict):
        raise ValueError("event message lacks a topic string 't' or a payload object 'p'")
    return topic, payload


def check_topic(topic: str) -> None:
    if not isinstance(topic, str):
        raise TypeError(f"event topic must be a str, got {type(topic).__name__}")
    if not topic:
        raise ValueError("event topic must not be empty")


def backoff_delays(min_delay: float, max_delay: float) -> Iterator[float]:
    """Exponential back-off with jitter: about min, 2*min, 4*min ... capped at max."""
    delay = min_delay
    while True:
        yield delay * random.uniform(0.5, 1.0)
        delay = min(max_delay, delay * 2)


class BusBase:
    """Lifecycle, subscription and local delivery shared by the backends."""

    def __init__(self) -> None:
        self._fanout = LocalFanout()
        self._starting = False
        self._started = False
        self._closed = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        if self._closed:
            raise RuntimeError("the event bus is closed; create a new one")
        if self._starting or self._started:
            raise RuntimeError("the event bus is already started")
        self._starting = True
        try:
            await self._open()  # cleans up after itself when it fails; start() may be retried
        finally:
            self._starting = False
        self._started = True

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._fanout.close()  # subscriptions end now, whatever the server does
        await self._shutdown()

    async def _open(self) -> None:
        """Connect and start background work (backend-specific)."""

    async def _shutdown(self) -> None:
        """Stop background work and close connections; never raises (backend-specific)."""

    def _check_running(self) -> None:
        if self._closed:
            raise RuntimeError("the event bus is closed")
        if not self._started:
            raise RuntimeError("the event bus is not started (await bus.start())")

    def subscribe(self, topic: str, *, max_queued: int = DEFAULT_MAX_QUEUED) -> Subscription:
        check_topic(topic)
        self._check_running()
        return Subscription(self._fanout, topic, max_queued)

    def subscriber_count(self, topic: str | None = None) -> int:
        """Active local subscribers (of ``topic``, or in all)."""
        return self._fanout.subscriber_count(topic)

    @property
    def running(self) -> bool:
        return self._started and not self._closed

    def _deliver_raw(self, data: bytes | str, source: str) -> None:
        """Decode a message received from the server and fan it out locally."""
        try:
            topic, payload = decode_message(data)
        except ValueError as exc:
            logger.warning("event bus: ignoring a malformed message on %s: %s", source, exc)
            return
        self._fanout.deliver(topic, payload)


def reconnected_error() -> SubscriberOverflow:
    return BusReconnected(
        "the event bus reconnected to its server; events may have been missed"
    )
