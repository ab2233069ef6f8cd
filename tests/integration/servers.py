"""Real ``billgate serve`` processes for the integration tests.

``prepared_database`` gives a test a migrated database of its own with a small catalog
(a SQLite file, or a PostgreSQL database created beside ``BILLGATE_TEST_DATABASE_URL`` and
dropped afterwards). ``running`` starts one or more servers on free ports exactly as a user
runs them (``billgate serve``: uvicorn, one worker), waits a bounded time for each
``/readyz``, and always terminates them: SIGTERM, then SIGKILL after a few seconds. Server
output goes to a log file whose tail is shown when a server fails to start.

The servers run without the in-process scheduler (``BILLGATE_SCHEDULER=false``): these tests
are about requests and live events, and the scheduler has tests of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

PG_URL = os.environ.get("BILLGATE_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("BILLGATE_TEST_REDIS_URL", "")

ROOT = Path(__file__).resolve().parents[2]
BILLGATE = Path(sys.executable).parent / "billgate"

SERVER_KEY = "sk_test_integration_server_key"
TOKEN_SECRET = "integration-customer-token-secret-of-32-bytes-or-more"

WS_SUBPROTOCOL = "graphql-transport-ws"
WS_WAIT = 15.0  # seconds for one expected WebSocket message on a busy machine
READY_TIMEOUT = 60.0  # a busy two-core machine may need a while to import and migrate-check
STOP_TIMEOUT = 10.0

CATALOG = {"items": [
    {"itemId": "credits", "displayName": "AI credits", "customerType": "USER"},
    {"itemId": "seats", "displayName": "Seats", "customerType": "TEAM"},
]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def client_token(user_id: str, *, teams: Mapping[str, str] | None = None,
                 ttl_seconds: int = 3600) -> str:
    from billgate.graphql.auth import mint_customer_token

    return mint_customer_token(TOKEN_SECRET, user_id, teams=teams, ttl_seconds=ttl_seconds)


def require_postgres() -> str:
    if not PG_URL:
        pytest.skip("BILLGATE_TEST_DATABASE_URL is not set (CI sets it): no PostgreSQL to test on")
    return PG_URL


def require_redis() -> str:
    if not REDIS_URL:
        pytest.skip("BILLGATE_TEST_REDIS_URL is not set (CI sets it): no Redis to test on")
    return REDIS_URL


def postgres_bus_url(database_url: str) -> str:
    """The same database as a plain ``postgresql://`` URL for ``BILLGATE_EVENT_BUS_URL``."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


# Databases ---------------------------------------------------------------------------------


async def _admin(base_url: str, statement: str) -> None:
    import asyncpg

    url = make_url(base_url)
    conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                 password=url.password, database=url.database)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def prepared_database(kind: str, folder: Path) -> AsyncIterator[str]:
    """A migrated database with ``CATALOG`` applied, of ``kind`` "sqlite" (a file in
    ``folder``) or "postgresql" (skips without ``BILLGATE_TEST_DATABASE_URL``)."""
    from billgate.db.migrate import upgrade_async

    if kind == "postgresql":
        base = require_postgres()
        name = f"billgate_it_{uuid.uuid4().hex[:12]}"
        await _admin(base, f'CREATE DATABASE "{name}"')
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
    elif kind == "sqlite":
        base = ""
        url = f"sqlite+aiosqlite:///{folder / 'billgate.db'}"
    else:
        raise ValueError(f"unknown database kind {kind!r}")
    try:
        await upgrade_async(url)
        await apply_catalog_file(url, CATALOG)
        yield url
    finally:
        if base:
            await _admin(base, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


async def apply_catalog_file(url: str, catalog: Any) -> None:
    """Apply ``catalog`` (parsed YAML or JSON) to the database at ``url``, as `billgate
    catalog apply` does."""
    from billgate.billing.catalog import apply_catalog
    from billgate.billing.catalog_spec import parse_catalog
    from billgate.db.engine import Database

    db = Database(url)
    try:
        async with db.session() as session, session.begin():
            await apply_catalog(session, parse_catalog(catalog), now=datetime.now(UTC))
    finally:
        await db.dispose()


async def apply_example_catalog(url: str) -> None:
    """examples/catalog.yaml, what `make run` serves."""
    import yaml

    await apply_catalog_file(url, yaml.safe_load((ROOT / "examples" / "catalog.yaml").read_text()))


def audit(url: str) -> None:
    """`billgate audit` on the database at ``url`` finds nothing wrong."""
    result = subprocess.run([str(BILLGATE), "audit"], env={**server_env(url)}, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def suite_database_kind() -> str:
    """The suite's database: PostgreSQL when ``BILLGATE_TEST_DATABASE_URL`` is set."""
    return "postgresql" if PG_URL else "sqlite"


# Servers -----------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def server_env(database_url: str, *, bus_url: str = "memory://", bus_channel: str = "",
               **extra: str) -> dict[str, str]:
    """The environment of one server: the caller's, less every ``BILLGATE_*`` variable,
    plus ours (``extra`` as ``NAME=value`` without the prefix)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLGATE_")}
    env.update({
        "BILLGATE_DATABASE_URL": database_url,
        "BILLGATE_SECRET_KEYS": SERVER_KEY,
        "BILLGATE_CUSTOMER_TOKEN_SECRET": TOKEN_SECRET,
        "BILLGATE_TEST_MODE": "true",
        "BILLGATE_EVENT_BUS_URL": bus_url,
        "BILLGATE_SCHEDULER": "false",
        "BILLGATE_SHUTDOWN_GRACE_SECONDS": "2",
    })
    if bus_channel:
        env["BILLGATE_EVENT_BUS_CHANNEL"] = bus_channel
    env.update({f"BILLGATE_{k}": v for k, v in extra.items()})
    return env


def _start(name: str, env: dict[str, str], log_dir: Path, workers: int = 1) -> Server:
    port = free_port()
    log_path = log_dir / f"{name}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BILLGATE), "serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers)],
            env={**env, "BILLGATE_PORT": str(port)}, cwd=ROOT, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT,
        )
    return Server(name, port, process, log_path)


def _wait_ready(server: Server, deadline: float) -> None:
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"billgate serve ({server.name}) exited with "
                               f"{server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"billgate serve ({server.name}) not ready after "
                               f"{READY_TIMEOUT:.0f}s:\n{server.log_tail()}")
        time.sleep(0.1)


def _stop(server: Server) -> None:
    process = server.process
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)


@contextlib.contextmanager
def running(envs: Mapping[str, dict[str, str]], log_dir: Path,
            workers: int = 1) -> Iterator[dict[str, Server]]:
    """Start one ``billgate serve`` per ``envs`` entry (name -> environment), all at once,
    each with ``workers`` worker processes, and wait until every one is ready; always stop
    them all on the way out."""
    log_dir.mkdir(parents=True, exist_ok=True)
    servers: dict[str, Server] = {}
    try:
        for name, env in envs.items():
            servers[name] = _start(name, env, log_dir, workers)
        deadline = time.monotonic() + READY_TIMEOUT
        for server in servers.values():
            _wait_ready(server, deadline)
        yield servers
    finally:
        for server in servers.values():
            _stop(server)


@contextlib.contextmanager
def worker_running(env: dict[str, str], log: Path,
                   interval: str = "0.2") -> Iterator[subprocess.Popen[bytes]]:
    """A ``billgate worker`` (the scheduler alone, every ``interval`` seconds); stopped with
    SIGTERM on the way out, SIGKILL if it does not stop within 15 s."""
    with log.open("wb") as out:
        worker = subprocess.Popen([str(BILLGATE), "worker"], cwd=ROOT, stdin=subprocess.DEVNULL,
                                  env={**env, "BILLGATE_SCHEDULER": "true",
                                       "BILLGATE_SCHEDULER_INTERVAL": interval},
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        yield worker
    finally:
        stop_process(worker)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not stopped within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


# The hot path's operations, on a customer given as $c.
BALANCE_QUERY = ('query ($c: CustomerRef!) { customer(customer: $c) { item(itemId: "credits") '
                 '{ quantity } } }')
TRY_DECREASE_MUTATION = """mutation ($c: CustomerRef!) { tryDecreaseItemQuantity(input: {
  customer: $c, itemId: "credits", amount: 1}) { success userErrors { code } } }"""


def increase_mutation(amount: int) -> str:
    return f"""mutation ($c: CustomerRef!) {{ increaseItemQuantity(input: {{
  customer: $c, itemId: "credits", amount: {amount}}}) {{ item {{ quantity }} userErrors {{ code }} }} }}"""


# graphql-transport-ws ------------------------------------------------------------------------


async def ws_connect(server: Server, authorization: Any = None, *, init: bool = True) -> Any:
    """A ``websockets`` connection to ``server``; with ``init``, past ``connection_init``
    (whose payload carries ``authorization`` when given) and its ``connection_ack``."""
    from websockets.asyncio.client import connect

    ws = await connect(server.ws_url, subprotocols=[WS_SUBPROTOCOL], open_timeout=WS_WAIT)
    if init:
        payload = {} if authorization is None else {"Authorization": authorization}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = await ws_receive(ws)
        assert ack["type"] == "connection_ack", ack
    return ws


async def ws_receive(ws: Any, wait: float = WS_WAIT) -> dict[str, Any]:
    """The next protocol message within ``wait`` seconds, answering pings on the way."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), wait))
        if message["type"] == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            continue
        return dict(message)
