"""Catalog reads. Server-only products and prices are filtered here, on every path."""

from __future__ import annotations

from billgate.billing import catalog
from billgate.db.models import Product as ProductRow
from billgate.errors import BillgateError
from billgate.graphql import loaders
from billgate.graphql.context import Info
from billgate.graphql.errors import raise_query_error
from billgate.graphql.pagination import (
    Connection,
    Page,
    build_connection,
    decode_text_cursor,
    page_size,
)
from billgate.graphql.types.catalog import ItemDefinition, Product, ProductLine
from billgate.types import CustomerType


def visible(info: Info, row: ProductRow | None) -> Product | None:
    """The product as this caller may see it: None when archived or server-only for a client."""
    server = info.context.principal.is_server
    if row is None or not catalog.visible_to(row, by_server=server):
        return None
    return Product.from_row(row, show_server_only_prices=server)


async def products_page(info: Info, customer_type: CustomerType | None, first: int | None,
                        after: str | None) -> Connection[Product]:
    try:
        size = page_size(first)
        after_key = decode_text_cursor("products", after)
    except BillgateError as exc:
        raise_query_error(exc)
    server = info.context.principal.is_server
    async with info.context.runtime.db.read_session() as session:
        rows = await catalog.list_products_page(
            session, after=after_key, limit=size + 1, customer_type=customer_type,
            include_server_only=server,
        )
    return build_connection(
        Page(rows=rows, size=size, had_cursor=after is not None),
        kind="products",
        key=lambda row: row.product_id,
        node=lambda row: Product.from_row(row, show_server_only_prices=server),
    )


async def product(info: Info, product_id: str) -> Product | None:
    row = await loaders.products(info.context).load(product_id)
    return visible(info, row)


async def load_products(info: Info, product_ids: list[str]) -> list[Product]:
    rows = await loaders.products(info.context).load_many(product_ids)
    return [p for p in (visible(info, row) for row in rows) if p is not None]


async def products_of_line(info: Info, product_line_id: str) -> list[Product]:
    async with info.context.runtime.db.read_session() as session:
        rows = await catalog.list_products_in_lines(session, [product_line_id])
    return [p for p in (visible(info, row) for row in rows) if p is not None]


async def load_product_line(info: Info, product_line_id: str) -> ProductLine | None:
    row = await loaders.product_lines(info.context).load(product_line_id)
    return ProductLine.from_row(row) if row else None


async def load_item_definition(info: Info, item_id: str) -> ItemDefinition:
    row = await loaders.item_definitions(info.context).load(item_id)
    if row is None:
        # An included item whose definition was archived later: still show what was sold.
        return ItemDefinition(item_id=item_id, display_name=item_id,
                              customer_type=CustomerType.USER, low_balance_thresholds=[])
    return ItemDefinition.from_row(row)


async def product_lines(info: Info) -> list[ProductLine]:
    async with info.context.runtime.db.read_session() as session:
        return [ProductLine.from_row(r) for r in await catalog.list_product_lines(session)]


async def item_definitions(info: Info) -> list[ItemDefinition]:
    async with info.context.runtime.db.read_session() as session:
        return [ItemDefinition.from_row(r) for r in await catalog.list_item_definitions(session)]
