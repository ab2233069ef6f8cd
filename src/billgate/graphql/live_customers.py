"""``customerChanged``: a customer's state now, then again after each committed change of
its products, subscriptions or invoices.

Events carry no state (``billing/publishing.py``): each one makes the subscriber read the
customer afresh, so a missed event (a slow subscriber dropped by the bus, a bus reconnect)
is repaired by reading the state once more, not by replaying anything.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from billgate.billing.errors import BillgateError
from billgate.billing.publishing import customer_topic
from billgate.events import SubscriberOverflow
from billgate.graphql.context import Info
from billgate.graphql.errors import raise_query_error
from billgate.graphql.resolvers.customers import ensure_customer
from billgate.graphql.types.common import CustomerRef
from billgate.graphql.types.customer import Customer
from billgate.ops.metrics import SUBSCRIPTIONS

# Events only say "read again": a short queue is plenty, and overflow costs one re-read.
MAX_QUEUED = 16


async def customer_changes(info: Info, customer: CustomerRef) -> AsyncGenerator[Customer, None]:
    runtime = info.context.runtime
    try:
        ref = customer.to_domain()
        info.context.principal.require_read(ref)  # the read rules of ``customer(...)``
    except BillgateError as exc:
        raise_query_error(exc)
    await ensure_customer(info, ref)
    topic = customer_topic(ref.type.value, ref.customer_id)
    SUBSCRIPTIONS.inc()
    try:
        while True:
            # Subscribe first, then read: a change committed in between is still announced.
            async with runtime.bus.subscribe(topic, max_queued=MAX_QUEUED) as events:
                yield _fresh(info, ref)
                try:
                    async for _ in events:
                        yield _fresh(info, ref)
                    return  # the bus closed (shutdown): end the subscription cleanly
                except SubscriberOverflow:
                    continue  # missed events: subscribe again and send the state once more
    finally:
        SUBSCRIPTIONS.dec()


def _fresh(info: Info, ref: object) -> Customer:
    # The WebSocket context outlives events: drop cached loaders so each state is read anew.
    info.context.loaders.clear()
    return Customer.of(ref)  # type: ignore[arg-type]
