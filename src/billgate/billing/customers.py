"""Customers: USER, TEAM or CUSTOM, created the first time anything refers to them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import webhook_events
from billgate.billing.catalog import version_statement, version_text_statement
from billgate.db.direct import DirectDatabase, Statement, json_of, or_none
from billgate.db.models import Customer
from billgate.db.upsert import insert_ignore
from billgate.errors import InvalidInput
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


def _ensured_select(customer_type: Any, customer_id: Any) -> Any:
    return select(Customer.id, Customer.included_version,
                  version_statement().label("catalog_version")).where(
        Customer.type == customer_type, Customer.customer_id == customer_id)


# ``ensured_statement`` compiled for the direct path.
ENSURED = Statement.of(_ensured_select(bindparam("type"), bindparam("customer_id")))


def is_ensured(included_version: str | None, catalog_version: Any) -> bool:
    """The customer has the include-by-default products of the catalog as it is now (it
    was checked after the last catalog change). ``catalog_version`` as decoded from its
    JSON column (the direct path reads the JSON text: ``json_of``)."""
    return bool(included_version == catalog_version)


def is_ensured_in_sql(included_version: Any) -> Any:
    """PostgreSQL twin of ``is_ensured`` inside a statement (a NULL on either side is not
    ensured: the normal path then looks, as it would for a customer never checked)."""
    return included_version == version_text_statement()


async def ensured_pk(direct: DirectDatabase, ref: CustomerRef) -> int | None:
    """The customer's pk when it exists and ``is_ensured`` (``ensured_statement`` in one
    direct statement); None when the normal path must look."""
    async def read() -> int | None:
        async with direct.read() as conn:
            row = await conn.fetchone(ENSURED, type=ref.type.value,
                                      customer_id=ref.customer_id)
        return int(row[0]) if row is not None and is_ensured(row[1], json_of(row[2])) else None

    return await or_none(read())


async def find(session: AsyncSession, ref: CustomerRef) -> Customer | None:
    return await session.scalar(
        select(Customer).where(Customer.type == ref.type.value,
                               Customer.customer_id == ref.customer_id)
    )


def ensured_statement(ref: CustomerRef) -> Any:
    """The customer's pk and ``included_version`` beside the catalog's version, in one
    statement (``purchases/service.ensure_customer``; ``is_ensured`` reads it)."""
    return _ensured_select(ref.type.value, ref.customer_id)


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
