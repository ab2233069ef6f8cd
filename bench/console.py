"""The operator console's pages on PostgreSQL with 10,000 customers and 100,000 ledger rows.

    .venv/bin/python -m bench.console [requests per page]

Creates a database of its own beside ``BILLGATE_BENCH_PG_URL`` (default the test server,
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``), migrates it, applies the example
catalog and seeds it in bulk: 10,000 customers (a third of them TEAM), 100,000 ledger rows
with their balances, 5,000 subscriptions, 20,000 transactions over 30 days (refunds
among them), 10,000 invoices, 10,000 operator actions and a failing webhook endpoint. Then
``billgate serve`` (one worker, as users run it) answers every console page, signed in as
an operator: each page is asked for sequentially, after a warm-up, and the table shows the
median and 95th percentile against ``/healthz`` on the same server (the floor of any
request). Goal: every page under 100 ms. The database is dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.catalog import prepare  # noqa: E402
from bench.servers import billgate, free_port  # noqa: E402

BASE_URL = os.environ.get("BILLGATE_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
KEY = "sk_bench_console_key"
CUSTOMERS, LEDGER_ROWS, SUBSCRIPTIONS, TRANSACTIONS, INVOICES, ACTIONS = (
    10_000, 100_000, 5_000, 20_000, 10_000, 10_000)
GOAL_MS = 100.0
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def pages(customer: str) -> dict[str, str]:
    return {
        "Overview": "/admin",
        "Catalog": "/admin/catalog",
        "Catalog: edit product": "/admin/catalog/products/pro",
        "Customers": "/admin/customers",
        "Customers: search id": "/admin/customers?q=user-04242",
        "Customers: search email": "/admin/customers?q=04242%40example",
        "Customers: TEAM, page 2": "/admin/customers?type=TEAM&before=9000",
        "Customer page": f"/admin/customers/USER/{customer}",
        "Transactions": "/admin/transactions",
        "Transactions: refunds": "/admin/transactions?kind=refund",
        "Transactions: one customer": f"/admin/transactions?type=USER&customer={customer}",
        "Invoices": "/admin/invoices",
        "Invoices: open": "/admin/invoices?status=OPEN",
        "Payouts": "/admin/payouts",
        "Webhooks": "/admin/webhooks",
        "Settings": "/admin/settings",
        "Activity": "/admin/activity",
        "Activity: page 2": "/admin/activity?before=5000",
    }


# Seeding ---------------------------------------------------------------------------------

async def _insert(session: Any, model: Any, rows: list[dict[str, Any]], chunk: int = 5000) -> None:
    from sqlalchemy import insert

    for start in range(0, len(rows), chunk):
        await session.execute(insert(model), rows[start:start + chunk])


async def seed(url: str) -> str:
    """Bulk rows shaped as billgate writes them; returns the id of a busy USER customer."""
    from sqlalchemy import select

    from billgate.db.engine import Database
    from billgate.db.models import (
        Customer,
        Invoice,
        ItemBalance,
        ItemChange,
        ItemDefinition,
        OperatorAction,
        Product,
        Purchase,
        Transaction,
        WebhookEndpoint,
    )

    db = Database(url)
    now = datetime.now(UTC)
    async with db.session() as session, session.begin():
        items = {i.item_id: i.id for i in (await session.scalars(select(ItemDefinition))).all()}
        pro = (await session.scalars(select(Product).where(Product.product_id == "pro"))).one()
        team_type = "TEAM"
        customers = [{"id": n + 1, "type": team_type if n % 3 == 2 else "USER",
                      "customer_id": f"{'team' if n % 3 == 2 else 'user'}-{n:05d}",
                      "email": f"{n:05d}@example.com",
                      "created_at": now - timedelta(minutes=CUSTOMERS - n)}
                     for n in range(CUSTOMERS)]
        await _insert(session, Customer, customers)
        per = LEDGER_ROWS // CUSTOMERS
        balances, changes = [], []
        for c in customers:
            item = items["seats" if c["type"] == team_type else "credits"]
            balances.append({"id": c["id"], "customer_pk": c["id"], "item_pk": item,
                             "quantity": per * 10, "version": per, "updated_at": now})
            for v in range(1, per + 1):
                changes.append({"balance_id": c["id"], "customer_pk": c["id"], "version": v,
                                "delta": 10, "quantity_after": v * 10, "reason": "manual",
                                "created_at": now - timedelta(hours=per - v)})
        await _insert(session, ItemBalance, balances)
        await _insert(session, ItemChange, changes)
        users = [c for c in customers if c["type"] == "USER"]
        snapshot = {"productId": "pro", "displayName": pro.display_name, "customerType": "USER",
                    "productLineId": "user-plans", "prices": pro.prices,
                    "includedItems": pro.included_items}
        price = pro.prices[0]
        subs = [{"id": n + 1, "customer_pk": users[n]["id"], "kind": "SUBSCRIPTION",
                 "status": "PAST_DUE" if n % 50 == 0 else "ACTIVE", "origin": "checkout",
                 "product_id": "pro", "product_line_id": "user-plans", "product": snapshot,
                 "price_id": price["priceId"], "price": price, "currency": "USD",
                 "unit_amount": 1900, "quantity": 1, "current_period_start": now - timedelta(days=3),
                 "current_period_end": now + timedelta(days=27), "past_due_since":
                 now - timedelta(days=2) if n % 50 == 0 else None,
                 "created_at": now - timedelta(days=n % 30)} for n in range(SUBSCRIPTIONS)]
        await _insert(session, Purchase, subs)
        txs = [{"id": n + 1, "customer_pk": subs[n % SUBSCRIPTIONS]["customer_pk"],
                "purchase_id": subs[n % SUBSCRIPTIONS]["id"],
                "kind": "refund" if n % 40 == 39 else "renewal" if n >= SUBSCRIPTIONS else "purchase",
                "amount": -1900 if n % 40 == 39 else 1900, "currency": "USD", "quantity": 1,
                "product": snapshot, "test_mode": True,
                "created_at": now - timedelta(minutes=(TRANSACTIONS - n) * 2)}
               for n in range(TRANSACTIONS)]
        await _insert(session, Transaction, txs)
        invoices = [{"public_id": uuid.uuid4().hex, "customer_pk": txs[n]["customer_pk"],
                     "purchase_id": txs[n]["purchase_id"], "transaction_id": txs[n]["id"],
                     "status": "OPEN" if n % 25 == 0 else "PAID", "currency": "USD",
                     "amount_total": 1900, "lines": [], "created_at": txs[n]["created_at"]}
                    for n in range(INVOICES)]
        await _insert(session, Invoice, invoices)
        await _insert(session, OperatorAction, [
            {"at": now - timedelta(seconds=ACTIONS - n), "key_fingerprint": "…_key",
             "action": "increaseItemQuantity", "target": f"USER:user-{n % CUSTOMERS:05d}",
             "outcome": "ok", "via": "graphql", "detail": "10 credits"} for n in range(ACTIONS)])
        session.add(WebhookEndpoint(url="http://127.0.0.1:9/events", event_types=[],
                                    enabled=False, disabled_reason="12 attempts failed",
                                    secret="whsec_x", created_at=now, updated_at=now))
        # The sequences follow the explicit ids.
        for table in ("customers", "item_balances", "purchases", "transactions"):
            await session.execute(_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                       f"(SELECT max(id) FROM {table}))"))
        await session.execute(_sql("ANALYZE"))
    await db.dispose()
    return str(users[0]["customer_id"])


def _sql(text: str) -> Any:
    from sqlalchemy import text as sql_text

    return sql_text(text)


# Measuring -------------------------------------------------------------------------------

async def _sign_in(client: httpx.AsyncClient) -> None:
    page = await client.get("/admin/sign-in")
    token = CSRF.search(page.text)
    assert token, page.text[:500]
    done = await client.post("/admin/sign-in", data={"csrf_token": token.group(1),
                                                     "secret_key": KEY, "next": "/admin"})
    assert done.status_code == 303, done.text[:500]


async def _times(client: httpx.AsyncClient, path: str, count: int) -> list[float]:
    for _ in range(3):
        warm = await client.get(path)
        assert warm.status_code == 200, f"{path}: {warm.status_code} {warm.text[:300]}"
    times = []
    for _ in range(count):
        start = time.perf_counter()
        response = await client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, path
    return times


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


async def measure(port: int, customer: str, count: int) -> list[tuple[str, float, float]]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        await _sign_in(client)
        floor = await _times(client, "/healthz", count)
        rows = [("/healthz (the floor)", statistics.median(floor), _p95(floor))]
        for name, path in pages(customer).items():
            times = await _times(client, path, count)
            rows.append((name, statistics.median(times), _p95(times)))
    return rows


async def _admin(statement: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(BASE_URL)
    conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                 password=url.password, database=url.database)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def run(count: int = 30) -> list[tuple[str, float, float]]:
    from sqlalchemy.engine import make_url

    name = f"billgate_bench_console_{uuid.uuid4().hex[:8]}"
    url = make_url(BASE_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        prepare(url)
        started = time.perf_counter()
        customer = asyncio.run(seed(url))
        print(f"seeded in {time.perf_counter() - started:.0f} s", flush=True)
        port = free_port()
        env = {"BILLGATE_DATABASE_URL": url, "BILLGATE_SECRET_KEYS": KEY,
               "BILLGATE_SCHEDULER": "false", "BILLGATE_JSON_LOGS": "false"}
        with billgate(env, port):
            return asyncio.run(measure(port, customer, count))
    finally:
        if os.environ.get("BILLGATE_BENCH_KEEP"):  # to look into a slow page by hand
            print(f"kept {url}", flush=True)
        else:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    rows = run(count)
    floor = rows[0][1]
    print(f"console pages on PostgreSQL: {CUSTOMERS:,} customers, {LEDGER_ROWS:,} ledger rows, "
          f"{TRANSACTIONS:,} transactions; {count} requests each")
    print(f"{'page':32} {'median':>9} {'p95':>9} {'x floor':>8}  goal < {GOAL_MS:.0f} ms")
    for name, median, p95 in rows:
        verdict = "" if name.startswith("/healthz") else ("met" if p95 < GOAL_MS else "NOT MET")
        print(f"{name:32} {median:7.1f}ms {p95:7.1f}ms {median / floor:8.1f}  {verdict}")


if __name__ == "__main__":
    main()
