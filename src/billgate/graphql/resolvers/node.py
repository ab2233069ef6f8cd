"""``Query.node``: fetch any object by its global id, with the same visibility rules as
the field that would have returned it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from billgate.billing.customers import validate_ref
from billgate.errors import BillgateError
from billgate.graphql.context import Info
from billgate.graphql.errors import raise_query_error
from billgate.graphql.ids import parse_global_id, row_id, split_compound_id
from billgate.graphql.resolvers import catalog as catalog_resolvers
from billgate.graphql.types.common import Node
from billgate.graphql.types.customer import Customer
from billgate.types import CustomerRef, CustomerType

NodeResolver = Callable[[Info, str], Awaitable[Node | None]]


async def _product(info: Info, node_id: str) -> Node | None:
    return await catalog_resolvers.product(info, node_id)


async def _customer(info: Info, node_id: str) -> Node | None:
    ref = readable(info, *split_compound_id(node_id, 2))
    return Customer.of(ref) if ref else None


async def _item(info: Info, node_id: str) -> Node | None:
    from billgate.graphql.resolvers.items import item

    type_name, customer_id, item_id = split_compound_id(node_id, 3)
    ref = readable(info, type_name, customer_id)
    return await item(info, ref, item_id) if ref else None


async def _subscription(info: Info, node_id: str) -> Node | None:
    from billgate.db.models import Customer as CustomerRow
    from billgate.db.models import Purchase
    from billgate.graphql.types.purchases import CustomerSubscription

    pk = row_id(node_id)
    if pk is None:
        return None
    async with info.context.runtime.db.read_session() as session:
        row = await session.get(Purchase, pk)
        owner = await session.get(CustomerRow, row.customer_pk) if row else None
    if row is None or owner is None or row.kind != "SUBSCRIPTION":
        return None
    if readable(info, owner.type, owner.customer_id) is None:
        return None
    from billgate.billing.purchases.owned import shown_to
    from billgate.graphql.resolvers.purchases import access_rules

    # A server-only product's subscription: hidden from clients.
    if not shown_to(row, by_server=info.context.principal.is_server):
        return None

    return CustomerSubscription.from_row(row, await access_rules(info))


async def _invoice(info: Info, node_id: str) -> Node | None:
    from billgate.graphql.resolvers.invoices import invoice_node

    return await invoice_node(info, node_id)


async def _transaction(info: Info, node_id: str) -> Node | None:
    from billgate.graphql.resolvers.invoices import transaction_node

    return await transaction_node(info, node_id)


def readable(info: Info, type_name: str, customer_id: str) -> CustomerRef | None:
    """The customer, when the caller may read it (else None: ``node`` answers null)."""
    try:
        ref = validate_ref(CustomerRef(CustomerType(type_name), customer_id))
    except (ValueError, BillgateError):  # no customer can have that id
        return None
    return ref if info.context.principal.can_read(ref) else None


async def _item_change(info: Info, node_id: str) -> Node | None:
    from billgate.db.models import Customer as CustomerRow
    from billgate.db.models import ItemChange as ItemChangeRow
    from billgate.graphql.types.items import ItemChange

    pk = row_id(node_id)
    if pk is None:
        return None
    async with info.context.runtime.db.read_session() as session:
        row = await session.get(ItemChangeRow, pk)
        owner = await session.get(CustomerRow, row.customer_pk) if row else None
    if row is None or owner is None or readable(info, owner.type, owner.customer_id) is None:
        return None
    return ItemChange.from_row(row)


async def _webhook_endpoint(info: Info, node_id: str) -> Node | None:
    from billgate.graphql.resolvers.webhooks import endpoint_node

    return await endpoint_node(info, node_id)


async def _webhook_delivery(info: Info, node_id: str) -> Node | None:
    from billgate.graphql.resolvers.webhooks import delivery_node

    return await delivery_node(info, node_id)


async def _operator_action(info: Info, node_id: str) -> Node | None:
    from billgate.graphql.resolvers.reports import operator_action_node

    return await operator_action_node(info, node_id)


async def _payout(info: Info, node_id: str) -> Node | None:
    from billgate.graphql.resolvers.reports import payout_node

    return await payout_node(info, node_id)


async def _reservation(info: Info, node_id: str) -> Node | None:
    from billgate.billing.items import holds
    from billgate.graphql.mutations.holds import Reservation

    pk = row_id(node_id)
    found = None if pk is None else await holds.find(info.context.runtime.db, pk)
    if found is None or readable(info, found[0].type.value, found[0].customer_id) is None:
        return None
    return Reservation.of(found[1])


async def _promo_code(info: Info, node_id: str) -> Node | None:
    from billgate.graphql.mutations.promo_codes import promo_code_node

    return await promo_code_node(info, node_id)


NODE_RESOLVERS: dict[str, NodeResolver] = {
    "Product": _product, "Customer": _customer, "Item": _item, "ItemChange": _item_change,
    "CustomerSubscription": _subscription, "Invoice": _invoice, "Transaction": _transaction,
    "WebhookEndpoint": _webhook_endpoint, "WebhookDelivery": _webhook_delivery,
    "OperatorAction": _operator_action, "Payout": _payout, "Reservation": _reservation,
    "PromoCode": _promo_code,
}


async def node(info: Info, id: str) -> Node | None:
    try:
        type_name, node_id = parse_global_id(id)
        resolver = NODE_RESOLVERS.get(type_name)
        return await resolver(info, node_id) if resolver else None
    except BillgateError as exc:
        raise_query_error(exc)
