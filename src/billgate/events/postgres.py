"""PostgreSQL event bus: LISTEN/NOTIFY on one channel (``postgres://``, ``postgresql://``,
``postgresql+asyncpg://``).

Per process:

* one dedicated listener connection runs ``LISTEN <channel>``; its notification callback
  decodes each message and fans it out to the local subscribers (``LocalFanout``);
* one more connection (an asyncpg pool of ``pool_max_size``, 1 by default) publishes with
  ``SELECT pg_notify($1, $2)`` (autocommit, so the notification goes out at once; callers
  publish only after their own transaction has committed). Apart from the listener, so
  publishing goes on while the listener reconnects. The two count in the process's
  ``BILLGATE_DB_MAX_CONNECTIONS`` (``db/budget.py``: ``BUS_CONNECTIONS``).

The listener is supervised: it is pinged every ``health_check_interval`` seconds, and when
it drops (server restart, network, ``pg_terminate_backend``) it is reconnected with
exponential back-off, logging each failure. Notifications sent while it was down are lost
(PostgreSQL queues them only for sessions that are listening), so after reconnecting every
local subscription ends with ``BusReconnected``: its consumer re-reads the database and
subscribes again.

Operational notes: NOTIFY payloads must be under 8000 bytes (enforced on publish, see
``MAX_MESSAGE_BYTES``); channels are per database; LISTEN needs a session of its own, so
the bus must connect to PostgreSQL directly (or through PgBouncer in *session* mode), not
through transaction pooling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from billgate.events.bus import (
    BusBase,
    PublishError,
    backoff_delays,
    encode_message,
    reconnected_error,
)
from billgate.events.fanout import Payload

logger = logging.getLogger("billgate.events")

DEFAULT_CHANNEL = "billgate_events"
_CHANNEL_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class PostgresEventBus(BusBase):
    def __init__(
        self,
        dsn: str,
        *,
        channel: str = DEFAULT_CHANNEL,
        pool_max_size: int = 1,
        health_check_interval: float = 30.0,
        reconnect_min_delay: float = 0.5,
        reconnect_max_delay: float = 30.0,
        connect_timeout: float = 10.0,
        publish_timeout: float = 10.0,
        close_timeout: float = 5.0,
    ) -> None:
        super().__init__()
        if not _CHANNEL_RE.fullmatch(channel):
            raise ValueError(
                f"invalid PostgreSQL event channel {channel!r}: letters, digits and _, "
                "not starting with a digit, at most 63 characters"
            )
        self._dsn = dsn
        self.channel = channel
        self._pool_max_size = pool_max_size
        self._health_check_interval = health_check_interval
        self._reconnect_min_delay = reconnect_min_delay
        self._reconnect_max_delay = reconnect_max_delay
        self._connect_timeout = connect_timeout
        self._publish_timeout = publish_timeout
        self._close_timeout = close_timeout
        # application_name of its connections (pg_stat_activity: operations, tests)
        self.listener_name = f"billgate-events-listen:{channel}"[:63]
        self.publisher_name = f"billgate-events-publish:{channel}"[:63]
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None
        self._listener_lost = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def _open(self) -> None:
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=1,
            max_size=self._pool_max_size,
            timeout=self._connect_timeout,
            server_settings={"application_name": self.publisher_name},
        )
        try:
            await self._connect_listener()
        except BaseException:
            await self._close_pool()
            raise
        self._supervisor = asyncio.create_task(
            self._supervise(), name=f"billgate-events-listener:{self.channel}"
        )

    async def _shutdown(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        await self._drop_listener()
        await self._close_pool()

    # -- publishing ----------------------------------------------------------------------

    async def publish(self, topic: str, payload: Payload) -> None:
        data = encode_message(topic, payload).decode()
        self._check_running()
        assert self._pool is not None
        try:
            await self._pool.execute(
                "SELECT pg_notify($1, $2)", self.channel, data, timeout=self._publish_timeout
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise PublishError(f"could not publish event for {topic!r}: {exc}") from exc

    # -- listener ------------------------------------------------------------------------

    def _on_notification(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._deliver_raw(payload, f"PostgreSQL channel {self.channel!r}")

    async def _connect_listener(self) -> None:
        lost = asyncio.Event()  # one per connection: a stale callback cannot set a new one
        async with asyncio.timeout(self._connect_timeout):
            conn = await asyncpg.connect(
                self._dsn,
                timeout=self._connect_timeout,
                server_settings={"application_name": self.listener_name},
            )
            try:
                conn.add_termination_listener(lambda _conn: lost.set())
                await conn.add_listener(self.channel, self._on_notification)
            except BaseException:
                conn.terminate()
                raise
        self._listener, self._listener_lost = conn, lost

    async def _drop_listener(self) -> None:
        conn, self._listener = self._listener, None
        if conn is None or conn.is_closed():
            return
        try:
            await asyncio.wait_for(conn.close(), self._close_timeout)
        except Exception:  # closing must not fail: drop it the hard way
            conn.terminate()

    async def _close_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), self._close_timeout)
        except Exception:  # closing must not fail: drop it the hard way
            pool.terminate()

    async def _supervise(self) -> None:
        """Watch the listener; when it is lost, reconnect with back-off (runs until close)."""
        while True:
            reason = await self._watch_listener()
            await self._drop_listener()
            logger.warning(
                "event bus: lost the PostgreSQL listener on %r (%s); reconnecting",
                self.channel, reason,
            )
            delays = backoff_delays(self._reconnect_min_delay, self._reconnect_max_delay)
            attempt = 0
            while True:
                attempt += 1
                await asyncio.sleep(next(delays))
                try:
                    await self._connect_listener()
                except Exception as exc:  # anything: keep trying until closed
                    logger.warning(
                        "event bus: PostgreSQL listener reconnect attempt %d failed: %s",
                        attempt, exc,
                    )
                    continue
                break
            ended = self._fanout.fail_all(reconnected_error)
            logger.warning(
                "event bus: PostgreSQL listener on %r reconnected after %d attempt(s); "
                "ended %d subscription(s) that may have missed events",
                self.channel, attempt, ended,
            )

    async def _watch_listener(self) -> str:
        """Return (with a reason) once the listener connection is gone or unhealthy."""
        conn = self._listener
        assert conn is not None
        while True:
            try:
                await asyncio.wait_for(self._listener_lost.wait(), self._health_check_interval)
            except TimeoutError:
                pass
            else:
                return "connection closed"
            try:
                await asyncio.wait_for(conn.fetchval("SELECT 1"), self._connect_timeout)
            except Exception as exc:
                return f"health check failed: {exc!r}"
