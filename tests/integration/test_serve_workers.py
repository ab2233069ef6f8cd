"""``billgate serve --workers 2`` on PostgreSQL with the PostgreSQL event bus: both workers
serve, each with its own listener, and a WebSocket subscriber on one worker gets every change
in version order, those served by the other worker included.

Which worker serves a connection is the kernel's choice. ``/metrics`` is per process, so a
connection that first reads ``billgate_live_subscriptions`` 0 is on the worker without the
subscriber; the change is then sent on that same connection.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from servers import (
    SERVER_KEY,
    increase_mutation,
    postgres_bus_url,
    prepared_database,
    require_postgres,
    running,
    server_env,
    ws_connect,
    ws_receive,
)
from sqlalchemy.engine import make_url

CUSTOMER = {"type": "USER", "customerId": "workers-user"}
SUBSCRIBE = """subscription ($c: CustomerRef!) {
  itemQuantityChanged(customer: $c, itemId: "credits") { quantity version } }"""
INCREASE = increase_mutation(1)
CHANGES_ELSEWHERE = 3  # changes served by the worker without the subscriber
ATTEMPTS = 60


async def subscribers_here(client: httpx.AsyncClient, url: str) -> float:
    """``billgate_live_subscriptions`` of the worker serving ``client``'s connection."""
    text = (await client.get(f"{url}/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("billgate_live_subscriptions"))


async def listeners(base: str, url: str) -> int:
    import asyncpg

    server = make_url(base)
    conn = await asyncpg.connect(host=server.host, port=server.port or 5432, user=server.username,
                                 password=server.password, database=server.database)
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
            "AND application_name LIKE 'billgate-events-listen:%'", make_url(url).database))
    finally:
        await conn.close()


@pytest.mark.timeout(180)
async def test_two_workers_serve_and_carry_events_between_them(tmp_path: Path) -> None:
    base = require_postgres()
    async with prepared_database("postgresql", tmp_path) as url:
        env = server_env(url, bus_url=postgres_bus_url(url))
        with running({"w": env}, tmp_path / "logs", workers=2) as servers:
            server = servers["w"]
            ws = await ws_connect(server, f"Bearer {SERVER_KEY}")
            try:
                await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
                    "query": SUBSCRIBE, "variables": {"c": CUSTOMER}}}))
                first = await ws_receive(ws)
                start = first["payload"]["data"]["itemQuantityChanged"]["quantity"]
                seen, other_worker = [], 0
                for _ in range(ATTEMPTS):
                    async with httpx.AsyncClient(timeout=60) as client:  # a new connection each
                        watched = await subscribers_here(client, server.url)
                        response = await client.post(server.graphql_url, json={
                            "query": INCREASE, "variables": {"c": CUSTOMER}},
                            headers={"Authorization": f"Bearer {SERVER_KEY}"})
                    assert not response.json().get("errors"), response.text
                    other_worker += watched == 0
                    message = await ws_receive(ws)  # within WS_WAIT, whoever served it
                    seen.append(message["payload"]["data"]["itemQuantityChanged"]["quantity"])
                    if other_worker >= CHANGES_ELSEWHERE:
                        break
            finally:
                await ws.close()
            assert await listeners(base, url) == 2  # one per worker
    assert other_worker >= CHANGES_ELSEWHERE, "the kernel never picked the other worker"
    assert seen == [start + n for n in range(1, len(seen) + 1)]
