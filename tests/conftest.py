"""Shared fixtures.

The database is SQLite in a temporary folder by default. With ``BILLGATE_TEST_DATABASE_URL``
set (CI sets it), every test runs on PostgreSQL instead: the session creates a database of
its own next to the given one and drops it at the end, so parallel runs never collide.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete

from billgate.clock import FrozenClock
from billgate.db.engine import Database
from billgate.db.migrate import upgrade_async
from billgate.db.models import Base
from testdb import create_pg_database as _create_pg_database
from testdb import drop_pg_database as _drop_pg_database

PG_URL = os.environ.get("BILLGATE_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("BILLGATE_TEST_REDIS_URL", "")


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
    from billgate.billing import operator_actions

    await operator_actions.flush(database)  # lines a test queued belong to that test
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


# API fixtures -------------------------------------------------------------------------------

SERVER_KEY = "sk_test_server_key"
TOKEN_SECRET = "test-customer-token-secret-of-32-bytes-or-more"


@pytest.fixture
def settings(database_url: str):  # noqa: ANN201 - pytest fixture
    from billgate.settings import Settings

    return Settings(database_url=database_url, secret_keys=(SERVER_KEY,),
                    customer_token_secret=TOKEN_SECRET,
                    allowed_return_urls=("https://app.example.com/",))


@pytest.fixture
async def runtime(db: Database, settings):  # noqa: ANN001, ANN201
    from billgate.clock import TestClock
    from billgate.events import MemoryEventBus
    from billgate.runtime import Runtime

    bus = MemoryEventBus()
    await bus.start()
    yield Runtime(settings=settings, db=db, clock=TestClock(), secret_keys=settings.secret_keys,
                  bus=bus)
    await bus.close()


class Api:
    """Posts GraphQL to the ASGI app in-process; ``as_`` picks the caller."""

    def __init__(self, client, authorization: str | None = None) -> None:  # noqa: ANN001
        self.client = client
        self.authorization = authorization

    def as_(self, authorization: str | None) -> Api:
        return Api(self.client, authorization)

    def as_server(self) -> Api:
        return self.as_(f"Bearer {SERVER_KEY}")

    def as_user(self, user_id: str, teams: dict[str, str] | None = None, ttl: int = 3600) -> Api:
        from billgate.graphql.auth import mint_customer_token

        return self.as_(f"Bearer {mint_customer_token(TOKEN_SECRET, user_id, teams=teams, ttl_seconds=ttl)}")

    async def post(self, query: str, variables: dict | None = None):  # noqa: ANN201
        headers = {"Authorization": self.authorization} if self.authorization else {}
        return await self.client.post("/graphql", json={"query": query, "variables": variables or {}},
                                      headers=headers)

    async def __call__(self, query: str, variables: dict | None = None) -> dict:
        """The response body; asserts HTTP 200."""
        response = await self.post(query, variables)
        assert response.status_code == 200, response.text
        return response.json()

    async def data(self, query: str, variables: dict | None = None) -> dict:
        """The ``data`` of a response that must have no errors."""
        body = await self(query, variables)
        assert not body.get("errors"), body["errors"]
        return body["data"]


@pytest.fixture
async def app(runtime):  # noqa: ANN001, ANN201
    from billgate.app import create_app

    return create_app(runtime=runtime)


@pytest.fixture
async def api(app) -> AsyncIterator[Api]:  # noqa: ANN001
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(client).as_server()


@pytest.fixture
async def example_catalog(db: Database) -> None:
    """The README's example catalog, applied."""
    from pathlib import Path

    from billgate.billing.catalog import apply_catalog
    from billgate.billing.catalog_spec import parse_catalog
    from billgate.cli import load_catalog_file

    spec = parse_catalog(load_catalog_file(Path(__file__).parents[1] / "examples" / "catalog.yaml"))
    async with db.session() as session, session.begin():
        await apply_catalog(session, spec, now=datetime.now(UTC))
