"""Several billgate processes on one PostgreSQL database behave as one: two real
``billgate serve`` replicas (scheduler off, LISTEN/NOTIFY bus) and one ``billgate worker``.

- balance events reach a subscriber on one replica for changes made through the other;
- balances stay exact under concurrent consumption spread over both replicas;
- scheduled work (renewals) runs exactly once, by the worker.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from servers import (
    SERVER_KEY,
    postgres_bus_url,
    prepared_database,
    require_postgres,
    running,
    server_env,
    worker_running,
    ws_connect,
    ws_receive,
)
from sqlalchemy import func, select

from billgate.billing import test_clock
from billgate.db.engine import Database
from billgate.db.models import Transaction

AUTH = {"Authorization": f"Bearer {SERVER_KEY}"}
USER = {"type": "USER", "customerId": "replica-user"}
CHANGE = """mutation($input: ChangeItemQuantityInput!) {
  %s(input: $input) { item { quantity version } userErrors { code } } }"""
TRY = """mutation($input: ChangeItemQuantityInput!) {
  tryDecreaseItemQuantity(input: $input) { success item { quantity } userErrors { code } } }"""
WATCH = """subscription($c: CustomerRef!) {
  itemQuantityChanged(customer: $c, itemId: "credits") { quantity version } }"""
PLAN = """mutation { upsertProduct(input: {productId: "plan", product: {displayName: "Plan",
  customerType: USER, prices: [{priceId: "monthly", amounts: [{currency: USD, amount: "10.00"}],
  interval: {unit: MONTH}}]}}) { userErrors { code message } } }"""
GRANT = """mutation($c: CustomerRef!) { grantProduct(input: {customer: $c, productId: "plan"}) {
  subscription { id } userErrors { code message } } }"""
SUBSCRIBERS = 6


async def _post(client: httpx.AsyncClient, url: str, query: str, variables: dict | None = None) -> dict:
    response = await client.post(url, json={"query": query, "variables": variables or {}}, headers=AUTH)
    response.raise_for_status()
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


async def _renewals(url: str) -> Counter[int]:
    db = Database(url)
    try:
        async with db.read_session() as session:
            rows = await session.execute(select(Transaction.purchase_id, func.count())
                                         .where(Transaction.kind == "renewal")
                                         .group_by(Transaction.purchase_id))
            return Counter({purchase_id: count for purchase_id, count in rows})
    finally:
        await db.dispose()


async def _advance_stored_clock(url: str, seconds: int) -> None:
    db = Database(url)
    try:
        async with db.session() as session, session.begin():
            await test_clock.advance(session, seconds)
    finally:
        await db.dispose()


async def test_two_replicas_and_a_worker_behave_as_one(tmp_path: Path) -> None:
    require_postgres()
    async with prepared_database("postgresql", tmp_path) as url:
        env = server_env(url, bus_url=postgres_bus_url(url))
        with worker_running(env, tmp_path / "worker.log") as worker, \
                running({"a": env, "b": env}, tmp_path / "logs") as servers:
            a, b = servers["a"], servers["b"]
            await _exact_balances_and_events(a, b)
            await _renewals_run_once(a, url)
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
        assert worker.returncode == 0 or worker.returncode == -15


async def _exact_balances_and_events(a, b) -> None:  # noqa: ANN001
    ws = await ws_connect(a, f"Bearer {SERVER_KEY}")
    try:
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": WATCH, "variables": {"c": USER}}}))
        snapshot = await ws_receive(ws)
        assert snapshot["payload"]["data"]["itemQuantityChanged"] == {"quantity": 0, "version": 0}
        async with httpx.AsyncClient(timeout=60) as client:
            await _post(client, b.graphql_url, CHANGE % "increaseItemQuantity",
                        {"input": {"customer": USER, "itemId": "credits", "amount": 20}})
            tries = [_post(client, (a if n % 2 else b).graphql_url, TRY,
                           {"input": {"customer": USER, "itemId": "credits", "amount": 1}})
                     for n in range(60)]
            results = await asyncio.gather(*tries)
        assert sum(r["tryDecreaseItemQuantity"]["success"] for r in results) == 20
        versions = []
        for _ in range(21):  # the grant and the 20 successful consumptions, made through both
            message = await ws_receive(ws, wait=30)
            versions.append(message["payload"]["data"]["itemQuantityChanged"]["version"])
        assert versions == list(range(1, 22))
    finally:
        await ws.close()


async def _renewals_run_once(a, url: str) -> None:  # noqa: ANN001
    async with httpx.AsyncClient(timeout=60) as client:
        await _post(client, a.graphql_url, PLAN)
        for n in range(SUBSCRIBERS):
            data = await _post(client, a.graphql_url, GRANT, {"c": {"type": "USER", "customerId": f"r{n}"}})
            assert data["grantProduct"]["userErrors"] == []
    await _advance_stored_clock(url, 32 * 24 * 3600)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        renewals = await _renewals(url)
        if len(renewals) == SUBSCRIBERS:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(3)  # would a second renewal sneak in?
    renewals = await _renewals(url)
    assert len(renewals) == SUBSCRIBERS and set(renewals.values()) == {1}, renewals


pytestmark = pytest.mark.skipif(not os.environ.get("BILLGATE_TEST_DATABASE_URL"),
                                reason="needs PostgreSQL (BILLGATE_TEST_DATABASE_URL); CI sets it")
