"""What a customer's invoices name as buyer and where its emails go (``updateCustomer``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billgate.billing import unit_of_work
from billgate.billing.context import Scope
from billgate.billing.invoices import buyer_of
from billgate.billing.payment_settings import BUYER_FIELDS, party_with, validate_party
from billgate.billing.unit_of_work import UnitOfWork
from billgate.clock import Clock
from billgate.db.engine import Database
from billgate.types import CustomerRef


async def update(db: Database, ref: CustomerRef, changes: Mapping[str, Any], *,
                 clock: Clock | None = None, bus: Any = None) -> None:
    """The customer's email and what its invoices name as buyer: ``changes`` holds the
    parts given (``name``, ``email``, ``address``, ``tax_id``); an empty value clears a
    part, a part not given is kept. Invoices already issued keep the buyer they were
    issued to. One unit of work: the parts are merged with the row read under the lock."""
    async def work(uow: UnitOfWork) -> None:
        uow.quiet()  # nothing ``customerChanged`` subscribers read
        row = uow.customer
        party = party_with(buyer_of(row), changes)
        validate_party(party, BUYER_FIELDS)
        row.email, row.name, row.tax_id = party.email, party.name, party.tax_id
        row.address = party.address.to_json() if party.address else None

    await unit_of_work.run(Scope(db, clock, bus), ref, work)
