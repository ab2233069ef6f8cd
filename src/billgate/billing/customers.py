"""Customers: USER, TEAM or CUSTOM, created the first time anything refers to them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import webhook_events
from billgate.billing.catalog import VERSION_KEY, version_statement
from billgate.billing.errors import InvalidInput
from billgate.db.direct import DirectDatabase, Statement, json_of, or_none
from billgate.db.engine import Database
from billgate.db.models import Customer
from billgate.db.upsert import insert_ignore
from billgate.text import bad_text
from billgate.types import MAX_CUSTOMER_ID_LENGTH, CustomerRef, CustomerType


def validate_ref(ref: CustomerRef) -> CustomerRef:
    if not ref.customer_id or not ref.customer_id.strip():
        raise InvalidInput("customerId must not be empty", field=["customer", "customerId"])
    if len(ref.customer_id) > MAX_CUSTOMER_ID_LENGTH:
        raise InvalidInput(
            f"customerId must be at most {MAX_CUSTOMER_ID_LENGTH} characters",
            field=["customer", "customerId"],
        )
    problem = bad_text(ref.customer_id)
    if problem:
        raise InvalidInput(f"customerId contains {problem}", field=["customer", "customerId"])
    return ref


ENSURED = Statement("""
    SELECT c.id, c.included_version, (SELECT value FROM app_settings WHERE key = :version_key)
    FROM customers c WHERE c.type = :type AND c.customer_id = :customer_id""")


async def ensured_pk(direct: DirectDatabase, ref: CustomerRef) -> int | None:
    """The customer's pk when it exists with the current catalog's include-by-default
    products (``ensured_statement`` in one direct statement); None when the normal path
    must look."""
    async def read() -> int | None:
        async with direct.read() as conn:
            row = await conn.fetchone(ENSURED, version_key=VERSION_KEY, type=ref.type.value,
                                      customer_id=ref.customer_id)
        # ``app_settings.value`` is a JSON column: the version is a JSON string there.
        return int(row[0]) if row is not None and row[1] == json_of(row[2]) else None

    return await or_none(read())


async def find(session: AsyncSession, ref: CustomerRef) -> Customer | None:
    return await session.scalar(
        select(Customer).where(Customer.type == ref.type.value,
                               Customer.customer_id == ref.customer_id)
    )


def ensured_statement(ref: CustomerRef) -> Any:
    """The customer's pk and ``included_version`` beside the catalog's version, in one
    statement (``purchases/service.ensure_customer``)."""
    return select(Customer.id, Customer.included_version,
                  version_statement().label("catalog_version")).where(
        Customer.type == ref.type.value, Customer.customer_id == ref.customer_id)


async def list_page(session: AsyncSession, *, customer_type: CustomerType | None,
                    after_pk: int | None, limit: int) -> Sequence[Customer]:
    """Customers that exist (of ``customer_type`` if given), oldest first: keyset on the
    primary key, those after ``after_pk``. A plain read: it creates no customer and grants
    nothing (``Query.customers``)."""
    stmt = select(Customer).order_by(Customer.id).limit(limit)
    if customer_type is not None:
        stmt = stmt.where(Customer.type == customer_type.value)
    if after_pk is not None:
        stmt = stmt.where(Customer.id > after_pk)
    return (await session.scalars(stmt)).all()


async def get_or_create(session: AsyncSession, ref: CustomerRef, *,
                        now: datetime | None = None) -> Customer:
    """The customer row for ``ref``, inserting it if this is the first reference (and then
    recording ``customer.created``, dated ``now``: the billing clock where the caller has it).

    Safe under concurrency: two first references race on the unique key, not on a read.
    """
    validate_ref(ref)
    existing = await find(session, ref)
    if existing is not None:
        return existing
    inserted = await insert_ignore(
        session,
        Customer.__table__,  # type: ignore[arg-type]
        {"type": ref.type.value, "customer_id": ref.customer_id, "created_at": datetime.now(UTC)},
        ["type", "customer_id"],
    )
    customer = await find(session, ref)
    assert customer is not None
    if inserted:  # only the transaction that created it announces it (a racing twin did not)
        await webhook_events.customer_created(session, customer, now=now or customer.created_at)
    return customer


async def set_email(db: Database, ref: CustomerRef, email: str | None) -> None:
    """Where receipts and payment-failure emails go (``updateCustomer``)."""
    await update_details(db, ref, {"email": email or ""})


async def update_details(db: Database, ref: CustomerRef, changes: Mapping[str, Any]) -> None:
    """The customer's email and what its invoices name as buyer (``updateCustomer``):
    ``changes`` holds the parts given (``name``, ``email``, ``address``, ``tax_id``); an
    empty value clears a part, a part not given is kept. Invoices already issued keep the
    buyer they were issued to."""
    from billgate.billing.invoices import buyer_of
    from billgate.billing.payment_settings import BUYER_FIELDS, party_with, validate_party

    async with db.session() as session, session.begin():
        row = await get_or_create(session, ref)
        party = party_with(buyer_of(row), changes)
        validate_party(party, BUYER_FIELDS)
        row.email, row.name, row.tax_id = party.email, party.name, party.tax_id
        row.address = party.address.to_json() if party.address else None
