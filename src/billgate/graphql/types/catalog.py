"""Catalog types: built from rows in the parent resolver, so their fields are plain
attributes (no per-item resolvers, see STACK-NOTES "Cost per list item")."""

from __future__ import annotations

from typing import Any

import strawberry

from billgate.billing.catalog import visible_prices
from billgate.db.models import ItemDefinition as ItemDefinitionRow
from billgate.db.models import Product as ProductRow
from billgate.db.models import ProductLine as ProductLineRow
from billgate.graphql.context import Info
from billgate.graphql.ids import global_id
from billgate.graphql.types.common import Currency, CustomerType, IntervalUnit, ItemExpiry, Node
from billgate.money import from_minor


@strawberry.type
class Interval:
    unit: IntervalUnit
    count: int

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Interval | None:
        return cls(unit=IntervalUnit(data["unit"]), count=data["count"]) if data else None


@strawberry.type
class Money:
    currency: Currency
    amount: str = strawberry.field(description='Decimal string, e.g. "9.99" (JPY: "980").')
    minor_units: int

    @classmethod
    def of(cls, currency: str, minor: int) -> Money:
        return cls(currency=Currency(currency), amount=from_minor(minor, currency), minor_units=minor)


@strawberry.type
class Price:
    price_id: str
    amounts: list[Money]
    interval: Interval | None
    free_trial: Interval | None
    server_only: bool
    quantity_max: int | None = strawberry.field(description=(
        "Recurring prices: the most seats (subscription quantity) allowed; null means any "
        "quantity from 1 up. Always null for one-time prices (their quantity follows "
        "the product's stackable)."))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Price:
        return cls(
            price_id=data["priceId"],
            amounts=[Money.of(c, m) for c, m in data["amounts"].items()],
            interval=Interval.from_json(data.get("interval")),
            free_trial=Interval.from_json(data.get("freeTrial")),
            server_only=bool(data.get("serverOnly")),
            quantity_max=data.get("quantityMax"),
        )


@strawberry.type
class ItemDefinition:
    item_id: str
    display_name: str
    customer_type: CustomerType
    low_balance_thresholds: list[int] = strawberry.field(
        description="`item.balance_low` webhook events fire when a change takes the balance from "
                    "above one of these to at or below it.")

    @classmethod
    def from_row(cls, row: ItemDefinitionRow) -> ItemDefinition:
        return cls(item_id=row.item_id, display_name=row.display_name,
                   customer_type=CustomerType(row.customer_type),
                   low_balance_thresholds=list(row.low_balance_thresholds or []))


@strawberry.type
class IncludedItem:
    item: ItemDefinition
    quantity: int
    repeat: Interval | None
    expires: ItemExpiry
    rollover: int | None = strawberry.field(
        default=None, description="WHEN_REPEATED items: at each repeat the unused remainder "
        "carries over, up to this many (a ledger change of reason `rollover`).")


@strawberry.type
class ProductLine:
    product_line_id: str
    display_name: str
    customer_type: CustomerType

    @strawberry.field
    async def products(self, info: Info) -> list[Product]:
        from billgate.graphql.resolvers.catalog import products_of_line

        return await products_of_line(info, self.product_line_id)

    @classmethod
    def from_row(cls, row: ProductLineRow) -> ProductLine:
        return cls(product_line_id=row.product_line_id, display_name=row.display_name,
                   customer_type=CustomerType(row.customer_type))


@strawberry.type(description="A plan's overage terms: how far below zero tryDecrease may take "
                             "the item while the plan is owned, billed per unit at renewal.")
class ProductOverage:
    item_id: str
    unit_amounts: list[Money]
    limit: int

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ProductOverage:
        return cls(item_id=raw["itemId"], limit=raw["limit"],
                   unit_amounts=[Money.of(c, m) for c, m in raw["unitAmounts"].items()])


@strawberry.type
class Product(Node):
    product_id: str
    display_name: str
    customer_type: CustomerType
    prices: list[Price]
    free_trial: Interval | None
    server_only: bool
    stackable: bool
    included_by_default: bool
    product_line_key: strawberry.Private[str | None]
    add_on_keys: strawberry.Private[list[str]]
    included_raw: strawberry.Private[list[dict[str, Any]]]
    overage: list[ProductOverage] = strawberry.field(default_factory=list)

    @strawberry.field
    async def product_line(self, info: Info) -> ProductLine | None:
        if self.product_line_key is None:
            return None
        from billgate.graphql.resolvers.catalog import load_product_line

        return await load_product_line(info, self.product_line_key)

    @strawberry.field
    async def included_items(self, info: Info) -> list[IncludedItem]:
        if not self.included_raw:
            return []
        from billgate.graphql.resolvers.catalog import load_item_definition

        result = []
        for raw in self.included_raw:
            item = await load_item_definition(info, raw["itemId"])
            result.append(IncludedItem(
                item=item, quantity=raw["quantity"], repeat=Interval.from_json(raw.get("repeat")),
                expires=ItemExpiry(raw["expires"]), rollover=raw.get("rollover"),
            ))
        return result

    @strawberry.field
    async def is_add_on_to(self, info: Info) -> list[Product]:
        if not self.add_on_keys:
            return []
        from billgate.graphql.resolvers.catalog import load_products

        return await load_products(info, self.add_on_keys)

    @classmethod
    def from_row(cls, row: ProductRow, *, show_server_only_prices: bool) -> Product:
        prices = visible_prices(row.prices, by_server=show_server_only_prices)
        return cls(
            id=strawberry.ID(global_id("Product", row.product_id)),
            product_id=row.product_id,
            display_name=row.display_name,
            customer_type=CustomerType(row.customer_type),
            prices=[Price.from_json(p) for p in prices],
            free_trial=Interval.from_json(row.free_trial),
            server_only=row.server_only,
            stackable=row.stackable,
            included_by_default=row.included_by_default,
            product_line_key=row.product_line_id,
            add_on_keys=list(row.is_add_on_to or []),
            included_raw=list(row.included_items or []),
            overage=[ProductOverage.from_json(o) for o in row.overage or []],
        )

    @classmethod
    def from_snapshot(cls, doc: dict[str, Any], *, key: str) -> Product:
        """A product as it was sold (a purchase's snapshot); ``key`` makes its id unique
        when the product was inline."""
        return cls(
            id=strawberry.ID(global_id("Product", doc.get("productId") or key)),
            product_id=doc.get("productId") or key,
            display_name=doc["displayName"],
            customer_type=CustomerType(doc["customerType"]),
            prices=[Price.from_json(p) for p in doc.get("prices") or []],
            free_trial=Interval.from_json(doc.get("freeTrial")),
            server_only=bool(doc.get("serverOnly")),
            stackable=bool(doc.get("stackable")),
            included_by_default=bool(doc.get("includedByDefault")),
            product_line_key=doc.get("productLineId"),
            add_on_keys=list(doc.get("isAddOnTo") or []),
            included_raw=list(doc.get("includedItems") or []),
            overage=[ProductOverage.from_json(o) for o in doc.get("overage") or []],
        )
