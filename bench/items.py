"""``tryDecreaseItemQuantity`` throughput (billgate vs bare Starlette doing the same
conditional UPDATE), and live fan-out: the time from sending a change until each of 1,000
WebSocket subscribers of that item has it (``bench/ws_client.py``)."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.catalog import prepare
from bench.load import Comparison, LoadResult, alternate, http_post, run_load
from bench.servers import baseline, billgate, free_port
from bench.ws_client import Subscriber, subscribe

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


def _decrease_request(customer: str) -> bytes:
    # ``customerId`` is for the baseline, which reads it instead of parsing the query.
    body = json.dumps({"query": DECREASE, "variables": {
        "c": {"type": "USER", "customerId": customer}, "customerId": customer, "amount": 1}}).encode()
    return http_post("/graphql", body, AUTH)


async def _decreases(port: int, request: bytes, seconds: float, concurrency: int) -> LoadResult:
    return await run_load("127.0.0.1", port, request, seconds=seconds, concurrency=concurrency,
                          check=lambda b: b'"success":true' in b)


async def _compare_decreases(ours: int, bare: int, seconds: float, concurrency: int,
                             rounds: int) -> Comparison:
    await _grant(ours, "bench-user", 2_000_000_000)
    request = _decrease_request("bench-user")
    for port in (ours, bare):  # warm-up
        await _decreases(port, request, 1, concurrency)
    share = seconds / rounds
    return await alternate(lambda: _decreases(ours, request, share, concurrency),
                           lambda: _decreases(bare, request, share, concurrency), rounds)


def run_try_decrease(seconds: float = 10, concurrency: int = 16, rounds: int = 5) -> dict[str, float]:
    """``seconds`` of load on each server (both on one SQLite file), in alternating rounds."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        prepare(url)
        ours, bare = free_port(), free_port()
        with billgate(_env(url), ours), baseline("bench.baseline_items", _env(url), bare):
            result = asyncio.run(_compare_decreases(ours, bare, seconds, concurrency, rounds))
    return result.as_dict()


async def _fan_out(port: int, subscribers: int, changes: int) -> list[float]:
    """Latencies (s) from sending a change until each subscriber has it, over ``changes``
    changes made one after the other, after one warm-up change."""
    variables = {"c": {"type": "USER", "customerId": "fan-out"}}
    opening = asyncio.Semaphore(50)

    async def connect() -> Subscriber:
        async with opening:
            return await subscribe(port, f"Bearer {KEY}", WATCH, variables)

    clients = await asyncio.gather(*(connect() for _ in range(subscribers)))
    # The client's own garbage collector would pause the timestamps, not the server.
    gc.collect()
    gc.disable()
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=AUTH) as http:
        for change in range(changes + 1):
            await asyncio.sleep(0.3)  # let the previous change settle
            seen = [len(c.messages) for c in clients]
            started = time.perf_counter()
            response = await http.post("/graphql", json={"query": INCREASE, "variables": {
                **variables, "amount": 1}})
            answered = time.perf_counter() - started
            assert "errors" not in response.json(), response.text
            for client, before in zip(clients, seen, strict=True):
                if len(client.messages) <= before:
                    await client.next_message()
                arrived, message = client.messages[before]
                assert message["type"] == "next", message
                if change:  # the first change warms caches up
                    latencies.append(arrived - started)
            if os.environ.get("BENCH_VERBOSE"):
                last = sorted(c.messages[b][0] - started for c, b in zip(clients, seen, strict=True))
                print(f"change {change}: answered in {answered * 1000:.0f} ms, "
                      f"p50 {last[len(last) // 2] * 1000:.0f} ms, max {last[-1] * 1000:.0f} ms")
    gc.enable()
    for client in clients:
        client.close()
    return sorted(latencies)


def run_fan_out(subscribers: int = 1000, changes: int = 20) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        prepare(url)
        port = free_port()
        with billgate(_env(url), port):
            latencies = asyncio.run(_fan_out(port, subscribers, changes))

    def ms(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return {"subscribers": subscribers, "changes": changes, "p50_ms": ms(0.50),
            "p99_ms": ms(0.99), "max_ms": latencies[-1] * 1000}


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "decrease"
    print(json.dumps(run_fan_out() if which == "fanout" else run_try_decrease(), indent=2))
    sys.stdout.flush()
    os._exit(0)
