"""Customer lookups with the read rules of ``graphql/auth.py``."""

from __future__ import annotations

from graphql import FieldNode

from billgate.billing import customers
from billgate.billing.purchases import service as purchases
from billgate.errors import BillgateError
from billgate.graphql.context import Info
from billgate.graphql.errors import raise_query_error
from billgate.graphql.pagination import (
    Connection,
    Page,
    build_connection,
    decode_id_cursor,
    page_size,
)
from billgate.graphql.types.common import CustomerRef
from billgate.graphql.types.customer import Customer
from billgate.types import CustomerRef as DomainRef
from billgate.types import CustomerType


async def ensure_customer(info: Info, ref: DomainRef) -> int:
    """Customers exist from their first reference on, with their include-by-default
    products (and those products' items). A read only writes when something is missing;
    the customer's pk is kept for the rest of the request."""
    known = info.context.customer_pks.get(ref)
    if known is not None:
        return known
    runtime = info.context.runtime
    pk = await purchases.ensure_customer(runtime.db, ref, clock=runtime.clock,
                                         bus=runtime.bus)
    info.context.customer_pks[ref] = pk
    return pk


# Fields of ``Customer`` that check the customer in the statement that reads them (the
# direct path's read), or ensure it first when that statement cannot answer.
_CHECKING_FIELDS = frozenset({"item", "hasAccess"})


async def customer(info: Info, ref_input: CustomerRef) -> Customer:
    try:
        ref = ref_input.to_domain()
        info.context.principal.require_read(ref)
        customers.validate_ref(ref)
    except BillgateError as exc:
        raise_query_error(exc)
    if _fields_check_customer(info):
        info.context.deferred_customers.add(ref)  # the hot path's read: one round trip
    else:
        await ensure_customer(info, ref)
    return Customer.of(ref)


def _fields_check_customer(info: Info) -> bool:
    """Every field selected under ``customer(...)`` checks the customer itself (no
    fragments, nothing else), and the direct path is there to do it in one statement.

    Read off the parsed document (graphql-core's field nodes): Strawberry's
    ``info.selected_fields`` would convert the whole selection, arguments included, into
    its own objects on every request, for a yes or no that only the field names decide."""
    if info.context.runtime.db.direct is None:
        return False
    selections = [s for field in info._raw_info.field_nodes if field.selection_set
                  for s in field.selection_set.selections]
    return bool(selections) and all(
        isinstance(s, FieldNode) and s.name.value in _CHECKING_FIELDS for s in selections)


async def me(info: Info) -> Customer | None:
    principal = info.context.principal
    if not principal.is_client or principal.user_id is None:
        return None
    ref = DomainRef(CustomerType.USER, principal.user_id)
    await ensure_customer(info, ref)
    return Customer.of(ref)


async def customers_page(info: Info, customer_type: CustomerType | None, first: int | None,
                         after: str | None) -> Connection[Customer]:
    """Existing customers, oldest first (keyset on the primary key), for server callers only.
    Unlike ``customer(...)`` it creates nothing and grants no include-by-default product."""
    try:
        info.context.principal.require_server("customers")
        size = page_size(first)
        after_pk = decode_id_cursor("customers", after)
    except BillgateError as exc:
        raise_query_error(exc)
    async with info.context.runtime.db.read_session() as session:
        rows = await customers.list_page(session, customer_type=customer_type, after_pk=after_pk,
                                         limit=size + 1)
    return build_connection(
        Page(rows=rows, size=size, had_cursor=after is not None), kind="customers",
        key=lambda row: row.id,
        node=lambda row: Customer.of(DomainRef(CustomerType(row.type), row.customer_id)))
