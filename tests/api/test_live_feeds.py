"""The per-process live feed of a balance (``graphql/live_items.py``): one bus subscription
and one ``Item`` per change, however many subscribers; gaps filled from the ledger once; a
slow watcher dropped without holding up the others; the feed gone with its last watcher."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from billgate.billing import balances
from billgate.billing.publishing import item_topic
from billgate.events import SubscriberOverflow
from billgate.graphql import live_items
from billgate.graphql.live_items import ItemFeeds
from billgate.types import CustomerRef, CustomerType

pytestmark = pytest.mark.usefixtures("example_catalog")

ALICE = CustomerRef(CustomerType.USER, "alice")
TOPIC = item_topic("USER", "alice", "credits")
FREE = 100  # Alice exists with the Free plan's credits (version 1) before each test


@pytest.fixture(autouse=True)
async def alice_exists(runtime: Any, example_catalog: None) -> None:
    from billgate.billing.purchases import service

    await service.ensure_customer(runtime.db, ALICE, clock=runtime.clock)


async def change(runtime: Any, amount: int, *, announce: bool = True) -> None:
    await balances.increase(runtime.db, ALICE, "credits", amount=amount, clock=runtime.clock,
                            bus=runtime.bus if announce else None)


async def next_change(watcher: Any) -> Any:
    return await asyncio.wait_for(anext(watcher), 5)


async def test_every_watcher_gets_the_same_item_through_one_bus_subscription(runtime) -> None:
    feeds = ItemFeeds()
    async with feeds.watch(runtime, ALICE, "credits", "AI credits") as first, \
            feeds.watch(runtime, ALICE, "credits", "AI credits") as second:
        assert runtime.bus.subscriber_count(TOPIC) == 1
        await change(runtime, 7)
        a, b = await next_change(first), await next_change(second)
        assert a is b, "one object per change, shared"
        assert (a.quantity, a.version, a.shared_results) == (FREE + 7, 2, {})


async def test_a_lost_event_is_filled_from_the_ledger_once_for_every_watcher(runtime) -> None:
    feeds = ItemFeeds()
    async with feeds.watch(runtime, ALICE, "credits", "AI credits") as first, \
            feeds.watch(runtime, ALICE, "credits", "AI credits") as second:
        await change(runtime, 5, announce=False)  # committed, its event lost
        await change(runtime, 3)
        got_first = [await next_change(first) for _ in range(2)]
        got_second = [await next_change(second) for _ in range(2)]
        assert [(i.version, i.quantity) for i in got_first] == [(2, FREE + 5), (3, FREE + 8)]
        assert all(a is b for a, b in zip(got_first, got_second, strict=True))


async def test_a_watcher_that_falls_behind_is_dropped_and_the_others_go_on(runtime, monkeypatch) -> None:
    monkeypatch.setattr(live_items, "MAX_QUEUED", 2)
    feeds = ItemFeeds()
    async with feeds.watch(runtime, ALICE, "credits", "AI credits") as slow, \
            feeds.watch(runtime, ALICE, "credits", "AI credits") as fast:
        for amount in (1, 2, 3):
            await change(runtime, amount)
            assert (await next_change(fast)).quantity == FREE + sum(range(1, amount + 1))
        with pytest.raises(SubscriberOverflow):
            await next_change(slow)
        await change(runtime, 4)
        assert (await next_change(fast)).version == 5


async def test_the_feed_goes_with_its_last_watcher(runtime) -> None:
    feeds = ItemFeeds()
    async with feeds.watch(runtime, ALICE, "credits", "AI credits"):
        async with feeds.watch(runtime, ALICE, "credits", "AI credits"):
            pass
        assert len(feeds) == 1 and runtime.bus.subscriber_count(TOPIC) == 1
    await asyncio.sleep(0)  # the cancelled feed task unwinds
    await asyncio.sleep(0)
    assert len(feeds) == 0 and runtime.bus.subscriber_count(TOPIC) == 0


async def test_closing_the_bus_ends_watchers_normally(runtime) -> None:
    feeds = ItemFeeds()
    async with feeds.watch(runtime, ALICE, "credits", "AI credits") as watcher:
        await runtime.bus.close()
        with pytest.raises(StopAsyncIteration):
            await next_change(watcher)


async def test_a_feed_that_cannot_start_fails_its_watchers(runtime) -> None:
    await runtime.bus.close()
    feeds = ItemFeeds()
    with pytest.raises(RuntimeError, match="unavailable"):
        async with feeds.watch(runtime, ALICE, "credits", "AI credits"):
            pytest.fail("watching a closed bus must fail")
    assert len(feeds) == 0


WATCH = """subscription ($c: CustomerRef!) {
  itemQuantityChanged(customer: $c, itemId: "credits") { quantity version }
}"""


async def test_a_change_is_executed_once_per_query_and_caller_identity(runtime) -> None:
    """Subscribers asking the same thing as the same caller share one execution of a change;
    another caller (here the user's own token) gets its own, even for the same query."""
    from billgate.graphql.auth import SERVER, CallerKind, Principal
    from billgate.graphql.context import Context
    from billgate.graphql.schema import build_schema

    schema, feeds = build_schema(), ItemFeeds()
    alice = Principal(CallerKind.CLIENT, user_id="alice")
    variables = {"c": {"type": "USER", "customerId": "alice"}}
    streams = [await schema.subscribe(WATCH, variable_values=variables, context_value=Context(
        runtime=runtime, principal=principal, item_feeds=feeds)) for principal in (SERVER, SERVER, alice)]
    snapshots = [await asyncio.wait_for(anext(stream), 5) for stream in streams]
    assert all(s.data == {"itemQuantityChanged": {"quantity": FREE, "version": 1}} for s in snapshots)

    await change(runtime, 4)
    results = [await asyncio.wait_for(anext(stream), 5) for stream in streams]
    assert all(r.data == {"itemQuantityChanged": {"quantity": FREE + 4, "version": 2}} for r in results)
    assert results[0].data is results[1].data, "same query, same caller: one execution"
    assert results[2].data is not results[0].data, "another caller: its own execution"
    for stream in streams:
        await stream.aclose()
