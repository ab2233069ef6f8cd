"""``tryDecreaseItemQuantity`` throughput (billgate vs bare Starlette doing the same
conditional UPDATE), and live fan-out: the time until 1,000 WebSocket subscribers of one
item all receive a change."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets

from bench.catalog import prepare
from bench.load import http_post, run_load
from bench.servers import baseline, billgate, free_port

KEY = "sk_bench_key"
AUTH = {"Authorization": f"Bearer {KEY}"}
DECREASE = ("mutation($c: CustomerRef!, $amount: BigInt!) { tryDecreaseItemQuantity(input: "
            "{customer: $c, itemId: \"credits\", amount: $amount}) { success item { quantity version } } }")
INCREASE = ("mutation($c: CustomerRef!, $amount: BigInt!) { increaseItemQuantity(input: "
            "{customer: $c, itemId: \"credits\", amount: $amount}) { item { quantity version } } }")
WATCH = ("subscription($c: CustomerRef!) { itemQuantityChanged(customer: $c, itemId: \"credits\") "
         "{ quantity version } }")


def _env(url: str) -> dict[str, str]:
    return {"BILLGATE_DATABASE_URL": url, "BILLGATE_TEST_MODE": "true", "BILLGATE_SECRET_KEYS": KEY,
            "BILLGATE_SCHEDULER": "off", "BILLGATE_JSON_LOGS": "false"}


async def _grant(port: int, customer: str, amount: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        response = await client.post("/graphql", headers=AUTH, json={
            "query": INCREASE, "variables": {"c": {"type": "USER", "customerId": customer},
                                             "amount": amount}})
        response.raise_for_status()
        assert "errors" not in response.json(), response.text


async def _decreases(port: int, customer: str, seconds: float, concurrency: int):  # noqa: ANN202
    body = json.dumps({"query": DECREASE, "variables": {
        "c": {"type": "USER", "customerId": customer}, "customerId": customer, "amount": 1}}).encode()
    request = http_post("/graphql", body, AUTH)
    await run_load("127.0.0.1", port, request, seconds=1, concurrency=concurrency)
    return await run_load("127.0.0.1", port, request, seconds=seconds, concurrency=concurrency,
                          check=lambda b: b'"success":true' in b)


def run_try_decrease(seconds: float = 5, concurrency: int = 16) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        prepare(url)
        port = free_port()
        with billgate(_env(url), port):
            asyncio.run(_grant(port, "bench-user", 2_000_000_000))
            ours = asyncio.run(_decreases(port, "bench-user", seconds, concurrency))
        port = free_port()
        with baseline("bench.baseline_items", _env(url), port):
            bare = asyncio.run(_decreases(port, "bench-user", seconds, concurrency))
    return {"billgate_rps": ours.rate, "bare_rps": bare.rate, "ratio": ours.rate / bare.rate,
            "errors": ours.errors + bare.errors}


async def _subscriber(port: int, ready: asyncio.Event, counter: list[int], n: int,
                      received: dict[int, float], opening: asyncio.Semaphore) -> None:
    async with opening:  # open connections a few dozen at a time
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/graphql", ping_interval=None, close_timeout=1,
                                      subprotocols=["graphql-transport-ws"], open_timeout=180)
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {KEY}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": WATCH, "variables": {"c": {"type": "USER", "customerId": "fan-out"}}}}))
        first = json.loads(await ws.recv())  # the snapshot
        assert first["type"] == "next", first
    async with ws:
        counter[0] += 1
        if counter[0] == n:
            ready.set()
        message = json.loads(await ws.recv())
        received[id(ws)] = time.perf_counter()
        assert message["type"] == "next", message


async def _fan_out(port: int, subscribers: int) -> list[float]:
    ready = asyncio.Event()
    counter = [0]
    received: dict[int, float] = {}
    opening = asyncio.Semaphore(25)
    tasks = [asyncio.create_task(_subscriber(port, ready, counter, subscribers, received, opening))
             for _ in range(subscribers)]
    await asyncio.wait_for(ready.wait(), 300)
    started = time.perf_counter()
    await _grant(port, "fan-out", 1)
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    return sorted(t - started for t in received.values())


def run_fan_out(subscribers: int = 1000) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        prepare(url)
        port = free_port()
        with billgate(_env(url), port):
            latencies = asyncio.run(_fan_out(port, subscribers))
    def ms(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return {"subscribers": len(latencies), "p50_ms": ms(0.50), "p99_ms": ms(0.99),
            "max_ms": latencies[-1] * 1000}


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "decrease"
    print(json.dumps(run_fan_out() if which == "fanout" else run_try_decrease(), indent=2))
    sys.stdout.flush()
    os._exit(0)
