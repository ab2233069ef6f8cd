"""Customer lookups with the read rules of ``graphql/auth.py``."""

from __future__ import annotations

from billgate.billing import customers
from billgate.billing.errors import BillgateError
from billgate.graphql.context import Info
from billgate.graphql.errors import raise_query_error
from billgate.graphql.types.common import CustomerRef
from billgate.graphql.types.customer import Customer
from billgate.types import CustomerRef as DomainRef
from billgate.types import CustomerType


async def ensure_customer(info: Info, ref: DomainRef) -> None:
    """Customers exist from their first reference on; a read only writes when it is new."""
    db = info.context.runtime.db
    async with db.read_session() as session:
        if await customers.find(session, ref) is not None:
            return
    async with db.session() as session, session.begin():
        await customers.get_or_create(session, ref)


async def customer(info: Info, ref_input: CustomerRef) -> Customer:
    try:
        ref = ref_input.to_domain()
        info.context.principal.require_read(ref)
    except BillgateError as exc:
        raise_query_error(exc)
    await ensure_customer(info, ref)
    return Customer.of(ref)


async def me(info: Info) -> Customer | None:
    principal = info.context.principal
    if not principal.is_client or principal.user_id is None:
        return None
    ref = DomainRef(CustomerType.USER, principal.user_id)
    await ensure_customer(info, ref)
    return Customer.of(ref)
