"""``billgate serve --workers 1`` against ``--workers 2`` on PostgreSQL, with wrk.

    .venv/bin/python -m bench.workers [seconds-per-round] [rounds]
    BENCH_COMPARE=budget .venv/bin/python -m bench.workers   # BILLGATE_DB_MAX_CONNECTIONS 10 vs 40

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
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench import wrk
from bench.catalog import prepare
from bench.hot_path import AUTH, CUSTOMER, KEY, OPERATIONS, TYPENAME, _prepare_customer
from bench.postgres import base_url, fresh_database
from bench.servers import billgate, free_port

MEASURED = {"{ __typename }": TYPENAME,
            "balance read (customer.item)": OPERATIONS["balance read (customer.item)"],
            "tryDecreaseItemQuantity(1)": OPERATIONS["tryDecreaseItemQuantity(1)"]}


@dataclass
class Side:
    rounds: list[wrk.Round] = field(default_factory=list)

    def mean(self, name: str) -> float:
        return sum(getattr(r, name) for r in self.rounds) / len(self.rounds)

    def per_request_ms(self, name: str) -> float:
        return 1000 * sum(getattr(r, name) for r in self.rounds) / sum(
            r.requests for r in self.rounds)


# Two server configurations (label, workers, environment) measured against each other.
Config = tuple[str, int, dict[str, str]]
CONFIGS: dict[str, tuple[Config, Config]] = {
    "workers": (("1 worker", 1, {}), ("2 workers", 2, {})),
    "budget": (("budget 10", 1, {"BILLGATE_DB_MAX_CONNECTIONS": "10"}),
               ("budget 40", 1, {"BILLGATE_DB_MAX_CONNECTIONS": "40"})),
}


def compare(seconds: float = 4, rounds: int = 5,
            configs: tuple[Config, Config] = CONFIGS["workers"]) -> dict[str, tuple[Side, Side]]:
    wrk.require_wrk()
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
        (_, workers1, env1), (_, workers2, env2) = configs
        with billgate({**env, **env1}, one, workers=workers1) as p1, \
                billgate({**env, **env2}, two, workers=workers2) as p2:
            asyncio.run(_prepare_customer(one))
            for name, query in MEASURED.items():
                script = wrk.write_script(Path(tmp) / "request.lua",
                                          {"query": query, "variables": {"c": CUSTOMER}},
                                          AUTH["Authorization"])
                for port, pid in ((one, p1.pid), (two, p2.pid)):  # warm-up
                    wrk.run(port, script, 1, pid, database)
                sides = (Side(), Side())
                for _ in range(rounds):
                    sides[0].rounds.append(wrk.run(one, script, seconds, p1.pid, database))
                    sides[1].rounds.append(wrk.run(two, script, seconds, p2.pid, database))
                results[name] = sides
    return results


def print_table(results: dict[str, tuple[Side, Side]],
                configs: tuple[Config, Config] = CONFIGS["workers"]) -> None:
    first, second = configs[0][0], configs[1][0]
    print(f"billgate serve, {first} vs {second}, on PostgreSQL (wrk -t1 -c16); "
          "CPU per request in ms")
    print(f"  {'operation':30} {first:>9} {second:>9}  ratio (rounds)     "
          "billgate  backends  wrk   machine busy")
    for name, (one, two) in results.items():
        ratios = sorted(b.rate / a.rate for a, b in zip(one.rounds, two.rounds, strict=True))
        errors = sum(r.errors for r in one.rounds + two.rounds)

        cpu = " / ".join(f"{s.per_request_ms('server_cpu'):.2f}" for s in (one, two))
        backend = " / ".join(f"{s.per_request_ms('backend_cpu'):.2f}" for s in (one, two))
        load = " / ".join(f"{s.per_request_ms('wrk_cpu'):.2f}" for s in (one, two))
        print(f"  {name:30} {one.mean('rate'):>7.0f}/s {two.mean('rate'):>7.0f}/s  "
              f"{ratios[len(ratios) // 2]:.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f})  "
              f"{cpu}  {backend}  {load}  {one.mean('machine_busy'):.0%} / "
              f"{two.mean('machine_busy'):.0%}" + (f"  ERRORS {errors}" if errors else ""),
              flush=True)


if __name__ == "__main__":
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 4
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    configs = CONFIGS[os.environ.get("BENCH_COMPARE", "workers")]
    print_table(compare(seconds, rounds, configs), configs)
