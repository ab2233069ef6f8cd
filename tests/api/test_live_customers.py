"""The per-customer feed behind ``customerChanged`` (``graphql/live_customers.py``), in
process on the memory bus: a burst of changes reaches watchers as one shared state, and a
watcher that fell behind skips to the newest."""

from __future__ import annotations

import asyncio
from typing import Any

from billgate.billing.publishing import publish_customer_changed
from billgate.events.fanout import LocalFanout, Subscription
from billgate.graphql.live_customers import CustomerFeeds
from billgate.types import CustomerRef, CustomerType

USER = CustomerRef(CustomerType.USER, "u1")


async def burst(runtime: Any, count: int) -> None:
    for _ in range(count):
        await publish_customer_changed(runtime.bus, USER.type.value, USER.customer_id)


async def test_a_burst_of_changes_is_one_shared_state(runtime: Any) -> None:
    feeds = CustomerFeeds()
    async with feeds.watch(runtime, USER) as first, feeds.watch(runtime, USER) as second:
        assert len(feeds) == 1, "one feed per customer, whoever watches"
        await burst(runtime, 10)
        a = await asyncio.wait_for(first.__anext__(), 5)
        b = await asyncio.wait_for(second.__anext__(), 5)
        assert a is b and a.shared_results == {}, "the same object: executed once for both"
        assert first.queued == 0 and second.queued == 0, "ten changes, one state"

        await burst(runtime, 1)  # a later change is a new state
        assert await asyncio.wait_for(first.__anext__(), 5) is not a
    assert len(feeds) == 0, "the feed stops with its last watcher"


async def test_a_watcher_behind_skips_to_the_newest_state() -> None:
    fanout = LocalFanout()
    async with Subscription(fanout, "customer:USER:u1", 16) as watcher:
        for n in range(3):
            fanout.deliver("customer:USER:u1", {"n": n})
        first = await watcher.__anext__()
        assert (first, watcher.newest(first), watcher.queued) == ({"n": 0}, {"n": 2}, 0)
        assert watcher.newest(first) is first, "nothing newer: the one in hand"


async def test_watchers_joining_together_share_their_first_state(runtime: Any) -> None:
    """Read after every one of them subscribed, executed once for all."""
    feeds = CustomerFeeds()
    async with feeds.watch(runtime, USER), feeds.watch(runtime, USER):
        first, second = await asyncio.gather(feeds.first_state(USER), feeds.first_state(USER))
        assert first is second and first.shared_results == {}
        assert await feeds.first_state(USER) is not first, "a later joiner gets a later read"
