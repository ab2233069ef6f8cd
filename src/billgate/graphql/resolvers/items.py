"""Item balance reads for ``Customer.item``/``items`` and ``Item.changes``."""

from __future__ import annotations

from billgate.billing import items
from billgate.billing.items import BalanceSnapshot
from billgate.errors import BillgateError
from billgate.graphql import loaders
from billgate.graphql.context import Info
from billgate.graphql.errors import raise_query_error
from billgate.graphql.pagination import (
    Connection,
    Page,
    build_connection,
    decode_id_cursor,
    page_size,
)
from billgate.graphql.resolvers.customers import ensure_customer
from billgate.graphql.types.items import Item, ItemChange
from billgate.types import CustomerRef


async def item(info: Info, customer: CustomerRef, item_id: str) -> Item:
    runtime = info.context.runtime
    try:
        found = await _read_checking_customer(info, customer, item_id)
        if found is None:
            found = await items.read_item(runtime.db, customer, item_id, clock=runtime.clock,
                                          bus=runtime.bus)
    except BillgateError as exc:
        raise_query_error(exc)
    display_name, snapshot = found
    return Item.from_snapshot(customer, display_name, snapshot)


async def _read_checking_customer(info: Info, customer: CustomerRef,
                                  item_id: str) -> tuple[str, BalanceSnapshot] | None:
    """When ``customer(...)`` left its check to this field: the read that is also the
    check, or else the customer ensured now (None: read as usual)."""
    context = info.context
    if customer not in context.deferred_customers or customer in context.customer_pks:
        return None
    runtime = context.runtime
    found = await items.read_item_checking_customer(runtime.db, customer, item_id,
                                                    clock=runtime.clock)
    if found is None:
        await ensure_customer(info, customer)
        return None
    if found[1].customer_pk is not None:  # always, once the customer is checked
        context.customer_pks[customer] = found[1].customer_pk
    return found


async def all_items(info: Info, customer: CustomerRef) -> list[Item]:
    """Through a DataLoader, so a page of customers reads its balances in one batch."""
    try:
        balances = await loaders.customer_items(info.context).load(customer)
    except BillgateError as exc:
        raise_query_error(exc)
    return [Item.from_snapshot(customer, definition.display_name, snapshot)
            for definition, snapshot in balances]


async def item_changes(info: Info, parent: Item, first: int | None,
                       after: str | None) -> Connection[ItemChange]:
    runtime = info.context.runtime
    try:
        size = page_size(first)
        before = decode_id_cursor("item-changes", after)
        rows = await items.list_changes(runtime.db, parent.customer, parent.item_id,
                                        before_version=before, limit=size + 1)
    except BillgateError as exc:
        raise_query_error(exc)
    return build_connection(Page(rows=rows, size=size, had_cursor=after is not None),
                            kind="item-changes", key=lambda row: row.version,
                            node=ItemChange.from_row)
