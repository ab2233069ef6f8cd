"""The customer as the API shows it. A ``Customer`` object is only ever built after the
caller's right to read it was checked, so its fields need no further check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from billgate import types as domain
from billgate.graphql.context import Info
from billgate.graphql.ids import compound_id, global_id
from billgate.graphql.pagination import Connection
from billgate.graphql.types.common import CustomerType, Node
from billgate.graphql.types.items import Item

if TYPE_CHECKING:
    from billgate.graphql.types.billing import Billing
    from billgate.graphql.types.common import SubscriptionStatus
    from billgate.graphql.types.invoices import Invoice, Transaction
    from billgate.graphql.types.purchases import CustomerSubscription, OwnedProduct

OwnedProductT = Annotated["OwnedProduct", strawberry.lazy("billgate.graphql.types.purchases")]
SubscriptionT = Annotated["CustomerSubscription", strawberry.lazy("billgate.graphql.types.purchases")]
StatusT = Annotated["SubscriptionStatus", strawberry.lazy("billgate.graphql.types.common")]
BillingT = Annotated["Billing", strawberry.lazy("billgate.graphql.types.billing")]
InvoiceT = Annotated["Invoice", strawberry.lazy("billgate.graphql.types.invoices")]
TransactionT = Annotated["Transaction", strawberry.lazy("billgate.graphql.types.invoices")]


@strawberry.type
class Customer(Node):
    type: CustomerType
    customer_id: str
    # Set on a Customer that a live feed hands, as one object, to many subscribers: their
    # results for it are computed once (graphql/shared_results.py, live_customers.py).
    shared_results: strawberry.Private[dict[Any, Any] | None] = None

    @property
    def ref(self) -> domain.CustomerRef:
        return domain.CustomerRef(domain.CustomerType(self.type), self.customer_id)

    @strawberry.field(description="One balance; every item of the customer's type reads 0 "
                      "until something is granted.")
    async def item(self, info: Info, item_id: str) -> Item:
        from billgate.graphql.resolvers.items import item

        return await item(info, self.ref, item_id)

    @strawberry.field(description="Every item definition of the customer's type with its balance.")
    async def items(self, info: Info) -> list[Item]:
        from billgate.graphql.resolvers.items import all_items

        return await all_items(info, self.ref)

    @strawberry.field(description="What the customer owns: one entry per product.")
    async def products(self, info: Info, first: int | None = None,
                       after: str | None = None) -> Connection[OwnedProductT]:
        from billgate.graphql.resolvers.purchases import owned_products

        return await owned_products(info, self.ref, first, after)

    @strawberry.field(description="Subscriptions, newest first, past ones included.")
    async def subscriptions(self, info: Info, first: int | None = None, after: str | None = None,
                            status: list[StatusT] | None = None) -> Connection[SubscriptionT]:
        from billgate.graphql.resolvers.purchases import subscriptions

        return await subscriptions(info, self.ref, first, after, status)

    @strawberry.field(description="Invoices, newest first.")
    async def invoices(self, info: Info, first: int | None = None,
                       after: str | None = None) -> Connection[InvoiceT]:
        from billgate.graphql.resolvers.invoices import invoices_page

        return await invoices_page(info, self.ref, first, after)

    @strawberry.field(description="Charges, renewals, prorations, refunds and grants, newest "
                      "first. Secret key only: FORBIDDEN for customer tokens.")
    async def transactions(self, info: Info, first: int | None = None,
                           after: str | None = None) -> Connection[TransactionT]:
        from billgate.graphql.resolvers.invoices import transactions_page

        return await transactions_page(info, self.ref, first, after)

    @strawberry.field(description="The payment-processor customer and the default card. "
                      "Server keys, the user itself and team admins; FORBIDDEN for team members.")
    async def billing(self, info: Info) -> BillingT:
        from billgate.graphql.resolvers.billing import billing

        return await billing(info, self.ref)

    @strawberry.field(description="Should the customer get what the product gives? True for an "
                      "owned one-time or included product, and for a subscription per its hasAccess. "
                      "Without productId (StackBE's checkAccess): true when any subscription grants "
                      "access now (grace period included, paused excluded).")
    async def has_access(self, info: Info, product_id: str | None = None) -> bool:
        from billgate.graphql.resolvers.purchases import has_access

        return await has_access(info, self.ref, product_id)

    @strawberry.field(description="The newest live subscription (TRIALING, ACTIVE, PAST_DUE, "
                      "PAUSED), of that product line if given, with product and price as sold; "
                      "null when none.")
    async def current_subscription(self, info: Info,
                                   product_line_id: str | None = None) -> SubscriptionT | None:
        from billgate.graphql.resolvers.purchases import current_subscription

        return await current_subscription(info, self.ref, product_line_id)

    @classmethod
    def of(cls, ref: domain.CustomerRef, *, shared: bool = False) -> Customer:
        return cls(
            id=strawberry.ID(global_id("Customer", compound_id(ref.type.value, ref.customer_id))),
            type=CustomerType(ref.type),
            customer_id=ref.customer_id,
            shared_results={} if shared else None,
        )
