"""Redis event bus: pub/sub on one channel (``redis://``, ``rediss://``).

Per process:

* one dedicated subscriber connection runs ``SUBSCRIBE <channel>`` and a reader task
  decodes each message and fans it out to the local subscribers (``LocalFanout``);
* a regular client (its own small pool) publishes with ``PUBLISH``, retrying once on a
  fresh connection when a pooled one turns out to be dead.

All topics share the one channel (the topic travels in the message), so a process needs
one subscription however many topics its clients watch, and subscribing or leaving a
topic costs no server round trip.

The reader pings the server after ``health_check_interval`` idle seconds and treats a
missing answer within another interval as a dead connection. On any connection error it
reconnects with exponential back-off (redis-py's own silent reconnect is disabled on this
connection, so no gap goes unnoticed), logging each failure. Messages published while it
was down are lost (Redis pub/sub keeps nothing), so after reconnecting every local
subscription ends with ``BusReconnected``: its consumer re-reads the database and
subscribes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from billgate.events.bus import (
    BusBase,
    PublishError,
    backoff_delays,
    encode_message,
    reconnected_error,
)
from billgate.events.fanout import Payload

logger = logging.getLogger("billgate.events")

DEFAULT_CHANNEL = "billgate:events"


class RedisEventBus(BusBase):
    def __init__(
        self,
        url: str,
        *,
        channel: str = DEFAULT_CHANNEL,
        health_check_interval: float = 30.0,
        reconnect_min_delay: float = 0.5,
        reconnect_max_delay: float = 30.0,
        connect_timeout: float = 10.0,
        close_timeout: float = 5.0,
    ) -> None:
        super().__init__()
        if not channel or any(c.isspace() for c in channel):
            raise ValueError(f"invalid Redis event channel {channel!r}: non-empty, no spaces")
        self._url = url
        self.channel = channel
        self._health_check_interval = health_check_interval
        self._reconnect_min_delay = reconnect_min_delay
        self._reconnect_max_delay = reconnect_max_delay
        self._connect_timeout = connect_timeout
        self._close_timeout = close_timeout
        # CLIENT SETNAME of its connections (CLIENT LIST: operations, tests)
        self.listener_name = f"billgate-events-listen:{channel}"
        self.publisher_name = f"billgate-events-publish:{channel}"
        self._publisher: aioredis.Redis | None = None
        self._subscriber: tuple[aioredis.Redis, PubSub] | None = None
        self._reader: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def _open(self) -> None:
        publisher = aioredis.Redis.from_url(
            self._url,
            socket_connect_timeout=self._connect_timeout,
            socket_timeout=self._connect_timeout,
            socket_keepalive=True,
            client_name=self.publisher_name,
            # A pooled connection the server dropped fails on first use: retry once on a
            # fresh one. (Should the PUBLISH have gone through, a duplicate event is
            # harmless: it carries the same version.)
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        try:
            async with asyncio.timeout(self._connect_timeout):
                await publisher.ping()
            self._subscriber = await self._connect_subscriber()
        except BaseException:
            await publisher.aclose()
            raise
        self._publisher = publisher
        self._reader = asyncio.create_task(
            self._supervise(), name=f"billgate-events-reader:{self.channel}"
        )

    async def _shutdown(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._drop_subscriber()
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            with contextlib.suppress(Exception):  # closing must not fail
                await asyncio.wait_for(publisher.aclose(), self._close_timeout)

    # -- publishing ----------------------------------------------------------------------

    async def publish(self, topic: str, payload: Payload) -> None:
        data = encode_message(topic, payload)
        self._check_running()
        assert self._publisher is not None
        try:
            await self._publisher.publish(self.channel, data)
        except (RedisError, OSError, TimeoutError) as exc:
            raise PublishError(f"could not publish event for {topic!r}: {exc}") from exc

    # -- subscriber ----------------------------------------------------------------------

    async def _connect_subscriber(self) -> tuple[aioredis.Redis, PubSub]:
        client = aioredis.Redis.from_url(
            self._url,
            socket_connect_timeout=self._connect_timeout,
            socket_keepalive=True,
            client_name=self.listener_name,
            retry=Retry(NoBackoff(), 0),  # surface every drop: we reconnect ourselves
        )
        pubsub = client.pubsub()
        try:
            async with asyncio.timeout(self._connect_timeout):
                await pubsub.subscribe(self.channel)
                while True:  # wait for the confirmation: from here on nothing is missed
                    message = await pubsub.get_message(timeout=self._connect_timeout)
                    if message is not None and message["type"] == "subscribe":
                        break
        except BaseException:
            await self._close_client(client, pubsub)
            raise
        return client, pubsub

    async def _drop_subscriber(self) -> None:
        subscriber, self._subscriber = self._subscriber, None
        if subscriber is not None:
            await self._close_client(*subscriber)

    async def _close_client(self, client: aioredis.Redis, pubsub: PubSub) -> None:
        with contextlib.suppress(Exception):  # closing must not fail
            await asyncio.wait_for(
                pubsub.aclose(), self._close_timeout  # type: ignore[no-untyped-call]
            )
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.aclose(), self._close_timeout)

    async def _supervise(self) -> None:
        """Read and fan out; when the connection is lost, reconnect with back-off."""
        while True:
            assert self._subscriber is not None
            reason = await self._read_until_lost(self._subscriber[1])
            await self._drop_subscriber()
            logger.warning(
                "event bus: lost the Redis subscriber on %r (%s); reconnecting",
                self.channel, reason,
            )
            delays = backoff_delays(self._reconnect_min_delay, self._reconnect_max_delay)
            attempt = 0
            while True:
                attempt += 1
                await asyncio.sleep(next(delays))
                try:
                    self._subscriber = await self._connect_subscriber()
                except Exception as exc:  # anything: keep trying until closed
                    logger.warning(
                        "event bus: Redis subscriber reconnect attempt %d failed: %s",
                        attempt, exc,
                    )
                    continue
                break
            ended = self._fanout.fail_all(reconnected_error)
            logger.warning(
                "event bus: Redis subscriber on %r reconnected after %d attempt(s); "
                "ended %d subscription(s) that may have missed events",
                self.channel, attempt, ended,
            )

    async def _read_until_lost(self, pubsub: PubSub) -> str:
        """Fan out messages until the connection fails; return the reason."""
        loop = asyncio.get_running_loop()
        interval = self._health_check_interval
        last_heard = loop.time()
        ping_sent: float | None = None
        source = f"Redis channel {self.channel!r}"
        while True:
            try:
                message: dict[str, Any] | None = await pubsub.get_message(timeout=interval)
                now = loop.time()
                if message is None:
                    if ping_sent is not None:
                        if now - ping_sent >= interval:
                            return f"no answer to PING within {interval:g}s"
                    elif now - last_heard >= interval:
                        await pubsub.ping()
                        ping_sent = now
                    continue
            except (RedisError, OSError, TimeoutError) as exc:
                return repr(exc)
            last_heard, ping_sent = now, None
            if message["type"] == "message":
                self._deliver_raw(message["data"], source)
