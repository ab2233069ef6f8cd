"""Customers: USER, TEAM or CUSTOM, created the first time anything refers to them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing.errors import InvalidInput
from billgate.db.models import Customer
from billgate.db.upsert import insert_ignore
from billgate.types import MAX_CUSTOMER_ID_LENGTH, CustomerRef


def validate_ref(ref: CustomerRef) -> CustomerRef:
    if not ref.customer_id or not ref.customer_id.strip():
        raise InvalidInput("customerId must not be empty", field=["customer", "customerId"])
    if len(ref.customer_id) > MAX_CUSTOMER_ID_LENGTH:
        raise InvalidInput(
            f"customerId must be at most {MAX_CUSTOMER_ID_LENGTH} characters",
            field=["customer", "customerId"],
        )
    return ref


async def find(session: AsyncSession, ref: CustomerRef) -> Customer | None:
    return await session.scalar(
        select(Customer).where(Customer.type == ref.type.value,
                               Customer.customer_id == ref.customer_id)
    )


async def get_or_create(session: AsyncSession, ref: CustomerRef) -> Customer:
    """The customer row for ``ref``, inserting it if this is the first reference.

    Safe under concurrency: two first references race on the unique key, not on a read.
    """
    validate_ref(ref)
    existing = await find(session, ref)
    if existing is not None:
        return existing
    await insert_ignore(
        session,
        Customer.__table__,  # type: ignore[arg-type]
        {"type": ref.type.value, "customer_id": ref.customer_id, "created_at": datetime.now(UTC)},
        ["type", "customer_id"],
    )
    customer = await find(session, ref)
    assert customer is not None
    return customer
