"""``Query.node``: fetch any object by its global id, with the same visibility rules as
the field that would have returned it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from billgate.billing.errors import BillgateError
from billgate.graphql.context import Info
from billgate.graphql.errors import raise_query_error
from billgate.graphql.ids import parse_global_id, split_compound_id
from billgate.graphql.resolvers import catalog as catalog_resolvers
from billgate.graphql.types.common import Node
from billgate.graphql.types.customer import Customer
from billgate.types import CustomerRef, CustomerType

NodeResolver = Callable[[Info, str], Awaitable[Node | None]]


async def _product(info: Info, node_id: str) -> Node | None:
    return await catalog_resolvers.product(info, node_id)


async def _customer(info: Info, node_id: str) -> Node | None:
    type_name, customer_id = split_compound_id(node_id, 2)
    try:
        ref = CustomerRef(CustomerType(type_name), customer_id)
    except ValueError:
        return None
    if not info.context.principal.can_read(ref):
        return None
    return Customer.of(ref)


# Other modules register their node types here (items, subscriptions, invoices...).
NODE_RESOLVERS: dict[str, NodeResolver] = {"Product": _product, "Customer": _customer}


async def node(info: Info, id: str) -> Node | None:
    try:
        type_name, node_id = parse_global_id(id)
        resolver = NODE_RESOLVERS.get(type_name)
        return await resolver(info, node_id) if resolver else None
    except BillgateError as exc:
        raise_query_error(exc)
