"""Unit tests: local fan-out, message codec, URL -> backend."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from billgate.events import (
    MAX_MESSAGE_BYTES,
    BusReconnected,
    MemoryEventBus,
    SubscriberOverflow,
    Subscription,
    create_bus,
)
from billgate.events.bus import backoff_delays, decode_message, encode_message
from billgate.events.fanout import LocalFanout
from billgate.events.postgres import PostgresEventBus
from billgate.events.redis import RedisEventBus

# -- create_bus ------------------------------------------------------------------------


def test_create_bus_default_is_memory() -> None:
    assert isinstance(create_bus(), MemoryEventBus)
    assert isinstance(create_bus("memory://"), MemoryEventBus)


@pytest.mark.parametrize(
    ("url", "dsn"),
    [
        ("postgres://u:p@db:5432/billing", "postgres://u:p@db:5432/billing"),
        ("postgresql://u@db/billing?sslmode=require", "postgresql://u@db/billing?sslmode=require"),
        ("postgresql+asyncpg://u:p@db:5432/billing", "postgresql://u:p@db:5432/billing"),
        ("POSTGRESQL+ASYNCPG://u@db/billing", "postgresql://u@db/billing"),
    ],
)
def test_create_bus_postgres_urls(url: str, dsn: str) -> None:
    bus = create_bus(url)
    assert isinstance(bus, PostgresEventBus)
    assert bus._dsn == dsn
    assert bus.channel == "billgate_events"
    assert create_bus(url, channel="other_channel").channel == "other_channel"  # type: ignore[attr-defined]


@pytest.mark.parametrize("url", ["redis://localhost:6379/0", "rediss://:secret@cache:6380/1"])
def test_create_bus_redis_urls(url: str) -> None:
    bus = create_bus(url)
    assert isinstance(bus, RedisEventBus)
    assert bus._url == url
    assert bus.channel == "billgate:events"
    assert create_bus(url, channel="app:events").channel == "app:events"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "url",
    ["mysql://root:hunter2@db/x", "postgresql+psycopg://u:hunter2@db/x", "nats://q", "", "memory"],
)
def test_create_bus_unknown_scheme(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported event bus URL") as info:
        create_bus(url)
    message = str(info.value)
    assert "memory://" in message and "redis://" in message
    assert "hunter2" not in message  # never echo credentials


def test_create_bus_rejects_bad_channels() -> None:
    with pytest.raises(ValueError, match="invalid PostgreSQL event channel"):
        create_bus("postgresql://db/x", channel="has-dash")
    with pytest.raises(ValueError, match="invalid PostgreSQL event channel"):
        create_bus("postgresql://db/x", channel="x" * 64)
    with pytest.raises(ValueError, match="invalid Redis event channel"):
        create_bus("redis://cache", channel="two words")


def test_create_bus_passes_options() -> None:
    bus = create_bus("postgresql://db/x", health_check_interval=3.0, pool_max_size=2)
    assert isinstance(bus, PostgresEventBus)
    assert bus._health_check_interval == 3.0 and bus._pool_max_size == 2
    with pytest.raises(TypeError):
        create_bus("redis://cache", no_such_option=1)


# -- codec -----------------------------------------------------------------------------


def test_codec_roundtrip() -> None:
    payload = {"quantity": -3, "version": 7, "ok": True, "note": "café ✓", "ids": [1, None]}
    data = encode_message("item:USER:user-123:credits", payload)
    assert orjson.loads(data) == {"t": "item:USER:user-123:credits", "p": payload}
    assert decode_message(data) == ("item:USER:user-123:credits", payload)
    assert decode_message(data.decode()) == ("item:USER:user-123:credits", payload)


def test_codec_size_limit_is_exact() -> None:
    overhead = len(encode_message("t", {"s": ""}))
    assert len(encode_message("t", {"s": "x" * (MAX_MESSAGE_BYTES - overhead)})) == 7999
    with pytest.raises(ValueError, match="7999"):
        encode_message("t", {"s": "x" * (MAX_MESSAGE_BYTES - overhead + 1)})
    # The limit counts bytes, not characters.
    with pytest.raises(ValueError):
        encode_message("t", {"s": "é" * 4000})


@pytest.mark.parametrize(
    ("topic", "payload", "error"),
    [
        ("t", ["not", "a", "dict"], TypeError),
        ("t", {"x": object()}, TypeError),
        ("t", {1: "non-str key"}, TypeError),
        ("", {}, ValueError),
        (None, {}, TypeError),
    ],
)
def test_codec_rejects(topic: object, payload: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        encode_message(topic, payload)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [b"garbage", b"[1,2]", b'{"t": "x"}', b'{"t": "", "p": {}}', b'{"t": 1, "p": {}}',
     b'{"t": "x", "p": [1]}'],
)
def test_decode_rejects_malformed(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_message(data)


def test_backoff_grows_and_caps() -> None:
    delays = backoff_delays(0.5, 30.0)
    values = [next(delays) for _ in range(12)]
    assert 0.25 <= values[0] <= 0.5
    assert 0.5 <= values[1] <= 1.0
    assert all(v <= 30.0 for v in values) and values[-1] >= 15.0


# -- fan-out and subscriptions ---------------------------------------------------------


async def test_fanout_delivers_in_order_to_every_subscriber() -> None:
    fanout = LocalFanout()
    async with (
        Subscription(fanout, "a") as one,
        Subscription(fanout, "a") as two,
        Subscription(fanout, "b") as other,
    ):
        for i in range(5):
            assert fanout.deliver("a", {"i": i}) == 2
        assert fanout.deliver("nobody", {"i": 0}) == 0
        assert one.queued == two.queued == 5 and other.queued == 0
        assert [(await anext(one))["i"] for _ in range(5)] == list(range(5))
        assert [(await anext(two))["i"] for _ in range(5)] == list(range(5))
    assert fanout.subscriber_count() == 0
    assert fanout._topics == {}


async def test_overflow_drops_queue_detaches_and_raises() -> None:
    fanout = LocalFanout()
    async with Subscription(fanout, "a", max_queued=3) as slow, Subscription(fanout, "a") as fast:
        for i in range(3):
            fanout.deliver("a", {"i": i})
        assert slow.queued == 3 and not slow.overflowed
        fanout.deliver("a", {"i": 3})  # one too many
        assert slow.overflowed and slow.queued == 0
        assert fanout.subscriber_count("a") == 1  # only `fast` is left
        fanout.deliver("a", {"i": 4})
        assert slow.queued == 0
        with pytest.raises(SubscriberOverflow, match="more than 3 messages"):
            await anext(slow)
        with pytest.raises(SubscriberOverflow):  # and on every read after that
            await anext(slow)
        assert [(await anext(fast))["i"] for _ in range(5)] == [0, 1, 2, 3, 4]


async def test_overflow_wakes_a_waiting_consumer() -> None:
    fanout = LocalFanout()
    async with Subscription(fanout, "a", max_queued=1) as sub:
        reader = asyncio.create_task(_read_all(sub))
        await asyncio.sleep(0)
        # Two deliveries in one loop step: the consumer never gets a chance to read.
        fanout.deliver("a", {"i": 0})
        fanout.deliver("a", {"i": 1})
        with pytest.raises(SubscriberOverflow):
            await asyncio.wait_for(reader, 1)


async def test_consumer_reading_fast_enough_never_overflows() -> None:
    fanout = LocalFanout()
    async with Subscription(fanout, "a", max_queued=1) as sub:
        for i in range(100):
            fanout.deliver("a", {"i": i})
            assert (await anext(sub)) == {"i": i}
        assert not sub.overflowed


async def test_fail_all_ends_every_subscription_with_its_own_error() -> None:
    fanout = LocalFanout()
    async with Subscription(fanout, "a") as one, Subscription(fanout, "b") as two:
        fanout.deliver("a", {"i": 0})
        assert fanout.fail_all(lambda: BusReconnected("reconnected")) == 2
        errors = []
        for sub in (one, two):
            with pytest.raises(SubscriberOverflow) as info:  # BusReconnected is one
                await anext(sub)
            assert isinstance(info.value, BusReconnected)
            errors.append(info.value)
        assert errors[0] is not errors[1]
        assert fanout.subscriber_count() == 0


async def test_close_delivers_queued_then_stops_and_refuses_new() -> None:
    fanout = LocalFanout()
    async with Subscription(fanout, "a") as queued, Subscription(fanout, "a") as waiting:
        fanout.deliver("a", {"i": 0})
        assert await anext(waiting) == {"i": 0}
        reader = asyncio.create_task(_read_all(waiting))
        await asyncio.sleep(0)
        fanout.deliver("a", {"i": 1})
        fanout.close()
        assert await asyncio.wait_for(reader, 1) == [{"i": 1}]
        assert await _read_all(queued) == [{"i": 0}, {"i": 1}]
    with pytest.raises(RuntimeError, match="closed"):
        async with Subscription(fanout, "a"):
            pass


async def test_leaving_wakes_a_waiting_consumer_and_frees_the_queue() -> None:
    fanout = LocalFanout()
    sub = Subscription(fanout, "a")
    await sub.__aenter__()
    reader = asyncio.create_task(_read_all(sub))
    await asyncio.sleep(0)
    await sub.__aexit__(None, None, None)
    assert await asyncio.wait_for(reader, 1) == []
    assert fanout.subscriber_count() == 0


async def test_subscription_misuse() -> None:
    fanout = LocalFanout()
    sub = Subscription(fanout, "a")
    with pytest.raises(RuntimeError, match="async with"):
        await anext(sub)
    async with sub:
        pass
    with pytest.raises(RuntimeError, match="only once"):
        async with sub:
            pass
    with pytest.raises(StopAsyncIteration):
        await anext(sub)
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="max_queued"):
            Subscription(fanout, "a", max_queued=bad)  # type: ignore[arg-type]


async def _read_all(sub: Subscription) -> list[dict[str, object]]:
    return [payload async for payload in sub]
