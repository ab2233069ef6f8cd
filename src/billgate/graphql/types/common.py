"""Enums and the ``Node`` interface shared by every GraphQL type."""

from __future__ import annotations

from enum import StrEnum

import strawberry

from billgate import types as domain

CustomerType = strawberry.enum(domain.CustomerType)
IntervalUnit = strawberry.enum(domain.IntervalUnit)
ItemExpiry = strawberry.enum(domain.ItemExpiry)
Currency = strawberry.enum(domain.Currency)


@strawberry.interface
class Node:
    """An object with an opaque global id, fetchable through ``Query.node``."""

    id: strawberry.ID


@strawberry.input
class CustomerRef:
    type: CustomerType
    customer_id: str

    def to_domain(self) -> domain.CustomerRef:
        from billgate.billing.customers import validate_ref

        return validate_ref(domain.CustomerRef(domain.CustomerType(self.type), self.customer_id))


@strawberry.enum
class SubscriptionStatus(StrEnum):
    TRIALING = "TRIALING"
    ACTIVE = "ACTIVE"
    PAST_DUE = "PAST_DUE"
    PAUSED = "PAUSED"
    CANCELED = "CANCELED"


@strawberry.enum
class ProductType(StrEnum):
    ONE_TIME = "ONE_TIME"
    SUBSCRIPTION = "SUBSCRIPTION"
    INCLUDED = "INCLUDED"


@strawberry.enum
class InvoiceStatus(StrEnum):
    DRAFT = "DRAFT"
    OPEN = "OPEN"
    PAID = "PAID"
    UNCOLLECTIBLE = "UNCOLLECTIBLE"
    VOID = "VOID"
