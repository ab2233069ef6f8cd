"""The hot path in SQL statements, counted (not timed): every statement is a round trip
(a thread hop on aiosqlite), so these counts are what keeps an entitlement check close to
the cost of GraphQL itself (``make bench`` has the figures, docs/performance.md the design).

Counted when nothing is due: a customer that already has its include-by-default products,
no expiry due, no catalog change since. Transaction control (BEGIN, COMMIT) is not counted.
Both ways to the database are counted: SQLAlchemy's engines and the direct path
(``db/direct.py``); the test also checks that the hot operations took the direct one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from billgate.billing import operator_actions

pytestmark = pytest.mark.usefixtures("example_catalog")

CUSTOMER = {"type": "USER", "customerId": "hot-path-user"}
BALANCE = """query ($c: CustomerRef!) { customer(customer: $c) { item(itemId: "credits") { quantity } } }"""
HAS_ACCESS = """query ($c: CustomerRef!) { customer(customer: $c) { hasAccess(productId: "free") } }"""
# StackBE's checkAccess(customerId): any subscription, no product named.
ANY_ACCESS = """query ($c: CustomerRef!) { customer(customer: $c) { hasAccess } }"""
TRY_DECREASE = """mutation ($c: CustomerRef!) { tryDecreaseItemQuantity(input: {
  customer: $c, itemId: "credits", amount: 1}) { success userErrors { code } } }"""
CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@contextlib.contextmanager
def counted(runtime: Any) -> Iterator[list[str]]:
    statements: list[str] = []
    engines = {id(e): e for e in (runtime.db.engine, runtime.db.read_engine)}.values()

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(CONTROL):
            statements.append(statement)

    for engine in engines:
        event.listen(engine.sync_engine, "before_cursor_execute", record)
    stop_direct = runtime.db.direct.listen(lambda sql: statements.append(f"direct: {sql}"))
    try:
        yield statements
    finally:
        stop_direct()
        for engine in engines:
            event.remove(engine.sync_engine, "before_cursor_execute", record)


async def warm(api: Any) -> None:
    """The customer's first reference (creates it with Free's 100 credits), then one of
    each call, so parse caches and the like are warm."""
    for query in (BALANCE, HAS_ACCESS, ANY_ACCESS, TRY_DECREASE):
        await api.data(query, {"c": CUSTOMER})


# A balance read and hasAccess: one statement, which is the customer's check too (the
# ``customer`` field leaves its check to them). tryDecrease: at most 3 on SQLite (balance,
# bucket, ledger row in one transaction), 1 on PostgreSQL (the three as one statement that
# commits on its own, and no BEGIN or COMMIT round trips either: see below). Its line in the
# operator actions log (a write with a secret key, graphql/operator_log.py) is queued and
# written apart, never in the request.
@pytest.mark.parametrize(("query", "most"), [(BALANCE, 1), (HAS_ACCESS, 1), (ANY_ACCESS, 1),
                                             (TRY_DECREASE, 3)],
                         ids=["balance-read", "has-access", "has-access-any", "try-decrease"])
async def test_statements_per_hot_operation(api: Any, runtime: Any, query: str, most: int) -> None:
    await warm(api)
    await operator_actions.flush(runtime.db)  # the warm-up's operator log lines, written now
    with counted(runtime) as statements:
        await api.data(query, {"c": CUSTOMER})
    if query is TRY_DECREASE and runtime.db.direct.dialect == "postgresql":
        most = 1
    assert 0 < len(statements) <= most, "\n".join(statements)
    assert all(sql.startswith("direct: ") for sql in statements), "\n".join(statements)


async def test_a_postgresql_try_decrease_sends_no_transaction_control(api: Any,
                                                                       runtime: Any) -> None:
    """On PostgreSQL the change is one statement outside a transaction: no BEGIN or COMMIT
    goes to the server (each would be a round trip with the balance row locked)."""
    if runtime.db.direct.dialect != "postgresql":
        pytest.skip("SQLite's direct change is a transaction of its own")
    await warm(api)  # the direct path's connections are open and idle now
    sent: list[str] = []

    def log(record: Any) -> None:
        sent.append(record.query)

    connections = list(runtime.db.direct._get_pool()._idle)
    for connection in connections:
        connection.add_query_logger(log)
    try:
        result = await api.data(TRY_DECREASE, {"c": CUSTOMER})
        for _ in range(3):  # asyncpg calls query loggers on the loop's next turn
            await asyncio.sleep(0)
    finally:
        for connection in connections:
            connection.remove_query_logger(log)
    assert result["tryDecreaseItemQuantity"]["success"] is True
    assert sent and not [q for q in sent if q.strip().upper().startswith(CONTROL)], sent
