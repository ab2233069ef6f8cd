"""``itemQuantityChanged``: a live balance over graphql-transport-ws.

The subscriber first gets the current snapshot, then one message per committed change in
version order. Changes come from this process's feed of the balance (``live_items.py``),
which follows the bus once for all its subscribers and fills gaps from the ledger; a
subscriber that falls behind the feed fills its own gap from the ledger, so no version is
skipped or repeated.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from billgate.billing import catalog, items
from billgate.errors import BillgateError
from billgate.events import SubscriberOverflow
from billgate.graphql.context import Info
from billgate.graphql.errors import raise_query_error
from billgate.graphql.live_customers import customer_changes
from billgate.graphql.types.common import CustomerRef
from billgate.graphql.types.customer import Customer
from billgate.graphql.types.items import Item
from billgate.ops.metrics import SUBSCRIPTIONS
from billgate.types import CustomerRef as DomainRef


async def _display_name(info: Info, item_id: str) -> str:
    async with info.context.runtime.db.read_session() as session:
        row = await catalog.get_item_definition(session, item_id)
    return row.display_name if row else item_id


async def _missed(info: Info, ref: DomainRef, item_id: str, name: str,
                  after_version: int) -> list[Item]:
    rows = await items.changes_since(info.context.runtime.db, ref, item_id,
                                     after_version=after_version)
    return [Item.of(ref, item_id, name, row.quantity_after, row.version,
                    reserved=row.reserved_after) for row in rows]


@strawberry.type
class Subscription:
    @strawberry.subscription(description="The balance now, then every committed change in "
                             "version order (versions strictly increasing).")
    async def item_quantity_changed(self, info: Info, customer: CustomerRef,
                                    item_id: str) -> AsyncGenerator[Item, None]:
        runtime = info.context.runtime
        try:
            ref = customer.to_domain()
            info.context.principal.require_read(ref)
            # Unknown item or wrong customer type: an error before anything is streamed.
            await items.get_balance(runtime.db, ref, item_id, clock=runtime.clock,
                                    bus=runtime.bus)
        except BillgateError as exc:
            raise_query_error(exc)
        name = await _display_name(info, item_id)
        feeds = info.context.item_feeds
        last: int | None = None
        SUBSCRIPTIONS.inc()
        try:
            while True:
                # Watch first, then read: nothing can fall between the two.
                async with feeds.watch(runtime, ref, item_id, name) as changes:
                    if last is None:
                        snapshot = await items.get_balance(runtime.db, ref, item_id,
                                                           clock=runtime.clock,
                                                           bus=runtime.bus)
                        last = snapshot.version
                        yield Item.from_snapshot(ref, name, snapshot)
                    else:
                        for missed in await _missed(info, ref, item_id, name, last):
                            last = missed.version
                            yield missed
                    try:
                        async for change in changes:
                            if change.version <= last:
                                continue
                            if change.version == last + 1:
                                last = change.version
                                yield change  # the feed's object, shared with its watchers
                                continue
                            for missed in await _missed(info, ref, item_id, name, last):
                                last = missed.version
                                yield missed
                        return  # the bus closed (shutdown): end the subscription cleanly
                    except SubscriberOverflow:
                        continue  # fell behind: watch again and fill the gap from the ledger
        finally:
            SUBSCRIPTIONS.dec()

    @strawberry.subscription(description="The customer now, then again after each committed "
                             "change of its products, subscriptions (status, plan, "
                             "cancelAtPeriodEnd, pause) or invoices. Read rules as `customer`.")
    async def customer_changed(self, info: Info,
                               customer: CustomerRef) -> AsyncGenerator[Customer, None]:
        async for state in customer_changes(info, customer):
            yield state
