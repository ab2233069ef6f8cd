"""The customer as the API shows it. Fields that need the database resolve through
``graphql/resolvers``; the type itself holds only the customer's identity."""

from __future__ import annotations

import strawberry

from billgate import types as domain
from billgate.graphql.ids import compound_id, global_id
from billgate.graphql.types.common import CustomerType, Node


@strawberry.type
class Customer(Node):
    type: CustomerType
    customer_id: str

    @property
    def ref(self) -> domain.CustomerRef:
        return domain.CustomerRef(domain.CustomerType(self.type), self.customer_id)

    @classmethod
    def of(cls, ref: domain.CustomerRef) -> Customer:
        return cls(
            id=strawberry.ID(global_id("Customer", compound_id(ref.type.value, ref.customer_id))),
            type=CustomerType(ref.type),
            customer_id=ref.customer_id,
        )
