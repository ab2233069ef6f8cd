"""A PostgreSQL database of the benchmark's own, created beside a given one and dropped after.

``make bench`` measures PostgreSQL next to SQLite when ``BILLGATE_BENCH_POSTGRES_URL`` (or
``BILLGATE_DATABASE_URL``) names a PostgreSQL server; the Makefile points it at the local
one (127.0.0.1:5432, database ``test``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator

from sqlalchemy.engine import make_url


def base_url() -> str:
    """The PostgreSQL URL to create benchmark databases beside ("" when none is set)."""
    for name in ("BILLGATE_BENCH_POSTGRES_URL", "BILLGATE_DATABASE_URL"):
        url = os.environ.get(name, "")
        if url.startswith("postgres"):
            return url if "+asyncpg" in url else url.replace("://", "+asyncpg://", 1).replace(
                "postgres+asyncpg", "postgresql+asyncpg", 1)
    return ""


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    parsed = make_url(url)
    conn = await asyncpg.connect(host=parsed.host, port=parsed.port or 5432,
                                 user=parsed.username, password=parsed.password,
                                 database=parsed.database)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_database(base: str) -> Iterator[str]:
    """The URL of a new, empty database on ``base``'s server, dropped on the way out."""
    name = f"billgate_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(base, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def server_version(base: str) -> str:
    """The server's version string (one line), or why it could not be read."""
    async def read() -> str:
        import asyncpg

        parsed = make_url(base)
        conn = await asyncpg.connect(host=parsed.host, port=parsed.port or 5432,
                                     user=parsed.username, password=parsed.password,
                                     database=parsed.database, timeout=5)
        try:
            return str(await conn.fetchval("SELECT version()")).split(" on ")[0]
        finally:
            await conn.close()

    try:
        return asyncio.run(read())
    except Exception as exc:  # reported in the header, the tables say the rest
        return f"unreachable ({type(exc).__name__})"
