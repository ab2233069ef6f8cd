"""Rollover (``rollover`` on a WHEN_REPEATED included item): at each repeat the unused
remainder of the period that ends, up to the cap, comes back as its own ledger change
(reason ``rollover``) that expires with the next repeat like the rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billgate.billing import balances, items
from billgate.billing.catalog import upsert_product
from billgate.billing.catalog_spec import CatalogError, parse_product
from billgate.billing.purchases import fulfil, service
from billgate.clock import FrozenClock
from billgate.db.engine import Database
from billgate.types import CustomerRef, CustomerType

pytestmark = [pytest.mark.usefixtures("example_catalog"), pytest.mark.timeout(60)]

TEAM = CustomerRef(CustomerType.TEAM, "t-roll")
JAN_31 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
FEB_28 = datetime(2026, 2, 28, 12, 0, tzinfo=UTC)
MAR_31 = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
APR_30 = datetime(2026, 4, 30, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def pack(**included: Any) -> dict[str, Any]:
    return {"productId": "seat-pack", "displayName": "Seat pack", "customerType": "TEAM",
            "includedItems": [{"itemId": "seats", "quantity": 50,
                               "repeat": {"unit": "MONTH", "count": 1},
                               "expires": "WHEN_REPEATED", **included}]}


async def setup(db: Database, clock: FrozenClock, **included: Any) -> None:
    async with db.session() as session, session.begin():
        await upsert_product(session, parse_product(pack(**included)))
    await service.grant_product(db, TEAM, product_id="seat-pack", inline=None, price_id=None,
                                currency=None, quantity=1, clock=clock)


async def repeat_at(db: Database, at: datetime, *, settle_first: bool = False) -> None:
    async with db.session() as session, session.begin():
        if settle_first:  # the scheduler's expiry job runs before the repeats at one instant
            await items.settle_due(session, now=at)
        await fulfil.run_due_repeats(session, now=at)


async def seats(db: Database, at: datetime) -> int:
    return (await items.get_balance(db, TEAM, "seats", clock=FrozenClock(at))).quantity


async def ledger(db: Database, at: datetime) -> list[tuple[str, int, datetime]]:
    rows = await items.list_changes(db, TEAM, "seats", limit=100, clock=FrozenClock(at))
    return [(r.reason, r.delta, r.created_at) for r in reversed(rows)]


async def use(db: Database, at: datetime, amount: int) -> None:
    result = await balances.try_decrease(db, TEAM, "seats", amount=amount, clock=FrozenClock(at))
    assert result.success


@pytest.mark.parametrize("settle_first", [False, True], ids=["repeat-settles", "scheduler-settled"])
async def test_the_unused_remainder_up_to_the_cap_carries_over_and_expires_with_the_next(
        db, clock, settle_first: bool) -> None:
    await setup(db, clock, rollover=30)
    await use(db, JAN_31 + SECOND, 35)  # 15 left unused: all of it carries over

    await repeat_at(db, FEB_28, settle_first=settle_first)
    assert await seats(db, FEB_28 + SECOND) == 15 + 50
    # Nothing used in February: 65 unused, 30 of it carries over; the January rollover
    # bucket expired with the rest.
    await repeat_at(db, MAR_31, settle_first=settle_first)
    assert await seats(db, MAR_31 + SECOND) == 30 + 50
    rows = await ledger(db, MAR_31 + SECOND)
    assert [r for r in rows if r[0] == "rollover"] == [("rollover", 15, FEB_28),
                                                        ("rollover", 30, MAR_31)]
    assert sorted(d for reason, d, at in rows if reason == "expire" and at == MAR_31) == [-50, -15]
    # Everything used in March: nothing carries over into April.
    await use(db, MAR_31 + SECOND, 80)
    await repeat_at(db, APR_30, settle_first=settle_first)
    assert await seats(db, APR_30 + SECOND) == 50
    assert [r for r in await ledger(db, APR_30 + SECOND) if r[0] == "rollover"][2:] == []


async def test_without_a_cap_nothing_carries_over(db, clock) -> None:
    await setup(db, clock)
    await repeat_at(db, FEB_28)
    assert await seats(db, FEB_28 + SECOND) == 50
    assert not [r for r in await ledger(db, FEB_28 + SECOND) if r[0] == "rollover"]


async def test_a_repeat_runs_once_so_the_rollover_does_too(db, clock) -> None:
    await setup(db, clock, rollover=100)
    await repeat_at(db, FEB_28)
    await repeat_at(db, FEB_28)
    assert await seats(db, FEB_28 + SECOND) == 100


def test_rollover_is_only_for_when_repeated_items_and_a_whole_number() -> None:
    with pytest.raises(CatalogError, match="rollover"):
        parse_product({**pack(rollover=5), "includedItems": [{
            "itemId": "seats", "quantity": 5, "expires": "NEVER", "rollover": 5}]})
    with pytest.raises(CatalogError, match="rollover"):
        parse_product(pack(rollover=-1))
    assert parse_product(pack(rollover=0)).included_items[0]["rollover"] == 0
    assert "rollover" not in parse_product(pack()).included_items[0]


UPSERT = """mutation ($input: UpsertProductInput!) { upsertProduct(input: $input) {
  product { includedItems { item { itemId } expires rollover } } userErrors { code message } } }"""


def product_input(expires: str, rollover: int) -> dict[str, Any]:
    return {"productId": "seat-pack", "product": {
        "displayName": "Seat pack", "customerType": "TEAM",
        "includedItems": [{"itemId": "seats", "quantity": 50, "expires": expires,
                           "repeat": {"unit": "MONTH", "count": 1}, "rollover": rollover}]}}


async def test_graphql_sets_and_reads_included_item_rollover(api) -> None:
    data = await api.data(UPSERT, {"input": product_input("WHEN_REPEATED", 30)})
    assert data["upsertProduct"]["userErrors"] == []
    assert data["upsertProduct"]["product"]["includedItems"] == [
        {"item": {"itemId": "seats"}, "expires": "WHEN_REPEATED", "rollover": 30}]
    refused = (await api.data(UPSERT, {"input": product_input("NEVER", 30)}))["upsertProduct"]
    assert [e["code"] for e in refused["userErrors"]] == ["INVALID_INPUT"]
    assert "rollover" in refused["userErrors"][0]["message"]
