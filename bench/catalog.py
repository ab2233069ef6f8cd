"""Catalog query throughput: billgate's GraphQL vs bare Starlette doing the same read."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.load import LoadResult, http_post, run_load
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
    await run_load("127.0.0.1", port, request, seconds=1, concurrency=concurrency)  # warm-up
    return await run_load("127.0.0.1", port, request, seconds=seconds, concurrency=concurrency,
                          check=_same_products)


def run(seconds: float = 5, concurrency: int = 16) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        prepare(url)
        env = {"BILLGATE_DATABASE_URL": url, "BILLGATE_TEST_MODE": "true"}
        port = free_port()
        with billgate(env, port):
            ours = asyncio.run(measure(port, seconds=seconds, concurrency=concurrency))
        port = free_port()
        with baseline("bench.baseline_catalog", env, port):
            bare = asyncio.run(measure(port, seconds=seconds, concurrency=concurrency))
    return {"billgate_rps": ours.rate, "bare_rps": bare.rate, "ratio": ours.rate / bare.rate,
            "billgate_p99_ms": ours.percentile(99) * 1000, "errors": ours.errors + bare.errors}


if __name__ == "__main__":
    result = run(float(sys.argv[1]) if len(sys.argv) > 1 else 5)
    print(json.dumps(result, indent=2))
