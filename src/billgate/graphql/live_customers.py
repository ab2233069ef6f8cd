"""``customerChanged``: a customer's state now, then again after each committed change of
its products, subscriptions or invoices.

Events carry no state (``billing/publishing.py``): each one says "read again". One feed
per customer per process follows the bus for every subscriber of that customer, as the
balance feeds do (``live_items.py``):

* A burst of changes is coalesced: the first event opens a ``COALESCE_SECONDS`` window,
  events inside it are absorbed, and at its end the feed hands out one new ``Customer``
  object, read when executed, so it carries the latest state. Under a stream of changes
  a subscriber gets at most one state per window.
* That one object goes to every subscriber, so the transport executes it once per share
  key, (document, variables, caller rights), and encodes it once
  (``shared_results.py``): one change costs one execution however many identical
  subscriptions watch it, not one per subscription.
* A missed event (the feed's bus subscription overflowed, a bus reconnect) is repaired by
  handing out a fresh state; a subscriber that falls behind skips to the newest state.

* A subscriber's first state comes from the feed too: the subscribers that join within one
  window share one object, made at the window's end, after all of them subscribed (so it
  reads every change they could otherwise miss). A page opening 100 subscriptions, or 1,000
  clients reconnecting at once, cost a few executions, not one each (on PostgreSQL one each
  had exhausted the connection pool).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator

from billgate.billing.publishing import customer_topic
from billgate.errors import BillgateError
from billgate.events import SubscriberOverflow
from billgate.events.fanout import LocalFanout, Subscription
from billgate.graphql.context import Info
from billgate.graphql.errors import raise_query_error
from billgate.graphql.live_feeds import Feeds
from billgate.graphql.resolvers.customers import ensure_customer
from billgate.graphql.types.common import CustomerRef
from billgate.graphql.types.customer import Customer
from billgate.ops.metrics import SUBSCRIPTIONS
from billgate.runtime import Runtime
from billgate.types import CustomerRef as DomainRef

log = logging.getLogger(__name__)

# Events only say "read again": a short queue is plenty, and overflow costs one re-read.
MAX_QUEUED = 16
# Changes closer together than this reach subscribers as one state (the latest).
COALESCE_SECONDS = 0.05


class CustomerFeed:
    """The changes of one customer, as shared ``Customer`` objects, for this process."""

    def __init__(self, runtime: Runtime, ref: DomainRef) -> None:
        self.runtime, self.ref = runtime, ref
        self.topic = customer_topic(ref.type.value, ref.customer_id)
        self.watchers = LocalFanout()
        self.error: Exception | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._window: asyncio.TimerHandle | None = None
        self._joining: asyncio.Future[Customer] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"feed {self.topic}")

    def stop(self) -> None:
        self._close_window()
        if self._task is not None:
            self._task.cancel()

    async def ready(self) -> None:
        await self._ready.wait()

    async def _run(self) -> None:
        try:
            missed = False
            while await self._follow_bus(missed):
                missed = True
        except Exception as exc:  # not CancelledError: stop() ends the feed quietly
            log.exception("live feed %s failed", self.topic)
            self.error = exc
            self.watchers.fail_all(lambda: SubscriberOverflow("the live feed failed"))
        finally:
            self._close_window()
            self.watchers.close()
            self._ready.set()

    async def _follow_bus(self, missed: bool) -> bool:
        """Follow the topic until the bus closes (False) or drops us (True: again)."""
        async with self.runtime.bus.subscribe(self.topic, max_queued=MAX_QUEUED) as events:
            if missed:
                self._changed()  # events may have been lost: the state once more
            self._ready.set()
            try:
                async for _ in events:
                    self._changed()
            except SubscriberOverflow:
                return True
        return False

    def _changed(self) -> None:
        if self._window is None:
            self._window = asyncio.get_running_loop().call_later(COALESCE_SECONDS, self._hand_out)

    def _hand_out(self) -> None:
        self._window = None
        self.watchers.deliver(self.topic, Customer.of(self.ref, shared=True))

    def _close_window(self) -> None:
        if self._window is not None:
            self._window.cancel()
            self._window = None

    async def first_state(self) -> Customer:
        """The state for a watcher that has just joined (call after joining), shared with
        the others that join within the same window."""
        if self._joining is None:
            loop = asyncio.get_running_loop()
            self._joining = loop.create_future()
            loop.call_later(COALESCE_SECONDS, self._hand_first_states)
        # A watcher that leaves while waiting must not cancel the others' state.
        return await asyncio.shield(self._joining)

    def _hand_first_states(self) -> None:
        joining, self._joining = self._joining, None
        if joining is not None and not joining.done():
            joining.set_result(Customer.of(self.ref, shared=True))


class CustomerFeeds(Feeds[CustomerFeed]):
    """The customer feeds of this process; a feed lives while someone watches it."""

    def __init__(self) -> None:
        super().__init__(MAX_QUEUED)

    def watch(self, runtime: Runtime,
              ref: DomainRef) -> contextlib.AbstractAsyncContextManager[Subscription]:
        """Iterate the customer's changes as shared ``Customer`` objects from the moment
        this returns (take the first state from ``first_state`` after entering). Raises
        ``SubscriberOverflow`` when this watcher fell behind or the feed failed: read the
        state and watch again."""
        return self.watch_topic(customer_topic(ref.type.value, ref.customer_id),
                                lambda: CustomerFeed(runtime, ref))

    async def first_state(self, ref: DomainRef) -> Customer:
        """The first state for a watcher of ``ref`` inside ``watch``."""
        feed = self.feed(customer_topic(ref.type.value, ref.customer_id))
        return await feed.first_state() if feed is not None else Customer.of(ref)


async def customer_changes(info: Info, customer: CustomerRef) -> AsyncGenerator[Customer, None]:
    runtime = info.context.runtime
    try:
        ref = customer.to_domain()
        info.context.principal.require_read(ref)  # the read rules of ``customer(...)``
    except BillgateError as exc:
        raise_query_error(exc)
    await ensure_customer(info, ref)
    feeds: CustomerFeeds = info.context.customer_feeds
    SUBSCRIPTIONS.inc()
    try:
        while True:
            # Watch first, then read: a change committed in between is still announced.
            async with feeds.watch(runtime, ref) as changes:
                yield _fresh(info, await feeds.first_state(ref))
                try:
                    async for state in changes:
                        yield _fresh(info, changes.newest(state))
                    return  # the bus closed (shutdown): end the subscription cleanly
                except SubscriberOverflow:
                    continue  # missed states: watch again and send the state once more
    finally:
        SUBSCRIPTIONS.dec()


def _fresh(info: Info, state: Customer) -> Customer:
    # The WebSocket context outlives events: drop cached loaders so each state is read anew.
    info.context.loaders.clear()
    return state
