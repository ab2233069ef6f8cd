"""``item.balance_low``: an item's ``lowBalanceThresholds`` fire one event each time a
change takes the balance from above a threshold to at or below it."""

from __future__ import annotations

import pytest
from helpers import deliver, endpoint
from receiver import Receiver
from sqlalchemy import select

from billgate.billing import balances, catalog
from billgate.billing.catalog_spec import parse_item
from billgate.clock import FrozenClock
from billgate.db.engine import Database
from billgate.db.models import WebhookEvent
from billgate.errors import CatalogError
from billgate.types import CustomerRef, CustomerType

ALICE = CustomerRef(CustomerType.USER, "alice")


async def alerts(db: Database) -> list[tuple[int, int]]:
    """(quantity, threshold) of every item.balance_low event, oldest first."""
    async with db.read_session() as session:
        rows = await session.scalars(select(WebhookEvent).where(WebhookEvent.type == "item.balance_low")
                                     .order_by(WebhookEvent.id))
        return [(r.payload["data"]["quantity"], r.payload["data"]["threshold"]) for r in rows]


@pytest.fixture
async def credits(db: Database) -> None:
    spec = parse_item({"itemId": "credits", "displayName": "Credits", "customerType": "USER",
                       "lowBalanceThresholds": [5, 10, 5]})
    assert spec.low_balance_thresholds == (10, 5)
    async with db.session() as session, session.begin():
        await catalog.upsert_item(session, spec)


async def test_each_downward_crossing_fires_once(db: Database, clock: FrozenClock, credits: None) -> None:
    async def change(amount: int) -> None:
        if amount > 0:
            await balances.increase(db, ALICE, "credits", amount=amount, clock=clock)
        else:
            await balances.decrease(db, ALICE, "credits", amount=-amount, clock=clock)

    await change(20)
    await change(-12)  # 20 -> 8: below 10
    await change(-1)   # 8 -> 7: still below, nothing new
    await change(-2)   # 7 -> 5: at 5 counts
    await change(+20)  # 25: back above both
    await change(-30)  # 25 -> -5: both at once
    assert await alerts(db) == [(8, 10), (5, 5), (-5, 10), (-5, 5)]


async def test_a_refused_or_replayed_change_fires_nothing(db: Database, clock: FrozenClock,
                                                          credits: None) -> None:
    await balances.increase(db, ALICE, "credits", amount=12, clock=clock)
    refused = await balances.try_decrease(db, ALICE, "credits", amount=50, clock=clock)
    assert not refused.success
    await balances.try_decrease(db, ALICE, "credits", amount=3, clock=clock, idempotency_key="k")
    await balances.try_decrease(db, ALICE, "credits", amount=3, clock=clock, idempotency_key="k")
    assert await alerts(db) == [(9, 10)]


async def test_the_alert_reaches_the_app(db: Database, clock: FrozenClock, credits: None,
                                         receiver: Receiver) -> None:
    created = await endpoint(db, receiver.url("/hook"), clock.now())
    receiver.secrets["/hook"] = [created.signing_secret]
    await balances.increase(db, ALICE, "credits", amount=11, clock=clock)
    await balances.try_decrease(db, ALICE, "credits", amount=2, clock=clock)
    while await deliver(db, clock.now()):
        pass
    first, got = receiver.at("/hook")  # the customer's first reference created it
    assert first.payload is not None and first.payload["type"] == "customer.created"
    assert got.verified_with and got.payload is not None
    assert got.payload["type"] == "item.balance_low"
    assert got.payload["customer"] == {"type": "USER", "customerId": "alice"}
    assert got.payload["data"] == {"itemId": "credits", "quantity": 9, "threshold": 10}


@pytest.mark.parametrize("bad", ["5", [1.5], [True], list(range(21)), [2**31]])
def test_thresholds_must_be_whole_numbers(bad: object) -> None:
    with pytest.raises(CatalogError, match="lowBalanceThresholds"):
        parse_item({"itemId": "credits", "displayName": "Credits", "customerType": "USER",
                    "lowBalanceThresholds": bad})


UPSERT = """mutation($t: [Int!]) { upsertItemDefinition(input: {itemId: "tokens",
  displayName: "Tokens", customerType: USER, lowBalanceThresholds: $t}) {
  itemDefinition { itemId lowBalanceThresholds } userErrors { code field } } }"""


async def test_thresholds_through_the_api(api) -> None:  # noqa: ANN001
    data = await api.data(UPSERT, {"t": [100, 1000]})
    assert data["upsertItemDefinition"]["itemDefinition"]["lowBalanceThresholds"] == [1000, 100]
    listed = await api.data("{ itemDefinitions { itemId lowBalanceThresholds } }")
    assert {"itemId": "tokens", "lowBalanceThresholds": [1000, 100]} in listed["itemDefinitions"]
    data = await api.data(UPSERT, {"t": None})
    assert data["upsertItemDefinition"]["itemDefinition"]["lowBalanceThresholds"] == []
