"""``BILLGATE_DB_MAX_CONNECTIONS`` bounds every PostgreSQL connection of a process: three real
``billgate serve`` processes and a ``billgate worker`` (PostgreSQL event bus, scheduler on in
the worker) under a burst of reads, consumptions, grants and first references never hold
more than processes x budget connections to their database (``pg_stat_activity``, sampled
all along), and no request fails: those beyond the budget wait for a connection.

Before the budget one process could open 10 pooled + 20 overflow + 10 direct + 5 bus
connections: a burst like this one went far past the bound, and on a default server
(``max_connections`` 100) requests failed with DATABASE_UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from servers import (
    BALANCE_QUERY,
    SERVER_KEY,
    TRY_DECREASE_MUTATION,
    increase_mutation,
    postgres_bus_url,
    prepared_database,
    require_postgres,
    running,
    server_env,
    worker_running,
)
from sqlalchemy.engine import make_url

BUDGET = 5  # the bus takes 2: SQLAlchemy's pool 2, the direct pool 1
SERVERS = 3
PROCESSES = SERVERS + 1  # and the worker
PER_SERVER = 150
AUTH = {"Authorization": f"Bearer {SERVER_KEY}"}

OPERATIONS = [BALANCE_QUERY, TRY_DECREASE_MUTATION, increase_mutation(2), BALANCE_QUERY,
              TRY_DECREASE_MUTATION]


class Sampler:
    """Counts the database's connections in ``pg_stat_activity`` every few milliseconds
    (from a connection to another database, so it never counts itself)."""

    def __init__(self, base_url: str, database: str) -> None:
        self.base_url, self.database = base_url, database
        self.peak = 0
        self.peak_by_name: Counter[str] = Counter()
        self.samples = 0

    async def run(self, stop: asyncio.Event) -> None:
        import asyncpg

        url = make_url(self.base_url)
        conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                     password=url.password, database=url.database)
        try:
            while not stop.is_set():
                rows = await conn.fetch("SELECT application_name, count(*) FROM pg_stat_activity "
                                        "WHERE datname = $1 GROUP BY 1", self.database)
                by_name = Counter({row[0]: row[1] for row in rows})
                self.samples += 1
                if sum(by_name.values()) > self.peak:
                    self.peak, self.peak_by_name = sum(by_name.values()), by_name
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.01)
        finally:
            await conn.close()


async def burst(server_url: str, server_index: int) -> list[str]:
    """``PER_SERVER`` requests at once; the problems of those that failed."""
    limits = httpx.Limits(max_connections=PER_SERVER, max_keepalive_connections=PER_SERVER)
    async with httpx.AsyncClient(base_url=server_url, headers=AUTH, limits=limits,
                                 timeout=60) as client:
        async def one(n: int) -> str | None:
            # Ten customers per server, some new (first references take the normal path).
            customer = {"type": "USER", "customerId": f"budget-{server_index}-{n % 10}"}
            query = OPERATIONS[n % len(OPERATIONS)]
            response = await client.post("/graphql", json={"query": query,
                                                           "variables": {"c": customer}})
            body = response.json() if response.status_code == 200 else {}
            if response.status_code != 200 or body.get("errors"):
                return f"{response.status_code} {response.text[:200]}"
            return None

        results = await asyncio.gather(*(one(n) for n in range(PER_SERVER)))
    return [problem for problem in results if problem]


@pytest.mark.timeout(240)
async def test_processes_never_exceed_their_connection_budget_and_no_request_fails(
        tmp_path: Path) -> None:
    base = require_postgres()
    async with prepared_database("postgresql", tmp_path) as url:
        env = server_env(url, bus_url=postgres_bus_url(url), DB_MAX_CONNECTIONS=str(BUDGET),
                         DB_CONNECT_TIMEOUT="30")
        with worker_running(env, tmp_path / "worker.log", interval="0.05") as worker, \
                running({f"s{i}": env for i in range(SERVERS)}, tmp_path / "logs") as servers:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
            sampler = Sampler(base, make_url(url).database or "")
            stop = asyncio.Event()
            sampling = asyncio.create_task(sampler.run(stop))
            started = time.monotonic()
            problems = await asyncio.gather(*(burst(server.url, i) for i, server
                                              in enumerate(servers.values())))
            elapsed = time.monotonic() - started
            await asyncio.sleep(0.3)  # connections closing after the burst count too
            stop.set()
            await sampling
    failed = [p for server_problems in problems for p in server_problems]
    assert not failed, f"{len(failed)} of {SERVERS * PER_SERVER} failed, e.g. {failed[:3]}"
    assert sampler.samples > 10
    bound = PROCESSES * BUDGET
    assert 0 < sampler.peak <= bound, (f"peak {sampler.peak} connections > {bound} "
                                       f"({dict(sampler.peak_by_name)}) in {elapsed:.1f} s")
    print(f"peak {sampler.peak} of {bound} connections ({dict(sampler.peak_by_name)}), "
          f"{SERVERS * PER_SERVER} requests in {elapsed:.1f} s, {sampler.samples} samples")


def test_the_budget_too_small_for_the_postgres_bus_is_refused_in_one_line() -> None:
    from billgate.settings import ConfigError, Settings

    with pytest.raises(ConfigError, match="BILLGATE_DB_MAX_CONNECTIONS: 2 is too few"):
        Settings.from_env({"BILLGATE_DB_MAX_CONNECTIONS": "2",
                           "BILLGATE_EVENT_BUS_URL": "postgresql://db/x"})
    assert Settings.from_env({"BILLGATE_DB_MAX_CONNECTIONS": "1"}).database_options[
        "max_connections"] == 1


async def test_the_budget_is_split_into_pools_that_never_overflow() -> None:
    from billgate.db.engine import Database
    from billgate.settings import Settings

    settings = Settings.from_env({"BILLGATE_DATABASE_URL": "postgresql://db.invalid/x",
                                  "BILLGATE_EVENT_BUS_URL": "postgresql://db.invalid/x"})
    db = Database(settings.database_url, **settings.database_options)  # connects lazily
    try:
        assert (db.engine.pool.size(), db.engine.pool._max_overflow) == (4, 0)  # type: ignore[attr-defined]
        assert db.direct is not None and db.direct._max_size == 4  # type: ignore[attr-defined]
    finally:
        await db.dispose()
    # Nothing left for the direct pool: the hot path takes the normal path.
    db = Database("postgresql://db.invalid/x", max_connections=1)
    try:
        assert db.engine.pool.size() == 1 and db.direct is None  # type: ignore[attr-defined]
    finally:
        await db.dispose()
