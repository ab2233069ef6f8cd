"""``Customer.invoices`` (whoever may read the customer), ``Customer.transactions`` (server
callers only) and their ``node(id)`` lookups."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from billgate.billing import customers, invoices, transactions
from billgate.db.models import Customer as CustomerRow
from billgate.db.models import Invoice as InvoiceRow
from billgate.db.models import Transaction as TransactionRow
from billgate.errors import BillgateError
from billgate.graphql.context import Info
from billgate.graphql.errors import raise_query_error
from billgate.graphql.ids import row_id
from billgate.graphql.pagination import (
    Connection,
    Page,
    build_connection,
    decode_id_cursor,
    page_size,
)
from billgate.graphql.resolvers.node import readable
from billgate.graphql.types.invoices import Invoice, Transaction
from billgate.types import CustomerRef

R = TypeVar("R", InvoiceRow, TransactionRow)
ListPage = Callable[..., Awaitable[Sequence[Any]]]


async def invoices_page(info: Info, ref: CustomerRef, first: int | None,
                        after: str | None) -> Connection[Invoice]:
    base_url = info.context.runtime.settings.base_url
    page = await _page(info, ref, first, after, kind="invoices", list_page=invoices.list_page)
    return build_connection(page, kind="invoices", key=lambda row: row.id,
                            node=lambda row: Invoice.from_row(row, base_url=base_url))


async def transactions_page(info: Info, ref: CustomerRef, first: int | None,
                            after: str | None) -> Connection[Transaction]:
    try:
        info.context.principal.require_server("Customer.transactions")
    except BillgateError as exc:
        raise_query_error(exc)
    page = await _page(info, ref, first, after, kind="transactions",
                       list_page=transactions.list_page)
    return build_connection(page, kind="transactions", key=lambda row: row.id,
                            node=lambda row: Transaction.from_row(row, ref))


async def _page(info: Info, ref: CustomerRef, first: int | None, after: str | None, *, kind: str,
                list_page: ListPage) -> Page[Any]:
    """One keyset page (newest first) of the customer's rows; the customer's read rule was
    checked when its ``Customer`` object was built."""
    try:
        size = page_size(first)
        before = decode_id_cursor(kind, after)
    except BillgateError as exc:
        raise_query_error(exc)
    async with info.context.runtime.db.read_session() as session:
        customer = await customers.find(session, ref)
        rows = [] if customer is None else await list_page(
            session, customer.id, before_id=before, limit=size + 1)
    return Page(rows=rows, size=size, had_cursor=after is not None)


async def invoice_node(info: Info, node_id: str) -> Invoice | None:
    """An invoice by id, for whoever may read its customer."""
    row = await _row_of_readable_customer(info, InvoiceRow, node_id)
    return Invoice.from_row(row, base_url=info.context.runtime.settings.base_url) if row else None


async def transaction_node(info: Info, node_id: str) -> Transaction | None:
    """A transaction by id, for server callers only (null for everyone else)."""
    if not info.context.principal.is_server:
        return None
    row = await _row_of_readable_customer(info, TransactionRow, node_id)
    return Transaction.from_row(row) if row else None


async def _row_of_readable_customer(info: Info, model: type[R], node_id: str) -> R | None:
    pk = row_id(node_id)
    if pk is None:
        return None
    async with info.context.runtime.db.read_session() as session:
        row = await session.get(model, pk)
        owner = await session.get(CustomerRow, row.customer_pk) if row is not None else None
    if row is None or owner is None or readable(info, owner.type, owner.customer_id) is None:
        return None
    return row
