"""A database that hangs, or that cannot take writes: ``/readyz`` says 503 and requests fail
fast with ``DATABASE_UNAVAILABLE``, never an "Unexpected error." minutes later.

The hung PostgreSQL is a local TCP listener that accepts connections and never answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from billgate.app import create_app
from billgate.clock import TestClock
from billgate.db.engine import Database
from billgate.runtime import Runtime


@pytest.fixture
async def hung_database_url() -> AsyncIterator[str]:
    held: list[asyncio.StreamWriter] = []

    async def accept_and_never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept_and_never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"postgresql+asyncpg://billgate@127.0.0.1:{port}/billgate"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def client_for(settings, db: Database) -> httpx.AsyncClient:  # noqa: ANN001
    runtime = Runtime(settings=settings, db=db, clock=TestClock(), secret_keys=settings.secret_keys)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime=runtime)),
                             base_url="http://testserver",
                             headers={"Authorization": f"Bearer {settings.secret_keys[0]}"})


@pytest.fixture
async def hung(settings, hung_database_url: str) -> AsyncIterator[httpx.AsyncClient]:  # noqa: ANN001
    settings = replace(settings, database_url=hung_database_url, db_connect_timeout=0.5)
    db = Database(hung_database_url, **settings.database_options)
    async with await client_for(settings, db) as client:
        yield client
    await db.dispose()


class TestHungDatabase:
    async def test_readyz_answers_503(self, hung) -> None:  # noqa: ANN001
        response = await hung.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"

    async def test_a_query_fails_with_database_unavailable(self, hung) -> None:  # noqa: ANN001
        body = (await hung.post("/graphql", json={"query": "{ productLines { productLineId } }"})).json()
        [error] = body["errors"]
        assert error["extensions"] == {"code": "DATABASE_UNAVAILABLE"}
        assert error["message"].startswith("the database is unavailable")

    async def test_a_mutation_fails_with_database_unavailable(self, hung) -> None:  # noqa: ANN001
        query = ('mutation { increaseItemQuantity(input: {customer: {type: USER, customerId: "u1"}, '
                 'itemId: "credits", amount: 1}) { userErrors { code } } }')
        body = (await hung.post("/graphql", json={"query": query})).json()
        assert [e["extensions"]["code"] for e in body["errors"]] == ["DATABASE_UNAVAILABLE"]


class TestReadiness:
    async def test_a_working_database_is_ready(self, settings, db) -> None:  # noqa: ANN001
        async with await client_for(settings, db) as client:
            response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["status"] == "ok"

    async def test_a_database_that_takes_no_writes_is_not_ready(self, settings, database_url) -> None:  # noqa: ANN001
        if not database_url.startswith("sqlite"):
            pytest.skip("SQLite's read-only mode stands in for an unwritable WAL")
        path = database_url.split(":///", 1)[1]
        read_only = Database(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true")
        try:
            async with await client_for(settings, read_only) as client:
                response = await client.get("/readyz")
        finally:
            await read_only.dispose()
        assert response.status_code == 503
        assert "readonly" in response.json()["database"]
