"""``billgate serve --workers 1`` against ``--workers 2`` on PostgreSQL, with wrk.

    .venv/bin/python -m bench.workers [seconds-per-round] [rounds]

Both servers run at once on one fresh database (PostgreSQL event bus, scheduler off) and
take turns under wrk (one thread, 16 connections), so a disturbance from elsewhere on the
machine lands on both. Each line: requests/s of each, the median of the rounds' ratios
(2 workers / 1) and their range, and where the CPU went during the rounds: the billgate
processes, the PostgreSQL backends of the database, wrk itself, and the whole machine's
busy share (other users of a shared machine included). Needs ``wrk`` (Debian: ``apt-get
install wrk``) and a PostgreSQL server (``BILLGATE_BENCH_POSTGRES_URL``, see bench/postgres.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.catalog import prepare
from bench.hot_path import AUTH, CUSTOMER, KEY, OPERATIONS, TYPENAME, _prepare_customer
from bench.postgres import base_url, fresh_database
from bench.servers import billgate, free_port

TICKS = os.sysconf("SC_CLK_TCK")
MEASURED = {"{ __typename }": TYPENAME,
            "balance read (customer.item)": OPERATIONS["balance read (customer.item)"],
            "tryDecreaseItemQuantity(1)": OPERATIONS["tryDecreaseItemQuantity(1)"]}
LUA = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = {auth}
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args) errors = 0 end
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then errors = errors + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("errors") end
  io.write("graphql-errors: " .. total .. "\\n")
end
"""


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid Lua string literal here


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _tree(pid: int) -> list[int]:
    """``pid`` and its children (uvicorn's supervisor and its workers)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            pids += _tree(int(child))
    return pids


def _backends(database: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if cmdline.startswith("postgres: ") and f" {database} " in cmdline:
                found.append(int(entry.name))
    return found


def _cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):  # a process that ended meanwhile
            total += _cpu_seconds(pid)
    return total


def _machine() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


@dataclass
class Round:
    rate: float
    errors: int
    seconds: float
    server_cpu: float
    backend_cpu: float
    wrk_cpu: float
    machine_busy: float  # share of all cores


@dataclass
class Side:
    rounds: list[Round] = field(default_factory=list)

    def mean(self, name: str) -> float:
        return sum(getattr(r, name) for r in self.rounds) / len(self.rounds)


def _wrk(port: int, script: Path, seconds: float, server_pid: int, database: str) -> Round:
    pids = _tree(server_pid)
    backends = _backends(database)
    before = (_cpu_of(pids), _cpu_of(backends), _machine())
    proc = subprocess.Popen(["wrk", "-t1", "-c16", f"-d{seconds:g}s", "-s", str(script),
                             f"http://127.0.0.1:{port}/graphql"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    output = proc.stdout.read().decode() if proc.stdout else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    backends = sorted(set(backends) | set(_backends(database)))
    busy, total = (after - start for after, start in zip(_machine(), before[2], strict=True))
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"graphql-errors: (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if rate is None or errors is None:
        raise RuntimeError(f"wrk said: {output}")
    return Round(rate=float(rate.group(1)),
                 errors=int(errors.group(1)) + int(non_2xx.group(1) if non_2xx else 0),
                 seconds=seconds, server_cpu=_cpu_of(pids) - before[0],
                 backend_cpu=_cpu_of(backends) - before[1],
                 wrk_cpu=usage.ru_utime + usage.ru_stime, machine_busy=busy / total)


def compare(seconds: float = 4, rounds: int = 5) -> dict[str, tuple[Side, Side]]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    base = base_url()
    if not base:
        raise RuntimeError("no PostgreSQL: set BILLGATE_BENCH_POSTGRES_URL")
    results: dict[str, tuple[Side, Side]] = {}
    with fresh_database(base) as url, tempfile.TemporaryDirectory() as tmp:
        prepare(url)
        database = url.rsplit("/", 1)[1]
        bus = url.replace("postgresql+asyncpg", "postgresql", 1)
        env = {"BILLGATE_DATABASE_URL": url, "BILLGATE_TEST_MODE": "true",
               "BILLGATE_SECRET_KEYS": KEY, "BILLGATE_SCHEDULER": "off",
               "BILLGATE_JSON_LOGS": "false", "BILLGATE_EVENT_BUS_URL": bus}
        one, two = free_port(), free_port()
        with billgate(env, one, workers=1) as p1, billgate(env, two, workers=2) as p2:
            asyncio.run(_prepare_customer(one))
            for name, query in MEASURED.items():
                script = Path(tmp) / "request.lua"
                body = json.dumps({"query": query, "variables": {"c": CUSTOMER}})
                script.write_text(LUA.format(body=_lua_string(body),
                                             auth=_lua_string(AUTH["Authorization"])))
                for port, pid in ((one, p1.pid), (two, p2.pid)):  # warm-up
                    _wrk(port, script, 1, pid, database)
                sides = (Side(), Side())
                for _ in range(rounds):
                    sides[0].rounds.append(_wrk(one, script, seconds, p1.pid, database))
                    sides[1].rounds.append(_wrk(two, script, seconds, p2.pid, database))
                results[name] = sides
    return results


def print_table(results: dict[str, tuple[Side, Side]]) -> None:
    print("billgate serve --workers 1 vs 2 on PostgreSQL (wrk -t1 -c16); CPU per request in ms")
    print(f"  {'operation':30} {'1 worker':>9} {'2 workers':>9}  ratio (rounds)     "
          "billgate  backends  wrk   machine busy (1 / 2)")
    for name, (one, two) in results.items():
        ratios = sorted(b.rate / a.rate for a, b in zip(one.rounds, two.rounds, strict=True))
        errors = sum(r.errors for r in one.rounds + two.rounds)

        def per_request(side: Side, what: str) -> float:
            requests = sum(r.rate * r.seconds for r in side.rounds)
            return 1000 * sum(getattr(r, what) for r in side.rounds) / requests

        cpu = " / ".join(f"{per_request(s, 'server_cpu'):.2f}" for s in (one, two))
        backend = " / ".join(f"{per_request(s, 'backend_cpu'):.2f}" for s in (one, two))
        wrk = " / ".join(f"{per_request(s, 'wrk_cpu'):.2f}" for s in (one, two))
        print(f"  {name:30} {one.mean('rate'):>7.0f}/s {two.mean('rate'):>7.0f}/s  "
              f"{ratios[len(ratios) // 2]:.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f})  "
              f"{cpu}  {backend}  {wrk}  {one.mean('machine_busy'):.0%} / "
              f"{two.mean('machine_busy'):.0%}" + (f"  ERRORS {errors}" if errors else ""),
              flush=True)


if __name__ == "__main__":
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 4
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    print_table(compare(seconds, rounds))
