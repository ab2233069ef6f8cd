"""Holds are live: `itemQuantityChanged` subscribers see `reserved` and `available` change
with each reserve, commit and release, in version order, also when an event was lost and
the feed fills the gap from the ledger (``item_changes.reserved_after``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from billgate.billing import balances
from billgate.billing.purchases import service
from billgate.graphql.auth import SERVER
from billgate.graphql.context import Context
from billgate.graphql.live_items import ItemFeeds
from billgate.graphql.schema import build_schema
from billgate.types import CustomerRef, CustomerType

pytestmark = [pytest.mark.usefixtures("example_catalog"), pytest.mark.timeout(60)]

ALICE = CustomerRef(CustomerType.USER, "alice")
FREE = 100  # the Free plan's credits (version 1)
WATCH = """subscription ($c: CustomerRef!) {
  itemQuantityChanged(customer: $c, itemId: "credits") { quantity reserved available version }
}"""


async def test_subscribers_see_reserved_and_available_in_order_even_after_a_lost_event(
        runtime: Any) -> None:
    await service.ensure_customer(runtime.db, ALICE, clock=runtime.clock)
    stream = await build_schema().subscribe(
        WATCH, variable_values={"c": {"type": "USER", "customerId": "alice"}},
        context_value=Context(runtime=runtime, principal=SERVER, item_feeds=ItemFeeds()))

    async def next_item() -> tuple[int, int, int, int]:
        result = await asyncio.wait_for(anext(stream), 5)
        assert not result.errors, result.errors
        item = result.data["itemQuantityChanged"]
        return item["quantity"], item["reserved"], item["available"], item["version"]

    assert await next_item() == (FREE, 0, FREE, 1)
    db, clock, bus = runtime.db, runtime.clock, runtime.bus
    held = await balances.reserve(db, ALICE, "credits", amount=30, ttl_seconds=60,
                                  clock=clock, bus=bus)
    assert held.reservation is not None
    assert await next_item() == (FREE, 30, FREE - 30, 2)
    other = await balances.reserve(db, ALICE, "credits", amount=20, ttl_seconds=60,
                                   clock=clock, bus=None)  # committed, its event lost
    assert other.reservation is not None
    await balances.commit_reservation(db, held.reservation.id, clock=clock, amount=10, bus=bus)
    assert await next_item() == (FREE, 50, FREE - 50, 3)  # filled from the ledger
    assert await next_item() == (FREE - 10, 20, FREE - 30, 4)
    await balances.release_reservation(db, other.reservation.id, clock=clock, bus=bus)
    assert await next_item() == (FREE - 10, 0, FREE - 10, 5)
    await stream.aclose()
