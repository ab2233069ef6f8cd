"""billgate behind a real PgBouncer in transaction mode (Debian's ``pgbouncer`` package,
started by the test on a free port): requests run through PgBouncer with the setting the
README gives (``?prepared_statement_cache_size=0``), the event bus connects to PostgreSQL
directly (LISTEN needs a session of its own), and a burst of reads, consumptions and grants
over two servers answers without an error and leaves exact balances.

Skipped where no ``pgbouncer`` binary is installed (``apt-get install pgbouncer``).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from servers import (
    BALANCE_QUERY,
    SERVER_KEY,
    TRY_DECREASE_MUTATION,
    free_port,
    increase_mutation,
    postgres_bus_url,
    prepared_database,
    require_postgres,
    running,
    server_env,
    stop_process,
)
from sqlalchemy.engine import make_url

AUTH = {"Authorization": f"Bearer {SERVER_KEY}"}
BALANCE, TRY_DECREASE, INCREASE = BALANCE_QUERY, TRY_DECREASE_MUTATION, increase_mutation(3)
HAS_ACCESS = 'query ($c: CustomerRef!) { customer(customer: $c) { hasAccess(productId: "x") } }'
CUSTOMERS = 8
REQUESTS = 160


def owner(request: int) -> int:
    """The customer of the ``request``-th request: four requests in a row, one of each kind."""
    return (request // 4) % CUSTOMERS


@pytest.fixture
def pgbouncer() -> Iterator[int]:
    """A PgBouncer in transaction mode in front of the test server; its port."""
    binary = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer"
                                          if Path("/usr/sbin/pgbouncer").exists() else None)
    if binary is None:
        pytest.skip("pgbouncer is not installed (Debian: apt-get install pgbouncer)")
    server = make_url(require_postgres())
    folder = Path(tempfile.mkdtemp(prefix="billgate-pgbouncer-"))
    port = free_port()
    (folder / "userlist.txt").write_text(f'"{server.username}" ""\n')
    # statement_timeout is a startup parameter PgBouncer 1.18 does not pass on: it is
    # ignored here and set on the server instead (README, "Behind PgBouncer").
    (folder / "pgbouncer.ini").write_text(f"""
[databases]
* = host={server.host} port={server.port or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder / "userlist.txt"}
pool_mode = transaction
default_pool_size = 6
max_client_conn = 500
ignore_startup_parameters = extra_float_digits,statement_timeout
logfile = {folder / "pgbouncer.log"}
""")
    args = [binary, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        for path in folder.iterdir():
            os.chown(path, user.pw_uid, user.pw_gid)
        args[1:1] = ["-u", "postgres"]
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = folder / "pgbouncer.log"
                    raise RuntimeError("pgbouncer did not start: "
                                       + (log.read_text() if log.exists() else "no log")) from None
                time.sleep(0.05)
        yield port
    finally:
        stop_process(process)
        shutil.rmtree(folder, ignore_errors=True)


def through(url: str, port: int) -> str:
    return (make_url(url).set(host="127.0.0.1", port=port)
            .update_query_dict({"prepared_statement_cache_size": "0"})
            .render_as_string(hide_password=False))


@pytest.mark.timeout(240)
async def test_billgate_runs_behind_pgbouncer_in_transaction_mode(pgbouncer: int,
                                                                  tmp_path: Path) -> None:
    async with prepared_database("postgresql", tmp_path) as url:
        # Requests queue for a connection (each process's budget, then PgBouncer's 6 server
        # connections): on a busy test machine the queue may take longer than the default 5 s.
        env = server_env(through(url, pgbouncer), bus_url=postgres_bus_url(url),
                         DB_CONNECT_TIMEOUT="30")
        with running({"a": env, "b": env}, tmp_path / "logs") as servers:
            urls = [server.url for server in servers.values()]
            async with httpx.AsyncClient(headers=AUTH, timeout=60) as client:
                async def call(n: int, query: str) -> dict:
                    customer = {"type": "USER", "customerId": f"bouncer-{owner(n)}"}
                    response = await client.post(f"{urls[n % 2]}/graphql", json={
                        "query": query, "variables": {"c": customer}})
                    assert response.status_code == 200, response.text
                    return response.json()

                queries = [(TRY_DECREASE, INCREASE, BALANCE, HAS_ACCESS)[n % 4]
                           for n in range(REQUESTS)]
                bodies = await asyncio.gather(*(call(n, q) for n, q in enumerate(queries)))
                errors = [b["errors"] for b in bodies if b.get("errors")]
                assert not errors, f"{len(errors)} of {REQUESTS} failed, e.g. {errors[:2]}"
                consumed = [0] * CUSTOMERS
                increased = [0] * CUSTOMERS
                for n, (query, body) in enumerate(zip(queries, bodies, strict=True)):
                    if query is TRY_DECREASE and body["data"]["tryDecreaseItemQuantity"]["success"]:
                        consumed[owner(n)] += 1
                    if query is INCREASE:
                        increased[owner(n)] += 3
                assert sum(consumed) > 0
                for n in range(0, 4 * CUSTOMERS, 4):
                    body = await call(n, BALANCE)
                    assert body["data"]["customer"]["item"]["quantity"] == \
                        increased[owner(n)] - consumed[owner(n)]
