"""Creating and dropping a PostgreSQL database of its own for a test run (importable from
any test module: ``from testdb import create_pg_database``)."""

from __future__ import annotations

import os
import uuid

from sqlalchemy.engine import make_url

PG_URL = os.environ.get("BILLGATE_TEST_DATABASE_URL", "")


async def create_pg_database(base_url: str) -> str:
    import asyncpg

    url = make_url(base_url)
    name = f"billgate_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password,
        database=url.database,
    )
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.set(database=name).render_as_string(hide_password=False)


async def drop_pg_database(base_url: str, test_url: str) -> None:
    import asyncpg

    url = make_url(base_url)
    name = make_url(test_url).database
    conn = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password,
        database=url.database,
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


