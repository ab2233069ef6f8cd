"""PostgreSQL URLs as managed providers hand them out (``postgresql://…?sslmode=require``,
with libpq parameters): ``billgate migrate`` and ``billgate serve`` translate what asyncpg
understands and refuse the rest, another database or a string that is not a URL in one
line, never a traceback. Real processes, as an operator runs them."""

from __future__ import annotations

import asyncio
import subprocess
import urllib.request
from pathlib import Path

import pytest
from servers import BILLGATE, ROOT, require_postgres, running, server_env
from sqlalchemy.engine import make_url

from testdb import create_pg_database, drop_pg_database

LIBPQ = "sslmode=prefer&application_name=billgate-url-test&connect_timeout=7" \
        "&options=-c%20lock_timeout%3D4321"


def run(command: str, url: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**server_env(url), "BILLGATE_DATABASE_URL": url}
    return subprocess.run([str(BILLGATE), command], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr, result.stderr
    [line] = result.stderr.strip().splitlines()
    return line


@pytest.fixture
def database() -> object:
    base = require_postgres()
    url = asyncio.run(create_pg_database(base))
    yield make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    asyncio.run(drop_pg_database(base, url))


@pytest.mark.timeout(180)
def test_migrate_and_serve_with_libpq_parameters(database: str, tmp_path: Path) -> None:
    url = f"{database}?{LIBPQ}"
    migrated = run("migrate", url)
    assert migrated.returncode == 0, migrated.stderr
    assert "migrated from none to" in migrated.stderr
    with running({"s": {**server_env(url), "BILLGATE_DATABASE_URL": url}}, tmp_path) as servers:
        server = servers["s"]
        with urllib.request.urlopen(f"{server.url}/readyz", timeout=10) as ready:
            assert ready.status == 200
        names = asyncio.run(_application_names(database))
    assert "billgate-url-test" in names, \
        f"the server's connections carry the URL's application_name: {names}"


async def _application_names(database: str) -> set[str]:
    """What the other sessions on the database call themselves (PostgreSQL's own view).
    The URL's ``options`` have no outside view; a server setting asyncpg could not take
    would have failed every connection, and ``test_translation`` checks their form."""
    import asyncpg

    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch(
            "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()")
    finally:
        await conn.close()
    return {row["application_name"] for row in rows}


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_sslmode_require_against_a_server_without_tls_is_one_line(
        database: str, command: str) -> None:
    line = one_line(run(command, f"{database}?sslmode=require"))
    assert line.startswith("Error: BILLGATE_DATABASE_URL: cannot open ")
    assert "rejected SSL upgrade" in line


@pytest.mark.parametrize("command", ["migrate", "serve"])
@pytest.mark.parametrize(("url", "says"), [
    ("postgresql://u@127.0.0.1:1/db?sslmode=require&channel_binding=require",
     "the PostgreSQL parameter 'channel_binding' is not supported; billgate understands sslmode"),
    ("postgresql://u@127.0.0.1:1/db?sslmode=sometimes", "sslmode='sometimes': expected one of"),
    ("postgresql://u@127.0.0.1:1/db?options=statement_timeout",
     "options='statement_timeout': expected -c name=value"),
    ("mysql://u:secret@127.0.0.1/shop", "mysql:// databases are not supported: use "),
    ("billing database on db.internal", "not a database URL: use sqlite+aiosqlite:///"),
])
def test_urls_billgate_cannot_use_are_one_line(command: str, url: str, says: str) -> None:
    line = one_line(run(command, url, timeout=30))
    assert line.startswith("Error: BILLGATE_DATABASE_URL: ") and says in line, line
    assert "secret" not in line


def test_translation() -> None:
    from billgate.db.urls import DatabaseUrlError, normalise_database_url, postgres_connect

    connect = postgres_connect(normalise_database_url(
        "postgres://u:p@db.example:6543/app?sslmode=verify-full&sslrootcert=/ca.pem"
        "&connect_timeout=3&options=-c%20search_path%3Dbilling%20--lock-timeout%3D5s"
        "&prepared_statement_cache_size=0"))
    assert connect.url.render_as_string(hide_password=False) == \
        "postgresql+asyncpg://u:p@db.example:6543/app?prepared_statement_cache_size=0"
    assert connect.dsn_parameters == "sslmode=verify-full&sslrootcert=%2Fca.pem"
    assert connect.timeout == 3
    assert connect.server_settings == {"search_path": "billing", "lock_timeout": "5s"}
    with pytest.raises(DatabaseUrlError, match="more than once"):
        normalise_database_url("postgresql://u@h/db?sslmode=require&sslmode=disable")
