"""``Query.customers``: a server-key-only list of the customers that exist, oldest first, whose
``items`` are read in one batch for the whole page (no query per customer).

Statements are counted with a ``before_cursor_execute`` listener on every engine of the
``Database`` (a write and a read engine on SQLite, one on PostgreSQL). Nothing is left out:
on SQLite that includes the ``BEGIN`` each read transaction sends (PostgreSQL's asyncpg starts
transactions without a cursor), which is the same for every page size, so it does not hide
anything a page of more customers would cost.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from billgate.billing import balances
from billgate.db.engine import Database
from billgate.db.models import Customer, ItemBalance, ItemChange, ItemGrant, Purchase
from billgate.graphql.pagination import encode_cursor
from billgate.types import CustomerRef, CustomerType

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

N_USERS = 55
N_TEAMS = 5
# A page of customers with their items: the page, the item definitions, the balances (and
# one BEGIN per read transaction on SQLite).
MAX_STATEMENTS = 6

CUSTOMERS = """
query ($type: CustomerType, $first: Int, $after: String) {
  customers(type: $type, first: $first, after: $after) {
    edges { cursor node { id type customerId items { itemId quantity version displayName } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

NAMES_ONLY = """
query ($type: CustomerType, $first: Int, $after: String) {
  customers(type: $type, first: $first, after: $after) {
    edges { node { type customerId } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

GEMS = """
mutation { upsertItemDefinition(input: {itemId: "gems", displayName: "Gems", customerType: USER}) {
  userErrors { code } } }
"""


def user(n: int) -> CustomerRef:
    return CustomerRef(CustomerType.USER, f"user-{n:03}")


def team(n: int) -> CustomerRef:
    return CustomerRef(CustomerType.TEAM, f"team-{n:02}")


@pytest.fixture
async def customers(api: Any, runtime: Any, example_catalog: None) -> list[CustomerRef]:
    """55 users with ``n + 1`` credits (``gems``, a second USER item, never granted), then 5
    teams with ``n + 2`` seats, created in that order (the order the list shows them)."""
    assert (await api.data(GEMS))["upsertItemDefinition"]["userErrors"] == []
    refs = [user(n) for n in range(N_USERS)] + [team(n) for n in range(N_TEAMS)]
    for n, ref in enumerate(refs[:N_USERS]):
        await balances.increase(runtime.db, ref, "credits", amount=n + 1, clock=runtime.clock)
    for n, ref in enumerate(refs[N_USERS:]):
        await balances.increase(runtime.db, ref, "seats", amount=n + 2, clock=runtime.clock)
    return refs


@dataclass
class Counted:
    statements: list[str] = field(default_factory=list)
    commits: int = 0

    def __len__(self) -> int:
        return len(self.statements)


@contextmanager
def counted_statements(db: Database) -> Iterator[Counted]:
    """Every SQL statement sent to the database inside the block, on every engine, and the
    number of transactions committed."""
    counted = Counted()

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        counted.statements.append(sql)

    def commit(conn: Any) -> None:
        counted.commits += 1

    engines = {id(e.sync_engine): e.sync_engine for e in (db.engine, db.read_engine)}.values()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", statement)
        event.listen(engine, "commit", commit)
    try:
        yield counted
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", statement)
            event.remove(engine, "commit", commit)


async def page(api: Any, **variables: Any) -> dict[str, Any]:
    return (await api.data(CUSTOMERS, variables))["customers"]


async def walk(api: Any, first: int, **variables: Any) -> list[tuple[str, str]]:
    """Every customer of the list, following ``endCursor`` to the end."""
    seen: list[tuple[str, str]] = []
    after = None
    while True:
        data = (await api.data(NAMES_ONLY, {"first": first, "after": after, **variables}))
        connection = data["customers"]
        seen += [(e["node"]["type"], e["node"]["customerId"]) for e in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            return seen
        after = connection["pageInfo"]["endCursor"]


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors") or []]


async def row_counts(db: Database) -> tuple[int | None, ...]:
    async with db.read_session() as session:
        return tuple([await session.scalar(select(func.count()).select_from(model))
                      for model in (Customer, Purchase, ItemBalance, ItemGrant, ItemChange)])


class TestQueryCount:
    async def test_a_page_of_50_costs_what_a_page_of_5_does(self, api: Any, runtime: Any,
                                                            customers: list[CustomerRef]) -> None:
        with counted_statements(runtime.db) as five_statements:
            five = await page(api, first=5)
        with counted_statements(runtime.db) as fifty_statements:
            fifty = await page(api, first=50)
        assert len(five["edges"]) == 5 and len(fifty["edges"]) == 50
        assert all(len(e["node"]["items"]) == 2 for e in fifty["edges"])
        assert len(fifty_statements) == len(five_statements) <= MAX_STATEMENTS, (
            five_statements.statements, fifty_statements.statements)
        # A later page (with a cursor) and a filtered one cost the same.
        with counted_statements(runtime.db) as later:
            rest = await page(api, first=50, after=fifty["pageInfo"]["endCursor"])
        with counted_statements(runtime.db) as teams:
            await page(api, first=50, type="TEAM")
        assert len(rest["edges"]) == N_USERS + N_TEAMS - 50
        assert len(later) == len(teams) == len(five_statements), (later.statements,
                                                                  teams.statements)

    async def test_reads_only_when_nothing_is_due(self, api: Any, runtime: Any,
                                                  customers: list[CustomerRef]) -> None:
        with counted_statements(runtime.db) as counted:
            await page(api, first=50)
        sql = [s.lstrip().split()[0].upper() for s in counted.statements]
        assert set(sql) <= {"SELECT", "BEGIN"}, counted.statements
        assert counted.commits == 0


class TestPagination:
    async def test_walks_every_customer_once_oldest_first(
            self, api: Any, customers: list[CustomerRef]) -> None:
        expected = [(ref.type.value, ref.customer_id) for ref in customers]
        for first in (7, 50, 100):
            assert await walk(api, first) == expected

    async def test_page_info(self, api: Any, customers: list[CustomerRef]) -> None:
        first = await page(api, first=2)
        edges = first["edges"]
        assert [e["node"]["customerId"] for e in edges] == ["user-000", "user-001"]
        assert first["pageInfo"] == {"hasNextPage": True, "hasPreviousPage": False,
                                     "startCursor": edges[0]["cursor"],
                                     "endCursor": edges[1]["cursor"]}
        assert edges[0]["node"]["id"] != edges[1]["node"]["id"]
        last = await page(api, first=100, after=edges[1]["cursor"])
        assert len(last["edges"]) == N_USERS + N_TEAMS - 2
        assert (last["pageInfo"]["hasNextPage"], last["pageInfo"]["hasPreviousPage"]) == (False, True)
        assert (await page(api, after=last["pageInfo"]["endCursor"]))["edges"] == []

    async def test_default_page_size(self, api: Any, customers: list[CustomerRef]) -> None:
        assert len((await page(api))["edges"]) == 20

    async def test_type_filter(self, api: Any, customers: list[CustomerRef]) -> None:
        assert await walk(api, 2, type="TEAM") == [("TEAM", f"team-{n:02}") for n in range(N_TEAMS)]
        assert await walk(api, 20, type="USER") == [("USER", f"user-{n:03}") for n in range(N_USERS)]
        assert await walk(api, 20, type="CUSTOM") == []

    async def test_no_customers(self, api: Any, example_catalog: None) -> None:
        empty = await page(api, first=5)
        assert empty == {"edges": [], "pageInfo": {"hasNextPage": False, "hasPreviousPage": False,
                                                   "startCursor": None, "endCursor": None}}


class TestItems:
    async def test_balances_of_each_customer(self, api: Any,
                                             customers: list[CustomerRef]) -> None:
        nodes = [e["node"] for e in (await page(api, first=100))["edges"]]
        for n, node in enumerate(nodes[:N_USERS]):
            # Each user was created by its grant, with the Free plan's 100 credits first.
            assert node["items"] == [
                {"itemId": "credits", "quantity": n + 101, "version": 2,
                 "displayName": "AI credits"},
                {"itemId": "gems", "quantity": 0, "version": 0, "displayName": "Gems"},  # never granted
            ], node
        for n, node in enumerate(nodes[N_USERS:]):
            assert node["items"] == [
                {"itemId": "seats", "quantity": n + 2, "version": 1, "displayName": "Seats"}], node

    async def test_customer_shows_the_same_items(self, api: Any,
                                                 customers: list[CustomerRef]) -> None:
        """``customer(...)`` reads items through the same batch. Each customer got its
        include-by-default products when its first grant created it, so nothing more is
        granted here."""
        single = "query ($c: CustomerRef!) { customer(customer: $c) { id items { itemId quantity } } }"
        nodes = {e["node"]["customerId"]: e["node"] for e in (await page(api, first=100))["edges"]}
        for ref, granted in ((team(0), 0), (user(0), 0)):
            shown = (await api.data(single, {"c": {"type": ref.type.value,
                                                   "customerId": ref.customer_id}}))["customer"]
            listed = nodes[ref.customer_id]
            assert shown["id"] == listed["id"]
            assert [(i["itemId"], i["quantity"]) for i in shown["items"]] == [
                (i["itemId"], i["quantity"] + (granted if i["itemId"] == "credits" else 0))
                for i in listed["items"]]
        relisted = (await page(api, first=1))["edges"][0]["node"]
        assert (relisted["customerId"], relisted["items"][0]["quantity"]) == ("user-000", 101)

    async def test_an_expired_grant_is_not_counted(self, api: Any, runtime: Any,
                                                   customers: list[CustomerRef]) -> None:
        expires_at = runtime.clock.now() + timedelta(hours=1)
        for ref in (user(1), user(3)):
            await balances.increase(runtime.db, ref, "credits", amount=10, clock=runtime.clock,
                                 expires_at=expires_at)
        await balances.increase(runtime.db, team(0), "seats", amount=4, clock=runtime.clock,
                             expires_at=expires_at)
        before = [e["node"]["items"][0]["quantity"] for e in (await page(api, first=100))["edges"]]
        assert (before[1], before[3], before[N_USERS]) == (112, 114, 6)
        runtime.clock.advance(2 * 3600)
        with counted_statements(runtime.db) as counted:
            after = [e["node"]["items"] for e in (await page(api, first=100))["edges"]]
        assert [i[0]["quantity"] for i in after] == [n + 101 for n in range(N_USERS)] + [
            n + 2 for n in range(N_TEAMS)]
        assert (after[1][0]["version"], after[3][0]["version"], after[N_USERS][0]["version"]) == (
            4, 4, 3)  # (Free's credits,) the grants, then the expiry written by this read
        assert counted.commits == 1  # the three expiries settled in one write transaction
        async with runtime.db.read_session() as session:
            reasons = (await session.scalars(select(ItemChange.reason)
                                             .where(ItemChange.delta == -10))).all()
        assert reasons == ["expire", "expire"]


class TestRules:
    @pytest.mark.parametrize("caller", ["user", "team admin", "anonymous"])
    async def test_server_key_only(self, api: Any, customers: list[CustomerRef],
                                   caller: str) -> None:
        as_caller = {"user": api.as_user("user-001"),
                     "team admin": api.as_user("user-001", teams={"team-00": "admin"}),
                     "anonymous": api.as_(None)}[caller]
        body = await as_caller(CUSTOMERS, {"first": 5})
        assert error_codes(body) == ["FORBIDDEN"], body
        assert body["data"] is None

    @pytest.mark.parametrize("after", [
        "not-a-cursor",
        encode_cursor("invoices", 1),  # another list's
        encode_cursor("customers", "1"),
        encode_cursor("customers", 1.5),
        encode_cursor("customers", True),
        encode_cursor("customers", None),
        encode_cursor("customers", [1]),
        encode_cursor("customers", -1),
        encode_cursor("customers", 2**63),
    ])
    async def test_bad_cursor_is_invalid_input(self, api: Any, customers: list[CustomerRef],
                                               after: str) -> None:
        body = await api(CUSTOMERS, {"first": 5, "after": after})
        assert error_codes(body) == ["INVALID_INPUT"], body

    async def test_first_must_be_positive(self, api: Any, customers: list[CustomerRef]) -> None:
        assert error_codes(await api(CUSTOMERS, {"first": 0})) == ["INVALID_INPUT"]

    async def test_creates_nothing_and_grants_nothing(self, api: Any, runtime: Any,
                                                      customers: list[CustomerRef]) -> None:
        """No customer, no include-by-default product, no balance or ledger row."""
        before = await row_counts(runtime.db)
        assert before[1] == N_USERS  # each user's Free plan, given when its grant created it
        nodes = [e["node"] for e in (await page(api, first=100))["edges"]]
        assert await walk(api, 9) == [(n["type"], n["customerId"]) for n in nodes]
        assert await row_counts(runtime.db) == before
        assert nodes[0]["items"][0] == {"itemId": "credits", "quantity": 101, "version": 2,
                                        "displayName": "AI credits"}
