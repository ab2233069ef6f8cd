"""A request that meets a table held under an exclusive lock answers ``DATABASE_UNAVAILABLE``
once, within ``BILLGATE_DB_STATEMENT_TIMEOUT`` and a small margin: the normal path never runs
again what the direct path already waited out (before, a write answered after twice the
timeout). A hung server's connect is the same, within ``BILLGATE_DB_CONNECT_TIMEOUT``.

PostgreSQL only for the lock: another connection holds ``LOCK TABLE ... IN ACCESS EXCLUSIVE
MODE``, which even plain reads wait for. (SQLite's readers never wait in WAL mode, and its
writers wait for the busy timeout on the normal path: see ``test_direct_path.py``.)
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url
from test_database_unavailable import hung_database_url  # noqa: F401 - a fixture

from billgate.app import create_app
from billgate.clock import TestClock
from billgate.db.engine import Database
from billgate.runtime import Runtime

pytestmark = pytest.mark.usefixtures("example_catalog")

TIMEOUT = 3.0  # seconds: a second run of the statement would take 6
MARGIN = 2.0
CUSTOMER = {"type": "USER", "customerId": "timeout-user"}
BALANCE = 'query ($c: CustomerRef!) { customer(customer: $c) { item(itemId: "credits") { quantity } } }'
HAS_ACCESS = 'query ($c: CustomerRef!) { customer(customer: $c) { hasAccess(productId: "free") } }'
TRY_DECREASE = """mutation ($c: CustomerRef!) { tryDecreaseItemQuantity(input: {
  customer: $c, itemId: "credits", amount: 1}) { success userErrors { code } } }"""
INCREASE = """mutation ($c: CustomerRef!) { increaseItemQuantity(input: {
  customer: $c, itemId: "credits", amount: 5}) { userErrors { code } } }"""


async def client_for(settings: Any, db: Database) -> httpx.AsyncClient:
    runtime = Runtime(settings=settings, db=db, clock=TestClock(), secret_keys=settings.secret_keys)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime=runtime)),
                             base_url="http://testserver",
                             headers={"Authorization": f"Bearer {settings.secret_keys[0]}"})


async def timed(client: httpx.AsyncClient, query: str) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    response = await client.post("/graphql", json={"query": query, "variables": {"c": CUSTOMER}})
    return response.json(), time.monotonic() - started


def codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors") or []]


@pytest.fixture
async def short_timeout(settings: Any, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    if database_url.startswith("sqlite"):
        pytest.skip("LOCK TABLE is PostgreSQL's; SQLite readers never wait for a writer")
    settings = replace(settings, db_statement_timeout=TIMEOUT)
    db = Database(database_url, **settings.database_options)
    async with await client_for(settings, db) as client:
        # The customer exists (with Free's credits), so every operation below can take
        # the direct path, and each path has opened its connections.
        for query in (BALANCE, TRY_DECREASE, INCREASE):
            body, _ = await timed(client, query)
            assert not body.get("errors"), body
        yield client
    await db.dispose()


async def lock_table(database_url: str, table: str) -> Any:
    """A connection holding ``table`` under ACCESS EXCLUSIVE until it is closed."""
    import asyncpg

    url = make_url(database_url)
    conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                 password=url.password, database=url.database)
    await conn.execute(f"BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    return conn


@pytest.mark.parametrize(("table", "query"), [
    ("item_balances", TRY_DECREASE),
    ("item_balances", BALANCE),
    ("item_balances", INCREASE),
    ("customers", TRY_DECREASE),
    ("customers", BALANCE),
    ("purchases", HAS_ACCESS),
], ids=["write-on-locked-balances", "read-on-locked-balances", "increase-on-locked-balances",
        "write-on-locked-customers", "read-on-locked-customers", "hasAccess-on-locked-purchases"])
async def test_a_locked_table_answers_database_unavailable_once_within_the_timeout(
        short_timeout: httpx.AsyncClient, database_url: str, table: str, query: str) -> None:
    holder = await lock_table(database_url, table)
    try:
        body, elapsed = await timed(short_timeout, query)
    finally:
        await holder.close()
    assert codes(body) == ["DATABASE_UNAVAILABLE"], body
    assert TIMEOUT - 0.5 <= elapsed <= TIMEOUT + MARGIN, f"answered after {elapsed:.2f} s"
    # The lock gone, the same request succeeds: nothing was left half done.
    body, _ = await timed(short_timeout, query)
    assert not body.get("errors"), body


async def test_a_change_refused_by_the_timeout_wrote_nothing(short_timeout: httpx.AsyncClient,
                                                            database_url: str) -> None:
    before = (await timed(short_timeout, BALANCE))[0]["data"]["customer"]["item"]["quantity"]
    holder = await lock_table(database_url, "item_changes")  # the ledger row's INSERT waits
    try:
        body, elapsed = await timed(short_timeout, TRY_DECREASE)
    finally:
        await holder.close()
    assert codes(body) == ["DATABASE_UNAVAILABLE"], body
    assert elapsed <= TIMEOUT + MARGIN, f"answered after {elapsed:.2f} s"
    after = (await timed(short_timeout, BALANCE))[0]["data"]["customer"]["item"]["quantity"]
    assert after == before  # the balance UPDATE before it was rolled back with it


CONNECT_TIMEOUT = 1.5


@pytest.mark.parametrize("query", [BALANCE, TRY_DECREASE, INCREASE], ids=["read", "try-decrease", "increase"])
async def test_a_hung_connect_answers_once_within_the_connect_timeout(
        settings: Any, hung_database_url: str, query: str) -> None:  # noqa: F811
    settings = replace(settings, database_url=hung_database_url,
                       db_connect_timeout=CONNECT_TIMEOUT)
    db = Database(hung_database_url, **settings.database_options)
    try:
        async with await client_for(settings, db) as client:
            body, elapsed = await timed(client, query)
    finally:
        await db.dispose()
    assert codes(body) == ["DATABASE_UNAVAILABLE"], body
    assert elapsed <= CONNECT_TIMEOUT + 1.0, f"answered after {elapsed:.2f} s"
