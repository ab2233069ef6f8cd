"""The three balance changes apps ask for by name (GraphQL's three mutations, REST's
``update-quantity``), through one door, so the rules of which change takes which option
are written once."""

from __future__ import annotations

from datetime import datetime

from billgate.billing.errors import InvalidInput
from billgate.billing.items.requests import Kind
from billgate.billing.items.results import ChangeResult
from billgate.billing.items.service import decrease, increase, try_decrease
from billgate.clock import Clock
from billgate.db.engine import Database
from billgate.types import CustomerRef


async def change(db: Database, customer: CustomerRef, item_id: str, kind: Kind, *,
                 amount: int, clock: Clock, description: str | None = None,
                 idempotency_key: str | None = None,
                 expires_at: datetime | None = None) -> ChangeResult:
    """``try_decrease`` (never below 0, atomic), ``increase`` (optionally a dated grant that
    expires at ``expires_at``) or ``decrease`` (may go negative). Only a grant can expire:
    ``expires_at`` on a removal is ``INVALID_INPUT`` and changes nothing."""
    if kind == "increase":
        return await increase(db, customer, item_id, amount=amount, clock=clock,
                              expires_at=expires_at, description=description,
                              idempotency_key=idempotency_key)
    if expires_at is not None:
        raise InvalidInput("expiresAt is only for increaseItemQuantity", field=["expiresAt"])
    remove = try_decrease if kind == "try_decrease" else decrease
    return await remove(db, customer, item_id, amount=amount, clock=clock,
                        description=description, idempotency_key=idempotency_key)
