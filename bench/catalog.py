"""Catalog query throughput: billgate's GraphQL vs bare Starlette doing the same read."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.load import Comparison, LoadResult, alternate, http_post, run_load
from bench.servers import BIN, ROOT, baseline, billgate, free_port

QUERY = ("{ products(first: 20) { edges { node { id productId displayName "
         "prices { priceId amounts { currency amount } interval { unit count } } } } } }")


def prepare(database_url: str) -> None:
    env = {"BILLGATE_DATABASE_URL": database_url}
    for args in (["migrate"], ["catalog", "apply", str(ROOT / "examples" / "catalog.yaml")]):
        subprocess.run([str(BIN / "billgate"), *args], env={**_environ(), **env}, check=True,
                       capture_output=True)


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def _same_products(body: bytes) -> bool:
    return b'"productId"' in body and b"errors" not in body


async def measure(port: int, *, seconds: float, concurrency: int) -> LoadResult:
    request = http_post("/graphql", json.dumps({"query": QUERY}).encode())
    return await run_load("127.0.0.1", port, request, seconds=seconds, concurrency=concurrency,
                          check=_same_products)


async def compare(ours: int, bare: int, *, seconds: float, concurrency: int,
                  rounds: int) -> Comparison:
    for port in (ours, bare):  # warm-up: caches, connection pools
        await measure(port, seconds=1, concurrency=concurrency)
    return await alternate(lambda: measure(ours, seconds=seconds / rounds, concurrency=concurrency),
                           lambda: measure(bare, seconds=seconds / rounds, concurrency=concurrency),
                           rounds)


def run(seconds: float = 10, concurrency: int = 16, rounds: int = 5) -> dict[str, float]:
    """``seconds`` of load on each server, in ``rounds`` alternating rounds."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        prepare(url)
        # As the items benchmark and a production replica (the scheduler runs in one worker).
        # The catalog cache is off: this line measures executing the query against the same
        # SQL; the hot-path table (bench/hot_path.py) measures the page as served.
        env = {"BILLGATE_DATABASE_URL": url, "BILLGATE_TEST_MODE": "true", "BILLGATE_SCHEDULER": "off",
               "BILLGATE_JSON_LOGS": "false", "BILLGATE_CATALOG_CACHE": "false"}
        ours, bare = free_port(), free_port()
        with billgate(env, ours), baseline("bench.baseline_catalog", env, bare):
            result = asyncio.run(compare(ours, bare, seconds=seconds, concurrency=concurrency,
                                         rounds=rounds))
    return result.as_dict()


if __name__ == "__main__":
    result = run(float(sys.argv[1]) if len(sys.argv) > 1 else 10)
    print(json.dumps(result, indent=2))
