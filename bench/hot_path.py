"""The hot path against GraphQL itself: each operation's throughput on one ``billgate serve``
divided by ``{ __typename }`` on the same server, measured in alternating rounds.

``run()`` on SQLite (a file of its own) or on the database URL it is given; run as a script
it prints SQLite's table and, when a PostgreSQL server is named (``BILLGATE_BENCH_POSTGRES_URL``
or ``BILLGATE_DATABASE_URL``, see bench/postgres.py), PostgreSQL's beside it, measured in a
fresh database there (tables created, the example catalog applied, dropped after).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

import httpx

from bench.catalog import prepare
from bench.load import LoadResult, alternate, http_post, run_load
from bench.postgres import base_url, fresh_database
from bench.servers import billgate, free_port

KEY = "sk_bench_key"
AUTH = {"Authorization": f"Bearer {KEY}"}
CUSTOMER = {"type": "USER", "customerId": "hot-path-user"}
TYPENAME = "{ __typename }"
OPERATIONS = {
    "balance read (customer.item)":
        'query($c: CustomerRef!) { customer(customer: $c) { item(itemId: "credits") { quantity } } }',
    "customer.hasAccess(productId)":
        'query($c: CustomerRef!) { customer(customer: $c) { hasAccess(productId: "free") } }',
    "tryDecreaseItemQuantity(1)":
        'mutation($c: CustomerRef!) { tryDecreaseItemQuantity(input: {customer: $c, '
        'itemId: "credits", amount: 1}) { success item { quantity } } }',
    "catalog page (products(first: 20))":
        "{ products(first: 20) { edges { node { productId displayName productLine { productLineId } "
        "prices { priceId amounts { currency amount } interval { unit count } } "
        "includedItems { item { itemId } quantity } } } } }",
}
GOALS = {"balance read (customer.item)": 0.5, "customer.hasAccess(productId)": 0.5,
         "tryDecreaseItemQuantity(1)": 0.3, "catalog page (products(first: 20))": 0.5}


def _request(query: str) -> bytes:
    return http_post("/graphql", json.dumps({"query": query, "variables": {"c": CUSTOMER}}).encode(),
                     AUTH)


async def _measure(port: int, query: str, seconds: float, concurrency: int) -> LoadResult:
    return await run_load("127.0.0.1", port, _request(query), seconds=seconds,
                          concurrency=concurrency, check=lambda b: b'"errors"' not in b)


async def _prepare_customer(port: int) -> None:
    """The customer exists (with Free's credits) and has plenty to consume."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=AUTH) as client:
        response = await client.post("/graphql", json={"query": (
            'mutation($c: CustomerRef!) { increaseItemQuantity(input: {customer: $c, '
            'itemId: "credits", amount: 2000000000, expiresAt: "2099-01-01T00:00:00Z"}) '
            '{ userErrors { code } } }'), "variables": {"c": CUSTOMER}})
        response.raise_for_status()
        assert "errors" not in response.json(), response.text


async def _compare_all(port: int, seconds: float, concurrency: int,
                       rounds: int) -> dict[str, dict[str, float]]:
    await _prepare_customer(port)
    results = {}
    share = seconds / rounds
    for name, query in OPERATIONS.items():
        for warm in (query, TYPENAME):
            await _measure(port, warm, 1, concurrency)
        comparison = await alternate(lambda q=query: _measure(port, q, share, concurrency),
                                     lambda: _measure(port, TYPENAME, share, concurrency), rounds)
        results[name] = comparison.as_dict()
    return results


Results = dict[str, dict[str, float]]


def run(seconds: float = 10, concurrency: int = 16, rounds: int = 5, *,
        url: str = "") -> Results:
    """The table on ``url`` (a fresh SQLite file when empty)."""
    with tempfile.TemporaryDirectory() as tmp:
        url = url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        prepare(url)
        env = {"BILLGATE_DATABASE_URL": url, "BILLGATE_TEST_MODE": "true",
               "BILLGATE_SECRET_KEYS": KEY, "BILLGATE_SCHEDULER": "off",
               "BILLGATE_JSON_LOGS": "false"}
        port = free_port()
        with billgate(env, port):
            return asyncio.run(_compare_all(port, seconds, concurrency, rounds))


def run_both(seconds: float = 10) -> dict[str, Results | str]:
    """SQLite's table, and PostgreSQL's when a server is named (else why not)."""
    tables: dict[str, Results | str] = {"SQLite": run(seconds)}
    base = base_url()
    if not base:
        tables["PostgreSQL"] = "skipped: set BILLGATE_BENCH_POSTGRES_URL to a PostgreSQL server"
        return tables
    try:
        with fresh_database(base) as url:
            tables["PostgreSQL"] = run(seconds, url=url)
    except Exception as exc:  # report and go on: SQLite's table still stands
        tables["PostgreSQL"] = f"failed ({type(exc).__name__}: {exc})"
    return tables


def print_tables(tables: dict[str, Results | str]) -> None:
    """One line per operation, each database's figures side by side."""
    print("hot path: each operation vs { __typename } on the same server "
          "(r/s vs r/s, median ratio, rounds' range)")
    print(f"  {'operation':36}" + "".join(f"  {name:40}" for name in tables) + "  goal")
    for name in OPERATIONS:
        cells = []
        for table in tables.values():
            if isinstance(table, str):
                cells.append(f"  {'-':40}")
                continue
            r = table[name]
            cells.append(f"  {r['billgate_rps']:>5.0f} vs {r['bare_rps']:>5.0f}  "
                         f"{r['ratio']:.2f} ({r['min_ratio']:.2f}-{r['max_ratio']:.2f})"
                         .ljust(42))
        print(f"  {name:36}{''.join(cells)}  >= {GOALS[name]}", flush=True)
    for database, table in tables.items():
        if isinstance(table, str):
            print(f"  {database}: {table}", flush=True)


if __name__ == "__main__":
    print_tables(run_both(float(sys.argv[1]) if len(sys.argv) > 1 else 10))
