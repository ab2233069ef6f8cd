"""Invoice numbers at the billing layer: a rolled-back issue gives its number back (no gap),
a VOID invoice keeps its number (never reused), prefixes and years count on their own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from billgate.billing import customers, invoices, numbering
from billgate.db.engine import Database
from billgate.types import CustomerRef, CustomerType

USER = CustomerRef(CustomerType.USER, "u-numbers")
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
LINE = {"kind": "plan", "description": "Pro", "quantity": 1, "unitAmount": 1900, "amount": 1900}


class Rollback(Exception):
    pass


async def issue_one(db: Database, *, now: datetime = NOW, roll_back: bool = False) -> Any:
    try:
        async with db.session() as session, session.begin():
            customer = await customers.get_or_create(session, USER)
            invoice = await invoices.create(session, customer, None, currency="USD",
                                            lines=[LINE], now=now)
            if roll_back:
                raise Rollback  # e.g. a rule failed after the number was taken
    except Rollback:
        return None
    return invoice


async def test_a_rolled_back_issue_leaves_no_gap(db: Database) -> None:
    first = await issue_one(db)
    assert await issue_one(db, roll_back=True) is None
    second = await issue_one(db)
    assert [first.number, second.number] == ["INV-2026-000001", "INV-2026-000002"]


async def test_a_void_invoice_keeps_its_number_and_the_next_one_moves_on(db: Database) -> None:
    first = await issue_one(db)
    async with db.session() as session, session.begin():
        row = await invoices.get_by_public_id(session, first.public_id)
        assert row is not None
        await invoices.void(session, row)
        await invoices.issue(session, row, now=NOW)  # issuing again changes nothing
    async with db.read_session() as session:
        row = await invoices.get_by_public_id(session, first.public_id)
    assert row is not None and (row.status, row.number) == ("VOID", "INV-2026-000001")
    assert (await issue_one(db)).number == "INV-2026-000002"


async def test_each_year_and_prefix_counts_from_one(db: Database) -> None:
    await issue_one(db)
    assert (await issue_one(db, now=NOW.replace(year=2027, month=1))).number == "INV-2027-000001"
    async with db.session() as session, session.begin():
        assert await numbering.next_number(session, "CN-", 2026) == "CN-2026-000001"
        assert await numbering.next_number(session, "CN-", 2026) == "CN-2026-000002"
    assert (await issue_one(db)).number == "INV-2026-000002"


@pytest.mark.parametrize(("sequence", "text"), [(1, "INV-2026-000001"), (999999, "INV-2026-999999"),
                                                (1000000, "INV-2026-1000000")])
def test_the_number_format(sequence: int, text: str) -> None:
    assert numbering.format_number("INV-", 2026, sequence) == text
