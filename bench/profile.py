"""Where a hot-path request's time goes on a server: CPU per request (billgate, the
PostgreSQL backends, the load generator) and a sampling profile of the server by library.

    .venv/bin/python -m bench.profile [seconds]    # PostgreSQL (BILLGATE_BENCH_POSTGRES_URL)
    BENCH_SQLITE=1 .venv/bin/python -m bench.profile

One ``billgate serve`` (one worker, scheduler off) on a fresh database; for each operation,
wrk (one thread, 16 connections) keeps it busy while py-spy samples it (``pip install
py-spy``; non-blocking, so the server is not paused). Each sample is put to the innermost
frame that belongs to a library or to billgate (the standard library's frames count for
whoever called them), so "asyncpg" is the driver's Python and Cython code, "event loop" what
is left (uvloop's callbacks, asyncio itself). Figures are shares of the server's samples.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench import wrk
from bench.catalog import prepare
from bench.hot_path import AUTH, CUSTOMER, KEY, OPERATIONS, TYPENAME, _prepare_customer
from bench.postgres import base_url, fresh_database
from bench.servers import BIN, billgate, free_port

MEASURED = {"{ __typename }": TYPENAME, **{k: v for k, v in OPERATIONS.items()
                                           if not k.startswith("catalog")}}
# (label, pattern on a frame's file as py-spy names it: "asyncpg/pool.py"); the innermost
# frame that matches one wins.
CATEGORIES = [
    # uvicorn's start-up frames sit under everything the loop runs: samples with nothing
    # above them are the loop itself and native callbacks (uvloop, asyncpg's Cython
    # protocol, httptools' parser), unless --native names them.
    ("event loop, native", re.compile(r"^(uvicorn/(main|server|_compat)\.py|asyncio/runners\.py)")),
    ("asyncpg", re.compile(r"^asyncpg/")),
    ("SQLAlchemy", re.compile(r"^sqlalchemy/")),
    ("GraphQL parse+validate", re.compile(r"^graphql/(language|validation)/")),
    ("GraphQL execute", re.compile(r"^graphql/")),
    ("Strawberry", re.compile(r"^strawberry/")),
    ("HTTP (uvicorn, starlette)", re.compile(r"^(uvicorn|starlette|httptools|h11)/")),
    ("billgate direct path", re.compile(r"^billgate/(db/direct|billing/items/direct|"
                                        r"billing/purchases/access|billing/customers)\.py")),
    ("billgate", re.compile(r"^billgate/")),
    ("JSON", re.compile(r"^(orjson|json)/")),
]
FRAME = re.compile(r"\((?P<file>[^:()]+):\d+\)$")


def categorise(raw: str) -> Counter[str]:
    """Samples per category from py-spy's raw (collapsed) output."""
    shares: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        label = "other"
        for frame in reversed(stack.split(";")):
            match = FRAME.search(frame)
            file = match.group("file") if match else frame
            found = next((name for name, pattern in CATEGORIES if pattern.search(file)), None)
            if found:
                label = found
                break
        shares[label] += int(count)
    return shares


def profile(port: int, pid: int, query: str, seconds: float, database: str,
            folder: Path) -> tuple[wrk.Round, Counter[str]]:
    script = wrk.write_script(folder / "request.lua", {"query": query, "variables": {"c": CUSTOMER}},
                              AUTH["Authorization"])
    wrk.run(port, script, 1, pid, database)  # warm-up
    output = folder / "profile.txt"
    # --native names C and Cython frames, but pauses the server for each sample.
    mode = ["--native"] if os.environ.get("BENCH_NATIVE") else ["--nonblocking"]
    spy = subprocess.Popen([str(BIN / "py-spy"), "record", "--pid", str(pid), "--rate", "200",
                            "--duration", str(int(seconds)), *mode, "--format", "raw",
                            "--output", str(output)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    measured = wrk.run(port, script, seconds, pid, database)
    spy.wait(30)
    raw = output.read_text() if output.exists() else ""
    if os.environ.get("BENCH_KEEP_PROFILES"):
        Path(os.environ["BENCH_KEEP_PROFILES"]).mkdir(parents=True, exist_ok=True)
        (Path(os.environ["BENCH_KEEP_PROFILES"]) / f"{pid}-{abs(hash(query))}.txt").write_text(raw)
    return measured, categorise(raw)


def main(seconds: float) -> None:
    wrk.require_wrk()
    sqlite = bool(os.environ.get("BENCH_SQLITE"))
    base = "" if sqlite else base_url()
    if not sqlite and not base:
        raise SystemExit("no PostgreSQL: set BILLGATE_BENCH_POSTGRES_URL (or BENCH_SQLITE=1)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with (fresh_database(base) if base else _sqlite(folder)) as url:
            prepare(url)
            database = url.rsplit("/", 1)[1] if base else ""
            env = {"BILLGATE_DATABASE_URL": url, "BILLGATE_TEST_MODE": "true",
                   "BILLGATE_SECRET_KEYS": KEY, "BILLGATE_SCHEDULER": "off",
                   "BILLGATE_JSON_LOGS": "false"}
            port = free_port()
            with billgate(env, port) as server:
                asyncio.run(_prepare_customer(port))
                results = {name: profile(port, server.pid, query, seconds, database, folder)
                           for name, query in MEASURED.items()}
    _print(results, "SQLite" if sqlite else "PostgreSQL")


def _sqlite(folder: Path):  # noqa: ANN202 - a context manager of a URL
    import contextlib

    return contextlib.nullcontext(f"sqlite+aiosqlite:///{folder / 'bench.db'}")


def _print(results: dict[str, tuple[wrk.Round, Counter[str]]], database: str) -> None:
    labels = [name for name, _ in CATEGORIES] + ["other"]
    print(f"profile on {database} (wrk -t1 -c16): CPU per request in ms, then the server's "
          "samples by library (%)")
    print(f"  {'operation':32} {'req/s':>6} {'server':>7} {'backends':>8} {'wrk':>5}  "
          + "  ".join(f"{label}" for label in labels))
    for name, (measured, shares) in results.items():
        total = sum(shares.values()) or 1
        per = {k: 1000 * getattr(measured, k) / measured.requests
               for k in ("server_cpu", "backend_cpu", "wrk_cpu")}
        cells = "  ".join(f"{100 * shares[label] / total:>{len(label)}.0f}" for label in labels)
        print(f"  {name:32} {measured.rate:>6.0f} {per['server_cpu']:>7.2f} "
              f"{per['backend_cpu']:>8.2f} {per['wrk_cpu']:>5.2f}  {cells}"
              + (f"  ERRORS {measured.errors}" if measured.errors else ""), flush=True)
    print(f"  (machine busy {sum(m.machine_busy for m, _ in results.values()) / len(results):.0%} "
          "on average, other users included)")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 8)
