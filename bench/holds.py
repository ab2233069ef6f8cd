"""Reservations against ``tryDecreaseItemQuantity``: spends per second when each spend is a
``reserveItemQuantity(1)`` then a ``commitReservation`` (two requests, the second needs the
first's id) against spends that are one ``tryDecreaseItemQuantity(1)``, on one
``billgate serve``, in alternating rounds of the same run.

The ratio (reserve + commit / tryDecrease) says what a hold costs over consuming directly:
two round trips and two normal-path transactions against one direct statement, so about
0.3-0.5 is expected. Both sides use the same httpx client loop, so the client's own cost
is the same on each.

    .venv/bin/python bench/holds.py [seconds]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.catalog import prepare  # noqa: E402
from bench.load import Comparison, LoadResult, alternate  # noqa: E402
from bench.servers import billgate, free_port  # noqa: E402

KEY = "sk_bench_key"
AUTH = {"Authorization": f"Bearer {KEY}"}
CUSTOMER = {"type": "USER", "customerId": "holds-bench"}
GRANT = ('mutation($c: CustomerRef!) { increaseItemQuantity(input: {customer: $c, '
         'itemId: "credits", amount: 2000000000}) { userErrors { code } } }')
TRY_DECREASE = ('mutation($c: CustomerRef!) { tryDecreaseItemQuantity(input: {customer: $c, '
                'itemId: "credits", amount: 1}) { success item { quantity } } }')
RESERVE = ('mutation($c: CustomerRef!) { reserveItemQuantity(input: {customer: $c, '
           'itemId: "credits", amount: 1}) { success reservation { id } } }')
COMMIT = ('mutation($id: ID!) { commitReservation(input: {reservationId: $id}) '
          '{ item { quantity } userErrors { code } } }')


async def _post(client: httpx.AsyncClient, query: str, variables: dict[str, object]) -> dict:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(response.text)
    return body["data"]


async def _spend_direct(client: httpx.AsyncClient) -> bool:
    data = await _post(client, TRY_DECREASE, {"c": CUSTOMER})
    return bool(data["tryDecreaseItemQuantity"]["success"])


async def _spend_held(client: httpx.AsyncClient) -> bool:
    held = (await _post(client, RESERVE, {"c": CUSTOMER}))["reserveItemQuantity"]
    if not held["success"]:
        return False
    done = await _post(client, COMMIT, {"id": held["reservation"]["id"]})
    return not done["commitReservation"]["userErrors"]


async def _load(client: httpx.AsyncClient, spend: object, seconds: float,
                concurrency: int) -> LoadResult:
    result = LoadResult()
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            ok = await spend(client)  # type: ignore[operator]
            result.latencies.append(time.perf_counter() - started)
            result.requests += 1 if ok else 0
            result.errors += 0 if ok else 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - began
    return result


async def _compare(port: int, seconds: float, concurrency: int, rounds: int) -> Comparison:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=AUTH,
                                 limits=limits, timeout=60) as client:
        await _post(client, GRANT, {"c": CUSTOMER})
        for spend in (_spend_held, _spend_direct):  # warm up both
            await _load(client, spend, 1, concurrency)
        share = seconds / rounds
        return await alternate(lambda: _load(client, _spend_held, share, concurrency),
                               lambda: _load(client, _spend_direct, share, concurrency), rounds)


def run(seconds: float = 10, concurrency: int = 8, rounds: int = 5) -> dict[str, float]:
    """``seconds`` of each kind of spend on one server (a fresh SQLite file)."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        prepare(url)
        env = {"BILLGATE_DATABASE_URL": url, "BILLGATE_TEST_MODE": "true",
               "BILLGATE_SECRET_KEYS": KEY, "BILLGATE_SCHEDULER": "off",
               "BILLGATE_JSON_LOGS": "false"}
        port = free_port()
        with billgate(env, port):
            return asyncio.run(_compare(port, seconds, concurrency, rounds)).as_dict()


def line(r: dict[str, float]) -> str:
    return (f"{'reserve + commit vs tryDecrease (spends/s)':42} {r['billgate_rps']:>8.0f} /s "
            f"{r['bare_rps']:>8.0f} /s {r['ratio']:>7.2f}  (rounds {r['min_ratio']:.2f}-"
            f"{r['max_ratio']:.2f}; refused: {r['errors']:.0f})")


if __name__ == "__main__":
    print(line(run(float(sys.argv[1]) if len(sys.argv) > 1 else 10)), flush=True)
