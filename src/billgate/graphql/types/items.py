"""Item balances and their ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from billgate.billing.items import BalanceSnapshot
from billgate.db.models import ItemChange as ItemChangeRow
from billgate.graphql.context import Info
from billgate.graphql.ids import compound_id, global_id
from billgate.graphql.pagination import Connection
from billgate.graphql.types.auto_top_up import AutoTopUp
from billgate.graphql.types.common import Node
from billgate.types import CustomerRef


@strawberry.type
class ItemChange(Node):
    delta: int
    quantity_after: int
    reason: str
    description: str | None
    expires_at: datetime | None
    created_at: datetime
    version: int

    @classmethod
    def from_row(cls, row: ItemChangeRow) -> ItemChange:
        return cls(id=strawberry.ID(global_id("ItemChange", str(row.id))), delta=row.delta,
                   quantity_after=row.quantity_after, reason=row.reason,
                   description=row.description, expires_at=row.expires_at,
                   created_at=row.created_at, version=row.version)


@strawberry.type
class Item(Node):
    item_id: str
    quantity: int
    non_negative_quantity: int
    version: int
    customer: strawberry.Private[CustomerRef]
    reserved: int = strawberry.field(
        default=0, description="The sum of the HELD reservations (reserveItemQuantity).")
    # Known when the parent already read the definition; else looked up only if asked for,
    # so a balance mutation that does not select it costs no extra query.
    known_display_name: strawberry.Private[str | None] = None
    # Set on an Item that a live feed hands, as one object, to many subscribers: their
    # results for it are computed once (graphql/shared_results.py).
    shared_results: strawberry.Private[dict[Any, Any] | None] = None

    @strawberry.field(description="What holds leave for consumers: quantity - reserved.")
    def available(self) -> int:
        return self.quantity - self.reserved

    @strawberry.field(description="The customer's auto top-up of this item (null: none).")
    async def auto_top_up(self, info: Info) -> AutoTopUp | None:
        from billgate.graphql.loaders import auto_top_ups

        view = await auto_top_ups(info.context).load((self.customer, self.item_id))
        return None if view is None else AutoTopUp.of(view)

    @strawberry.field
    async def display_name(self, info: Info) -> str:
        if self.known_display_name is not None:
            return self.known_display_name
        from billgate.graphql.resolvers.catalog import load_item_definition

        return (await load_item_definition(info, self.item_id)).display_name

    @strawberry.field(description="The ledger of this balance, newest first.")
    async def changes(self, info: Info, first: int | None = None,
                      after: str | None = None) -> Connection[ItemChange]:
        from billgate.graphql.resolvers.items import item_changes

        return await item_changes(info, self, first, after)

    @classmethod
    def of(cls, customer: CustomerRef, item_id: str, display_name: str | None, quantity: int,
           version: int, *, shared: bool = False, reserved: int = 0) -> Item:
        return cls(
            id=strawberry.ID(global_id(
                "Item", compound_id(customer.type.value, customer.customer_id, item_id))),
            item_id=item_id, known_display_name=display_name, quantity=quantity,
            non_negative_quantity=max(0, quantity), version=version, customer=customer,
            reserved=reserved, shared_results={} if shared else None)

    @classmethod
    def from_snapshot(cls, customer: CustomerRef, display_name: str | None,
                      snapshot: BalanceSnapshot) -> Item:
        return cls.of(customer, snapshot.item_id, display_name, snapshot.quantity,
                      snapshot.version, reserved=snapshot.reserved)
