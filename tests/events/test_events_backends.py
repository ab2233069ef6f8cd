"""The EventBus contract, run against every backend (memory, PostgreSQL, Redis)."""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings

import pytest
from bus_testing import (
    MakeBus,
    backend_url,
    nothing_arrives,
    server_connections,
    take,
    unique_channel,
    wait_for_server_connections,
)

from billgate.events import MAX_MESSAGE_BYTES, SubscriberOverflow, create_bus
from billgate.events.bus import BusBase, encode_message

TOPIC = "item:USER:user-123:credits"


async def test_roundtrip(make_bus: MakeBus) -> None:
    bus = await make_bus()
    async with bus.subscribe(TOPIC) as sub:
        await bus.publish(TOPIC, {"quantity": 42, "version": 1, "note": "café"})
        assert await take(sub, 1) == [{"quantity": 42, "version": 1, "note": "café"}]


async def test_only_the_topic_subscribed_to(make_bus: MakeBus) -> None:
    bus = await make_bus()
    async with bus.subscribe(TOPIC) as sub:
        await bus.publish("item:USER:user-999:credits", {"quantity": 1})
        await bus.publish(TOPIC, {"quantity": 2})
        assert await take(sub, 1) == [{"quantity": 2}]
        await nothing_arrives(sub, 0.1)


async def test_order_preserved_for_one_publisher(make_bus: MakeBus) -> None:
    bus = await make_bus()
    async with bus.subscribe(TOPIC, max_queued=1000) as sub:
        for version in range(300):
            await bus.publish(TOPIC, {"version": version})
        assert [p["version"] for p in await take(sub, 300)] == list(range(300))


async def test_several_subscribers_all_receive(make_bus: MakeBus) -> None:
    bus = await make_bus()
    async with bus.subscribe(TOPIC) as a, bus.subscribe(TOPIC) as b, bus.subscribe(TOPIC) as c:
        assert bus.subscriber_count(TOPIC) == 3
        for version in range(5):
            await bus.publish(TOPIC, {"version": version})
        expected = [{"version": v} for v in range(5)]
        assert await take(a, 5) == expected
        assert await take(b, 5) == expected
        assert await take(c, 5) == expected


async def test_leaving_stops_delivery_and_frees_the_queue(make_bus: MakeBus) -> None:
    bus = await make_bus()
    async with bus.subscribe(TOPIC) as stays:
        async with bus.subscribe(TOPIC) as leaves:
            await bus.publish(TOPIC, {"version": 1})
            await bus.publish(TOPIC, {"version": 2})
            await take(stays, 2)  # delivered to both by now
            assert leaves.queued == 2
        assert leaves.queued == 0
        assert bus.subscriber_count(TOPIC) == 1
        await bus.publish(TOPIC, {"version": 3})
        assert await take(stays, 1) == [{"version": 3}]
        assert leaves.queued == 0
        with pytest.raises(StopAsyncIteration):
            await anext(leaves)
    assert bus.subscriber_count() == 0
    assert bus._fanout._topics == {}


async def test_slow_subscriber_overflows_without_affecting_others(make_bus: MakeBus) -> None:
    bus = await make_bus()
    async with bus.subscribe(TOPIC, max_queued=3) as slow, bus.subscribe(TOPIC) as fast:
        for version in range(20):
            await bus.publish(TOPIC, {"version": version})
        assert [p["version"] for p in await take(fast, 20)] == list(range(20))
        assert slow.overflowed
        assert slow.queued == 0  # dropped, not kept
        with pytest.raises(SubscriberOverflow):
            await anext(slow)
        assert bus.subscriber_count(TOPIC) == 1
        # The recovery: subscribe again (then re-read the database).
        async with bus.subscribe(TOPIC, max_queued=3) as again:
            await bus.publish(TOPIC, {"version": 20})
            assert await take(again, 1) == [{"version": 20}]
            assert await take(fast, 1) == [{"version": 20}]


async def test_payload_rules_are_the_same_everywhere(make_bus: MakeBus) -> None:
    bus = await make_bus()
    async with bus.subscribe(TOPIC) as sub:
        with pytest.raises(ValueError, match="limit"):
            await bus.publish(TOPIC, {"blob": "x" * MAX_MESSAGE_BYTES})
        with pytest.raises(TypeError):
            await bus.publish(TOPIC, {"x": object()})
        with pytest.raises(TypeError):
            await bus.publish(TOPIC, ["not a dict"])  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            await bus.publish("", {})
        with pytest.raises(ValueError):
            bus.subscribe("")
        # The largest message allowed really goes through (PostgreSQL's NOTIFY limit).
        overhead = len(encode_message(TOPIC, {"blob": ""}))
        biggest = {"blob": "x" * (MAX_MESSAGE_BYTES - overhead)}
        await bus.publish(TOPIC, biggest)
        assert await take(sub, 1) == [biggest]


async def test_subscribers_get_a_decoded_copy(make_bus: MakeBus) -> None:
    bus = await make_bus()
    payload = {"quantity": 1, "tags": ["a"]}
    async with bus.subscribe(TOPIC) as sub:
        await bus.publish(TOPIC, payload)
        payload["tags"].append("changed after publish")
        [received] = await take(sub, 1)
    assert received == {"quantity": 1, "tags": ["a"]}


async def test_close_is_clean(backend: str) -> None:
    """close() ends live subscriptions normally and leaves no task, connection or warning."""
    tasks_before = asyncio.all_tasks()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await _use_and_close_a_bus(backend)
        await asyncio.sleep(0.05)  # let transports finish closing
        gc.collect()
    assert asyncio.all_tasks() - tasks_before == set()
    assert [str(w.message) for w in caught] == []


async def _use_and_close_a_bus(backend: str) -> None:
    url = backend_url(backend)
    bus = create_bus(url, channel=None if backend == "memory" else unique_channel(backend))
    assert isinstance(bus, BusBase)
    await bus.start()
    subscribed, got_one = asyncio.Event(), asyncio.Event()
    received: list[dict[str, object]] = []

    async def consume() -> str:
        async with bus.subscribe(TOPIC) as sub:
            subscribed.set()
            async for payload in sub:
                received.append(payload)
                got_one.set()
        return "ended"

    consumer = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        await subscribed.wait()
        await bus.publish(TOPIC, {"version": 1})
        await got_one.wait()
    if backend != "memory":
        connections = await server_connections(bus)
        assert connections["listen"] == 1 and connections["publish"] >= 1
    await bus.close()
    if backend != "memory":  # closed on the server too, not just dropped by the client
        await wait_for_server_connections(bus, {"listen": 0, "publish": 0})
    assert await asyncio.wait_for(consumer, 5) == "ended"  # iteration ended normally
    assert received == [{"version": 1}]
    await bus.close()  # idempotent
    assert not bus.running
    with pytest.raises(RuntimeError, match="closed"):
        await bus.publish(TOPIC, {})
    with pytest.raises(RuntimeError, match="closed"):
        bus.subscribe(TOPIC)
    with pytest.raises(RuntimeError, match="closed"):
        await bus.start()


async def test_lifecycle_errors(backend: str) -> None:
    url = backend_url(backend)
    channel = None if backend == "memory" else unique_channel(backend)
    bus = create_bus(url, channel=channel)
    with pytest.raises(RuntimeError, match="not started"):
        await bus.publish(TOPIC, {})
    with pytest.raises(RuntimeError, match="not started"):
        bus.subscribe(TOPIC)
    async with bus:
        with pytest.raises(RuntimeError, match="already started"):
            await bus.start()
        async with bus.subscribe(TOPIC) as sub:
            await bus.publish(TOPIC, {"ok": True})
            assert await take(sub, 1) == [{"ok": True}]
    await bus.close()  # closing before start or twice is fine
    await create_bus(url, channel=channel).close()


async def test_server_backends_ignore_malformed_messages(
    server_backend: str, make_server_bus: MakeBus, caplog: pytest.LogCaptureFixture
) -> None:
    """Someone else writing garbage on our channel must not break the listener."""
    bus = await make_server_bus()
    async with bus.subscribe(TOPIC) as sub:
        with caplog.at_level(logging.WARNING, logger="billgate.events"):
            await _send_raw(bus, b"not json")
            await _send_raw(bus, b'{"t": "x"}')
            await bus.publish(TOPIC, {"version": 1})
            assert await take(sub, 1) == [{"version": 1}]
    assert sum("malformed" in r.getMessage() for r in caplog.records) == 2


async def _send_raw(bus: BusBase, data: bytes) -> None:
    from billgate.events.postgres import PostgresEventBus
    from billgate.events.redis import RedisEventBus

    if isinstance(bus, PostgresEventBus):
        assert bus._pool is not None
        await bus._pool.execute("SELECT pg_notify($1, $2)", bus.channel, data.decode())
    else:
        assert isinstance(bus, RedisEventBus) and bus._publisher is not None
        await bus._publisher.publish(bus.channel, data)
