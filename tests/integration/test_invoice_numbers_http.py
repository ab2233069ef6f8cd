"""Invoice numbers under concurrency: 30 customers finish a checkout at the same moment,
half through one ``billgate serve`` and half through another on the same PostgreSQL
database. Each checkout issues one PAID invoice; the numbers must be exactly
``INV-{year}-000001`` .. ``INV-{year}-000030``: unique and gapless, whichever replica
issued them and in whatever order their transactions committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml
from servers import ROOT, SERVER_KEY, prepared_database, running, server_env, unique
from sqlalchemy import select

from billgate.db.engine import Database
from billgate.db.models import Invoice

COPIES = 30
RETURN_URL = "http://localhost:3000/done"
CHECKOUT = """mutation ($input: CreateCheckoutUrlInput!) {
  createCheckoutUrl(input: $input) { url userErrors { code message } } }"""

pytestmark = pytest.mark.timeout(300)


async def _catalog(url: str) -> None:
    from datetime import UTC, datetime

    from billgate.billing.catalog import apply_catalog
    from billgate.billing.catalog_spec import parse_catalog

    spec = parse_catalog(yaml.safe_load((ROOT / "examples" / "catalog.yaml").read_text()))
    db = Database(url)
    try:
        async with db.session() as session, session.begin():
            await apply_catalog(session, spec, now=datetime.now(UTC))
    finally:
        await db.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
async def two_servers(request: pytest.FixtureRequest,
                      tmp_path: Path) -> AsyncIterator[tuple[list[str], str]]:
    async with prepared_database(request.param, tmp_path) as url:
        await _catalog(url)
        env = server_env(url, ALLOWED_RETURN_URLS="localhost")
        with running({"a": env, "b": env}, tmp_path / "logs") as servers:
            yield [servers["a"].url, servers["b"].url], url


async def _checkout_code(http: httpx.AsyncClient, user_id: str) -> str:
    response = await http.post("/graphql", headers={"Authorization": f"Bearer {SERVER_KEY}"}, json={
        "query": CHECKOUT, "variables": {"input": {
            "customer": {"type": "USER", "customerId": user_id}, "productId": "pro",
            "priceId": "pro-monthly", "returnUrl": RETURN_URL}}})
    made = response.json()["data"]["createCheckoutUrl"]
    assert made["userErrors"] == [], made
    return str(made["url"]).rsplit("/", 1)[1]


async def test_30_checkouts_on_two_servers_get_gapless_invoice_numbers(
        two_servers: tuple[list[str], str]) -> None:
    urls, database_url = two_servers
    limits = httpx.Limits(max_connections=COPIES, max_keepalive_connections=COPIES)
    clients = [httpx.AsyncClient(base_url=url, limits=limits, timeout=120) for url in urls]
    try:
        codes = [await _checkout_code(clients[i % 2], unique("buyer")) for i in range(COPIES)]
        start = asyncio.Event()

        async def complete(index: int) -> int:
            await start.wait()  # every completion released at once, alternating the servers
            return (await clients[index % 2].post(f"/checkout/{codes[index]}/complete")).status_code

        tasks = [asyncio.create_task(complete(i)) for i in range(COPIES)]
        await asyncio.sleep(0)
        start.set()
        async with asyncio.timeout(240):
            statuses = await asyncio.gather(*tasks)
    finally:
        for client in clients:
            await client.aclose()
    assert statuses == [303] * COPIES

    db = Database(database_url)
    try:
        async with db.read_session() as session:
            rows = (await session.execute(select(Invoice.number, Invoice.created_at))).all()
    finally:
        await db.dispose()
    assert len(rows) == COPIES
    year = rows[0].created_at.year
    assert sorted(str(row.number) for row in rows) == [
        f"INV-{year}-{n:06d}" for n in range(1, COPIES + 1)]
