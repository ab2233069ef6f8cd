"""Filters of the cross-customer lists (``Query.transactions``, ``Query.invoices``)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from billgate.billing import reports
from billgate.billing.transactions import KINDS
from billgate.errors import InvalidInput
from billgate.graphql.types.common import CustomerRef, InvoiceStatus


def _window(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end <= start:
        raise InvalidInput("filter.to must be after filter.from", field=["filter", "to"])


@strawberry.input
class TransactionFilter:
    kinds: list[str] | None = strawberry.field(
        default=None, description="purchase, renewal, proration, refund, grant.")
    customer: CustomerRef | None = None
    from_: datetime | None = strawberry.field(default=None, name="from")
    to: datetime | None = None
    test_mode: bool | None = None

    def to_domain(self) -> reports.TransactionFilter:
        unknown = sorted(set(self.kinds or []) - set(KINDS))
        if unknown:
            raise InvalidInput(f"unknown transaction kind(s) {', '.join(map(repr, unknown))}; "
                               f"kinds are {', '.join(KINDS)}", field=["filter", "kinds"])
        _window(self.from_, self.to)
        return reports.TransactionFilter(
            kinds=self.kinds or None,
            customer=self.customer.to_domain() if self.customer else None,
            start=self.from_, end=self.to, test_mode=self.test_mode)


@strawberry.input
class InvoiceFilter:
    status: list[InvoiceStatus] | None = None
    customer: CustomerRef | None = None
    from_: datetime | None = strawberry.field(default=None, name="from")
    to: datetime | None = None

    def to_domain(self) -> reports.InvoiceFilter:
        _window(self.from_, self.to)
        return reports.InvoiceFilter(
            statuses=[s.value for s in self.status] if self.status else None,
            customer=self.customer.to_domain() if self.customer else None,
            start=self.from_, end=self.to)
