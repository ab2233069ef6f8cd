"""PostgreSQL and Redis: events cross bus instances and processes; connections recover."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys

import pytest
from bus_testing import (
    MakeBus,
    backend_url,
    kill_server_connections,
    nothing_arrives,
    server_connections,
    take,
    unique_channel,
)
from redis.exceptions import ConnectionError as RedisConnectionError

from billgate.events import BusReconnected, SubscriberOverflow, create_bus
from billgate.events.postgres import PostgresEventBus
from billgate.events.redis import RedisEventBus

TOPIC = "item:TEAM:team-7:seats"

PUBLISHER_SCRIPT = """
import asyncio, os, sys
from billgate.events import create_bus

async def main(url, channel, topic, count):
    bus = create_bus(url, channel=channel)
    await bus.start()
    try:
        for version in range(int(count)):
            await bus.publish(topic, {"version": version, "pid": os.getpid()})
    finally:
        await bus.close()

asyncio.run(main(*sys.argv[1:]))
"""


async def test_another_instance_receives_the_publish(make_server_bus: MakeBus) -> None:
    a = await make_server_bus()
    b = await make_server_bus()
    async with a.subscribe(TOPIC) as on_a, b.subscribe(TOPIC) as on_b:
        await b.publish(TOPIC, {"version": 1, "from": "b"})
        await a.publish(TOPIC, {"version": 2, "from": "a"})
        expected = [{"version": 1, "from": "b"}, {"version": 2, "from": "a"}]
        assert await take(on_a, 2) == expected
        assert await take(on_b, 2) == expected  # its own events come through the server too


async def test_other_channels_are_isolated(make_server_bus: MakeBus, server_backend: str) -> None:
    ours = await make_server_bus()
    other_channel = "billgate_test_other" if server_backend == "postgres" else "billgate:test:o"
    theirs = await make_server_bus(channel=f"{other_channel}_{os.getpid()}")
    async with ours.subscribe(TOPIC) as sub:
        await theirs.publish(TOPIC, {"version": 99})
        await nothing_arrives(sub, 0.2)


async def test_concurrent_starts_are_refused(server_backend: str) -> None:
    bus = create_bus(backend_url(server_backend), channel=unique_channel(server_backend))
    results = await asyncio.gather(bus.start(), bus.start(), return_exceptions=True)
    try:
        assert sorted(type(r).__name__ for r in results) == ["NoneType", "RuntimeError"]
        assert bus.running
    finally:
        await bus.close()


async def test_memory_buses_are_separate() -> None:
    async with create_bus() as a, create_bus() as b, a.subscribe(TOPIC) as sub:
        await b.publish(TOPIC, {"version": 1})
        await nothing_arrives(sub, 0.05)


async def test_a_separate_process_publishes(
    make_server_bus: MakeBus, server_backend: str
) -> None:
    bus = await make_server_bus()
    assert isinstance(bus, PostgresEventBus | RedisEventBus)
    async with bus.subscribe(TOPIC) as sub:
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", PUBLISHER_SCRIPT,
             backend_url(server_backend), bus.channel, TOPIC, "25"],
            capture_output=True, text=True, timeout=60,
        )
        assert result.returncode == 0, result.stderr
        received = await take(sub, 25)
    assert [p["version"] for p in received] == list(range(25))
    assert {p["pid"] for p in received} != {os.getpid()}
    assert len({p["pid"] for p in received}) == 1


async def test_listener_reconnects_and_subscribers_learn_of_the_gap(
    make_server_bus: MakeBus, caplog: pytest.LogCaptureFixture
) -> None:
    bus = await make_server_bus(health_check_interval=0.2)
    async with bus.subscribe(TOPIC) as sub:
        await bus.publish(TOPIC, {"version": 1})
        assert await take(sub, 1) == [{"version": 1}]
        with caplog.at_level(logging.WARNING, logger="billgate.events"):
            assert await kill_server_connections(bus, "listen") == 1
            with pytest.raises(BusReconnected):
                await take(sub, 1, within=10)
        assert isinstance(BusReconnected(), SubscriberOverflow)
        # The dead connection is gone and exactly one listener replaced it.
        assert (await server_connections(bus))["listen"] == 1
    messages = [r.getMessage() for r in caplog.records]
    assert any("lost the" in m and "reconnecting" in m for m in messages), messages
    assert any("reconnected after" in m for m in messages), messages
    # The consumer's recovery: subscribe again; events flow as before.
    async with bus.subscribe(TOPIC) as again:
        await bus.publish(TOPIC, {"version": 2})
        assert await take(again, 1) == [{"version": 2}]


async def test_health_check_catches_a_silently_dead_listener(
    make_server_bus: MakeBus, caplog: pytest.LogCaptureFixture
) -> None:
    """A connection that dies without the client being told is found by the health check."""
    bus = await make_server_bus(health_check_interval=0.1)
    async with bus.subscribe(TOPIC) as sub:
        with caplog.at_level(logging.WARNING, logger="billgate.events"):
            if isinstance(bus, PostgresEventBus):
                assert bus._listener is not None
                bus._listener._termination_listeners.clear()  # the driver won't tell us
                assert await kill_server_connections(bus, "listen") == 1
                expected = "health check failed"
            else:
                assert isinstance(bus, RedisEventBus) and bus._subscriber is not None

                async def ping_lost_in_the_network() -> None:
                    return None

                bus._subscriber[1].ping = ping_lost_in_the_network  # type: ignore[method-assign]
                expected = "no answer to PING"
            with pytest.raises(BusReconnected):
                await take(sub, 1, within=10)
    assert any(expected in r.getMessage() for r in caplog.records), caplog.text
    async with bus.subscribe(TOPIC) as again:
        await bus.publish(TOPIC, {"version": 1})
        assert await take(again, 1) == [{"version": 1}]


async def test_publish_survives_dropped_publisher_connections(make_server_bus: MakeBus) -> None:
    bus = await make_server_bus()
    async with bus.subscribe(TOPIC) as sub:
        await bus.publish(TOPIC, {"version": 1})
        await take(sub, 1)
        assert await kill_server_connections(bus, "publish") >= 1
        await bus.publish(TOPIC, {"version": 2})
        assert await take(sub, 1) == [{"version": 2}]


async def test_idle_listener_passes_health_checks(
    make_server_bus: MakeBus, caplog: pytest.LogCaptureFixture
) -> None:
    bus = await make_server_bus(health_check_interval=0.1)
    async with bus.subscribe(TOPIC) as sub:
        with caplog.at_level(logging.WARNING, logger="billgate.events"):
            await asyncio.sleep(0.6)  # several idle health-check rounds
        assert not [r for r in caplog.records if r.name == "billgate.events"]
        await bus.publish(TOPIC, {"version": 1})
        assert await take(sub, 1) == [{"version": 1}]


@pytest.mark.parametrize(
    "url",
    ["postgresql+asyncpg://postgres@127.0.0.1:1/test", "redis://127.0.0.1:1/0"],
    ids=["postgres", "redis"],
)
async def test_start_fails_fast_when_the_server_is_unreachable(url: str) -> None:
    bus = create_bus(url, connect_timeout=2.0)
    async with asyncio.timeout(10):
        with pytest.raises((OSError, RedisConnectionError)):  # the driver's own error
            await bus.start()
        assert not bus.running
        with pytest.raises((OSError, RedisConnectionError)):  # may be retried
            await bus.start()
    await bus.close()
