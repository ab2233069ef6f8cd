"""Live balances: one feed per balance per process, however many subscribers watch it.

A feed holds this process's only bus subscription to one balance's topic. It turns each
committed change into one ``Item``, fills a gap (a lost, reordered or overflowed event, a
bus reconnect) from the ledger once rather than once per subscriber, and hands the same
``Item`` object to every watcher. Sharing the object is what lets the transport execute and
encode a change once for every subscriber that asked for the same fields
(``graphql/shared_results.py``).

The feed's Items carry consecutive versions from the version it started at. A watcher joins
before it reads its own snapshot, so every change committed after that snapshot reaches it;
it skips versions it already has. A watcher that falls ``MAX_QUEUED`` Items behind is
dropped with ``SubscriberOverflow`` (the rules of ``events/fanout.py``) and recovers from
the ledger. The feed stops when its last watcher leaves, and ends its watchers normally
when the bus closes (shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from billgate.billing import items
from billgate.billing.publishing import item_topic
from billgate.events import SubscriberOverflow
from billgate.events.fanout import LocalFanout, Subscription
from billgate.graphql.live_feeds import Feeds
from billgate.graphql.types.items import Item
from billgate.runtime import Runtime
from billgate.types import CustomerRef

log = logging.getLogger(__name__)

MAX_QUEUED = 256


class ItemFeed:
    """The changes of one balance, as shared ``Item`` objects, for this process."""

    def __init__(self, runtime: Runtime, ref: CustomerRef, item_id: str, name: str) -> None:
        self.runtime, self.ref, self.item_id, self.name = runtime, ref, item_id, name
        self.topic = item_topic(ref.type.value, ref.customer_id, item_id)
        self.watchers = LocalFanout()
        self.last: int | None = None  # the newest version handed to watchers
        self.error: Exception | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"feed {self.topic}")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def ready(self) -> None:
        """Return once the feed's bus subscription is active (or the feed has ended)."""
        await self._ready.wait()

    def item(self, quantity: int, version: int, reserved: int = 0) -> Item:
        return Item.of(self.ref, self.item_id, self.name, quantity, version, shared=True,
                       reserved=reserved)

    async def _run(self) -> None:
        try:
            while await self._follow_bus():
                pass
        except Exception as exc:  # not CancelledError: stop() ends the feed quietly
            # Watchers recover from the ledger through a new feed; one that fails before it
            # is ready fails its watchers (``ItemFeeds.watch`` raises), so nothing loops.
            log.exception("live feed %s failed", self.topic)
            self.error = exc
            self.watchers.fail_all(lambda: SubscriberOverflow("the live feed failed"))
        finally:
            self.watchers.close()
            self._ready.set()

    async def _follow_bus(self) -> bool:
        """Follow the topic until the bus closes (False) or drops us (True: subscribe again)."""
        async with self.runtime.bus.subscribe(self.topic) as events:
            # Subscribed first, then read: no change falls between the two.
            if self.last is None:
                self.last = (await self._balance()).version
            else:
                await self._catch_up()
            self._ready.set()
            try:
                async for payload in events:
                    await self._on_event(int(payload["version"]), int(payload["quantity"]),
                                         int(payload.get("reserved", 0)))
            except SubscriberOverflow:
                return True
        return False

    async def _balance(self) -> items.BalanceSnapshot:
        rt = self.runtime
        return await items.get_balance(rt.db, self.ref, self.item_id, clock=rt.clock,
                                       bus=rt.bus)

    async def _on_event(self, version: int, quantity: int, reserved: int) -> None:
        assert self.last is not None
        if version <= self.last:
            return  # already handed out (a duplicate, or filled from the ledger)
        if version == self.last + 1:
            self._hand_out(self.item(quantity, version, reserved))
        else:
            await self._catch_up()

    async def _catch_up(self) -> None:
        assert self.last is not None
        rows = await items.changes_since(self.runtime.db, self.ref, self.item_id,
                                         after_version=self.last)
        for row in rows:
            self._hand_out(self.item(row.quantity_after, row.version, row.reserved_after))

    def _hand_out(self, item: Item) -> None:
        self.last = item.version
        self.watchers.deliver(self.topic, item)


class ItemFeeds(Feeds[ItemFeed]):
    """The balance feeds of this process; a feed lives while someone watches it."""

    def __init__(self) -> None:
        super().__init__(MAX_QUEUED)

    def watch(self, runtime: Runtime, ref: CustomerRef, item_id: str,
              name: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        """Iterate the balance's changes as shared ``Item`` objects, from the moment this
        returns (read the snapshot after entering). Raises ``SubscriberOverflow`` when this
        watcher fell behind or the feed failed: re-read the ledger and watch again."""
        return self.watch_topic(item_topic(ref.type.value, ref.customer_id, item_id),
                                lambda: ItemFeed(runtime, ref, item_id, name))
