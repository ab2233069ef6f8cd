"""Shared fixtures.

The database is SQLite in a temporary folder by default. With ``BILLGATE_TEST_DATABASE_URL``
set (CI sets it), every test runs on PostgreSQL instead: the session creates a database of
its own next to the given one and drops it at the end, so parallel runs never collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import make_url

from billgate.clock import FrozenClock
from billgate.db.engine import Database
from billgate.db.migrate import upgrade_async
from billgate.db.models import Base

PG_URL = os.environ.get("BILLGATE_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("BILLGATE_TEST_REDIS_URL", "")


async def _create_pg_database(base_url: str) -> str:
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


async def _drop_pg_database(base_url: str, test_url: str) -> None:
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


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A migrated, empty database for this test session."""
    if PG_URL:
        url = await _create_pg_database(PG_URL)
        await upgrade_async(url)
        yield url
        await _drop_pg_database(PG_URL, url)
    else:
        path = tmp_path_factory.mktemp("db") / "billgate.db"
        url = f"sqlite+aiosqlite:///{path}"
        await upgrade_async(url)
        yield url


@pytest.fixture(scope="session")
async def session_database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


async def wipe(database: Database) -> None:
    async with database.session() as session, session.begin():
        for table in reversed(Base.metadata.sorted_tables):
            await session.execute(delete(table))


@pytest.fixture
async def db(session_database: Database) -> AsyncIterator[Database]:
    """The session's database, emptied after each test."""
    yield session_database
    await wipe(session_database)


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    yield FrozenClock(datetime(2026, 1, 31, 12, 0, tzinfo=UTC))
