"""Reservations through GraphQL: a hold counts against `available` for every consumer until
it is committed (all or part, one ledger change), released, or expired by the scheduler;
reads and live Items show `reserved`/`available`; `billgate audit` stays clean."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from billgate.billing import audit
from billgate.billing.catalog import apply_catalog
from billgate.billing.catalog_spec import parse_catalog
from billgate.billing.items import holds
from billgate.db.engine import Database

pytestmark = pytest.mark.timeout(60)

USER = {"type": "USER", "customerId": "u1"}
CATALOG = {"items": [{"itemId": "credits", "displayName": "Credits", "customerType": "USER"}]}
ITEM = "quantity reserved available version"
ERRORS = "userErrors { code message field }"

RESERVE = f"""mutation ($input: ReserveItemQuantityInput!) {{
  reserveItemQuantity(input: $input) {{ success reservation {{ id itemId amount status expiresAt }}
    item {{ {ITEM} }} {ERRORS} }} }}"""
COMMIT = f"""mutation ($input: CommitReservationInput!) {{
  commitReservation(input: $input) {{ item {{ {ITEM} }} {ERRORS} }} }}"""
RELEASE = f"""mutation ($input: ReleaseReservationInput!) {{
  releaseReservation(input: $input) {{ item {{ {ITEM} }} {ERRORS} }} }}"""
CHANGE = f"""mutation ($input: ChangeItemQuantityInput!) {{
  {{kind}}(input: $input) {{ item {{ {ITEM} }} {ERRORS} }} }}"""
TRY_DECREASE = f"""mutation ($input: ChangeItemQuantityInput!) {{
  tryDecreaseItemQuantity(input: $input) {{ success item {{ {ITEM} }} {ERRORS} }} }}"""
NODE = """query ($id: ID!) { node(id: $id) { ... on Reservation { status amount itemId } } }"""
READ = f"""query {{ customer(customer: {{type: USER, customerId: "u1"}}) {{
  item(itemId: "credits") {{ {ITEM} changes(first: 50) {{ edges {{ node {{ delta reason }} }} }} }}
  items {{ itemId reserved available }} }} }}"""


@pytest.fixture(autouse=True)
async def catalog(db: Database) -> None:
    async with db.session() as session, session.begin():
        await apply_catalog(session, parse_catalog(CATALOG), now=datetime.now(UTC))


async def grant(api: Any, amount: int) -> None:
    await api.data(CHANGE.replace("{kind}", "increaseItemQuantity"),
                   {"input": {"customer": USER, "itemId": "credits", "amount": amount}})


async def reserve(api: Any, amount: int, **extra: Any) -> dict[str, Any]:
    data = await api.data(RESERVE, {"input": {"customer": USER, "itemId": "credits",
                                              "amount": amount, **extra}})
    return data["reserveItemQuantity"]


async def try_decrease(api: Any, amount: int) -> dict[str, Any]:
    data = await api.data(TRY_DECREASE, {"input": {"customer": USER, "itemId": "credits",
                                                   "amount": amount}})
    return data["tryDecreaseItemQuantity"]


async def read(api: Any) -> dict[str, Any]:
    return (await api.data(READ))["customer"]


async def audit_clean(db: Database) -> None:
    async with db.read_session() as session:
        assert [str(v) for v in await audit.run(session)] == []


async def test_a_hold_counts_against_try_decrease_until_released(api, db) -> None:
    await grant(api, 100)
    held = await reserve(api, 70)
    assert held["success"] and held["reservation"]["status"] == "HELD"
    assert held["item"] == {"quantity": 100, "reserved": 70, "available": 30, "version": 2}
    refused = await try_decrease(api, 31)
    assert not refused["success"]
    assert [e["code"] for e in refused["userErrors"]] == ["INSUFFICIENT_QUANTITY"]
    assert (await try_decrease(api, 30))["success"]
    assert not (await reserve(api, 1))["success"]  # available is 0 now
    released = (await api.data(RELEASE, {"input": {
        "reservationId": held["reservation"]["id"]}}))["releaseReservation"]
    assert released["item"] == {"quantity": 70, "reserved": 0, "available": 70, "version": 4}
    assert (await try_decrease(api, 70))["success"]
    await audit_clean(db)


async def test_a_partial_commit_is_one_ledger_change_and_releases_the_rest(api, db) -> None:
    await grant(api, 50)
    held = await reserve(api, 40)
    ended = (await api.data(COMMIT, {"input": {"reservationId": held["reservation"]["id"],
                                               "amount": 15}}))["commitReservation"]
    assert ended["userErrors"] == []
    assert ended["item"] == {"quantity": 35, "reserved": 0, "available": 35, "version": 3}
    state = await read(api)
    reasons = [(e["node"]["delta"], e["node"]["reason"]) for e in state["item"]["changes"]["edges"]]
    assert reasons == [(-15, "consume"), (0, "reserve"), (50, "manual")]
    assert state["items"] == [{"itemId": "credits", "reserved": 0, "available": 35}]
    # Committing again (a double click) changes nothing more; releasing it now cannot.
    again = (await api.data(COMMIT, {"input": {"reservationId": held["reservation"]["id"],
                                               "amount": 15}}))["commitReservation"]
    assert again["item"]["quantity"] == 35 and again["userErrors"] == []
    late = (await api.data(RELEASE, {"input": {
        "reservationId": held["reservation"]["id"]}}))["releaseReservation"]
    assert [e["code"] for e in late["userErrors"]] == ["RESERVATION_NOT_FOUND"]
    node = await api.data(NODE, {"id": held["reservation"]["id"]})
    assert node["node"] == {"status": "COMMITTED", "amount": 40, "itemId": "credits"}
    assert (await api.as_user("u2").data(NODE, {"id": held["reservation"]["id"]}))["node"] is None
    await audit_clean(db)


async def test_commit_more_than_held_is_refused_and_changes_nothing(api, db) -> None:
    await grant(api, 50)
    held = await reserve(api, 10)
    over = (await api.data(COMMIT, {"input": {"reservationId": held["reservation"]["id"],
                                              "amount": 11}}))["commitReservation"]
    assert [e["code"] for e in over["userErrors"]] == ["INVALID_INPUT"]
    assert (await read(api))["item"]["reserved"] == 10
    whole = (await api.data(COMMIT, {"input": {
        "reservationId": held["reservation"]["id"]}}))["commitReservation"]
    assert whole["item"] == {"quantity": 40, "reserved": 0, "available": 40, "version": 3}
    await audit_clean(db)


async def test_an_idempotency_key_returns_the_first_hold(api, db) -> None:
    await grant(api, 20)
    first = await reserve(api, 10, idempotencyKey="k1")
    second = await reserve(api, 10, idempotencyKey="k1")
    assert second["reservation"]["id"] == first["reservation"]["id"]
    assert second["item"]["reserved"] == 10
    other = await reserve(api, 5, idempotencyKey="k1")
    assert [e["code"] for e in other["userErrors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    await audit_clean(db)


async def test_the_scheduler_expires_a_hold_at_its_time(api, db, runtime) -> None:
    await grant(api, 20)
    held = await reserve(api, 10, ttlSeconds=60)
    runtime.clock.advance(59)
    async with db.session() as session, session.begin():
        assert await holds.expire_due(session, now=runtime.clock.now()) == []
    runtime.clock.advance(1)
    # Its time is up: it cannot be used any more, though it is held until the scheduler runs.
    late = (await api.data(COMMIT, {"input": {
        "reservationId": held["reservation"]["id"]}}))["commitReservation"]
    assert [e["code"] for e in late["userErrors"]] == ["RESERVATION_NOT_FOUND"]
    assert (await read(api))["item"]["reserved"] == 10
    async with db.session() as session, session.begin():
        events = await holds.expire_due(session, now=runtime.clock.now())
    assert [(e.reason, e.reserved) for e in events] == [("hold_expired", 0)]
    assert (await read(api))["item"]["available"] == 20
    late = (await api.data(COMMIT, {"input": {
        "reservationId": held["reservation"]["id"]}}))["commitReservation"]
    assert [e["code"] for e in late["userErrors"]] == ["RESERVATION_NOT_FOUND"]
    await audit_clean(db)


async def test_decrease_goes_through_holds_and_a_commit_then_makes_debt(api, db) -> None:
    await grant(api, 10)
    held = await reserve(api, 10)
    await api.data(CHANGE.replace("{kind}", "decreaseItemQuantity"),
                   {"input": {"customer": USER, "itemId": "credits", "amount": 5}})
    assert (await read(api))["item"]["available"] == -5
    ended = (await api.data(COMMIT, {"input": {
        "reservationId": held["reservation"]["id"]}}))["commitReservation"]
    assert ended["item"] == {"quantity": -5, "reserved": 0, "available": -5, "version": 4}
    await audit_clean(db)


async def test_bad_input_is_refused(api, db) -> None:
    await grant(api, 10)
    assert [e["code"] for e in (await reserve(api, 0))["userErrors"]] == ["INVALID_INPUT"]
    assert [e["code"] for e in (await reserve(api, 1, ttlSeconds=0))["userErrors"]] == [
        "INVALID_INPUT"]
    bogus = (await api.data(RELEASE, {"input": {"reservationId": "nope"}}))["releaseReservation"]
    assert [e["code"] for e in bogus["userErrors"]] == ["INVALID_INPUT"]
    assert (await read(api))["item"] == {**(await read(api))["item"], "reserved": 0,
                                         "quantity": 10}


async def test_concurrent_holds_never_oversell(api, db) -> None:
    await grant(api, 80)
    results = await asyncio.gather(*(reserve(api, 10) for _ in range(25)))
    assert sum(r["success"] for r in results) == 8
    assert (await read(api))["item"]["available"] == 0
    await audit_clean(db)


async def test_a_customer_token_cannot_reserve(api, db) -> None:
    await grant(api, 10)
    body = await api.as_user("u1")(RESERVE, {"input": {"customer": USER, "itemId": "credits",
                                                      "amount": 1}})
    assert body.get("errors") or body["data"]["reserveItemQuantity"]["userErrors"]
