"""Helpers for the event bus tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from billgate.events import Payload, Subscription, create_bus
from billgate.events.bus import BusBase

PG_URL = os.environ.get("BILLGATE_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("BILLGATE_TEST_REDIS_URL", "")

SKIP_PG = "BILLGATE_TEST_DATABASE_URL is not set: no PostgreSQL server for the postgres:// bus"
SKIP_REDIS = "BILLGATE_TEST_REDIS_URL is not set: no Redis server for the redis:// bus"

# Short timings so reconnect and health-check paths run in well under a second.
FAST = {"reconnect_min_delay": 0.05, "reconnect_max_delay": 0.5, "connect_timeout": 5.0}

MakeBus = Callable[..., Awaitable[BusBase]]


def backend_url(backend: str) -> str:
    if backend == "postgres":
        if not PG_URL:
            pytest.skip(SKIP_PG)
        return PG_URL
    if backend == "redis":
        if not REDIS_URL:
            pytest.skip(SKIP_REDIS)
        return REDIS_URL
    return "memory://"


def unique_channel(backend: str) -> str:
    token = uuid.uuid4().hex[:16]
    return f"billgate_test_{token}" if backend == "postgres" else f"billgate:test:{token}"


async def take(subscription: Subscription, n: int, within: float = 5.0) -> list[Payload]:
    """The next ``n`` payloads, failing after ``within`` seconds."""
    received: list[Payload] = []
    async with asyncio.timeout(within):
        while len(received) < n:
            received.append(await anext(subscription))
    return received


async def nothing_arrives(subscription: Subscription, wait: float = 0.3) -> None:
    """Assert nothing is delivered within ``wait`` seconds."""
    try:
        async with asyncio.timeout(wait):
            payload = await anext(subscription)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected event {payload!r}")


def bus_factory(backend: str, channel: str, buses: list[BusBase]) -> MakeBus:
    async def make(**options: Any) -> BusBase:
        url = backend_url(backend)
        if backend == "memory":
            bus = create_bus(url)
        else:
            bus = create_bus(url, channel=options.pop("channel", channel), **{**FAST, **options})
        assert isinstance(bus, BusBase)
        await bus.start()
        buses.append(bus)
        return bus

    return make


async def server_connections(bus: BusBase) -> dict[str, int]:
    """The bus's connections as the server sees them: {"listen": n, "publish": m}.

    Asked over a connection of its own, by the names the bus gives its connections.
    """
    from billgate.events.postgres import PostgresEventBus
    from billgate.events.redis import RedisEventBus

    names = {"listen": bus.listener_name, "publish": bus.publisher_name}  # type: ignore[attr-defined]
    if isinstance(bus, PostgresEventBus):
        import asyncpg

        conn = await asyncpg.connect(bus._dsn, timeout=5, command_timeout=5)
        try:
            rows = await conn.fetch(
                "SELECT application_name, count(*) AS n FROM pg_stat_activity"
                " WHERE application_name = ANY($1::text[]) GROUP BY 1",
                list(names.values()),
            )
        finally:
            await conn.close()
        found = {row["application_name"]: row["n"] for row in rows}
    else:
        import redis.asyncio as aioredis

        assert isinstance(bus, RedisEventBus)
        client = aioredis.Redis.from_url(bus._url, socket_timeout=5, socket_connect_timeout=5)
        try:
            clients = await client.client_list()
        finally:
            await client.aclose()
        found = {}
        for entry in clients:
            found[entry["name"]] = found.get(entry["name"], 0) + 1
    return {role: found.get(name, 0) for role, name in names.items()}


async def wait_for_server_connections(
    bus: BusBase, expected: dict[str, int], within: float = 5.0
) -> None:
    """Poll until the server reports ``expected`` (a closed backend exits asynchronously)."""
    seen: dict[str, int] = {}
    try:
        async with asyncio.timeout(within):
            while (seen := await server_connections(bus)) != expected:  # noqa: ASYNC110 - polling the server
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"server connections {seen}, expected {expected}") from None


async def kill_server_connections(bus: BusBase, role: str) -> int:
    """Cut the bus's ``role`` ("listen" or "publish") connections from the server side.

    Returns how many were cut, once the server no longer lists them.
    """
    from billgate.events.postgres import PostgresEventBus
    from billgate.events.redis import RedisEventBus

    name = bus.listener_name if role == "listen" else bus.publisher_name  # type: ignore[attr-defined]
    if isinstance(bus, PostgresEventBus):
        import asyncpg

        conn = await asyncpg.connect(bus._dsn, timeout=5, command_timeout=5)
        try:
            # Select first, terminate by pid after: never let the server pick the order.
            pids = await conn.fetchval(
                "SELECT coalesce(array_agg(pid), '{}') FROM pg_stat_activity"
                " WHERE application_name = $1",
                name,
            )
            for pid in pids:
                await conn.execute("SELECT pg_terminate_backend($1)", pid)
            gone = "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = ANY($1::int[])"
            async with asyncio.timeout(5):
                while not await conn.fetchval(gone, pids):  # noqa: ASYNC110 - polling
                    await asyncio.sleep(0.02)
        finally:
            await conn.close()
        return len(pids)
    import redis.asyncio as aioredis

    assert isinstance(bus, RedisEventBus)
    client = aioredis.Redis.from_url(bus._url, socket_timeout=5, socket_connect_timeout=5)
    try:
        killed = 0
        for entry in await client.client_list():
            if entry["name"] == name:
                killed += await client.client_kill_filter(_id=entry["id"])  # synchronous
    finally:
        await client.aclose()
    return killed
