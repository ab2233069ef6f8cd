"""The balance changes apps ask for by name (GraphQL's three mutations, REST's
``update-quantity``), through one door, so the rules of which change takes which option
are written once.

Each runs in its own transaction on the item ledger's hot path (``items/service.py``,
``items/direct.py``: one balance row, locked by its own conditional UPDATE) and is
announced on ``bus`` after it commits. A customer seen for the first time is first given
its include-by-default products by a unit of work (``billing/unit_of_work.py``): that is a
purchases concern, so it is called from here, above both, and the ledger imports neither.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billgate.billing import unit_of_work
from billgate.billing.context import Scope
from billgate.billing.items import holds, service
from billgate.billing.items.requests import Kind
from billgate.billing.items.results import ChangeEvent, ChangeResult
from billgate.billing.publishing import publish_changes
from billgate.billing.unit_of_work import UnitOfWork
from billgate.clock import Clock
from billgate.db.engine import Database
from billgate.errors import InvalidInput
from billgate.types import CustomerRef


async def change(db: Database, customer: CustomerRef, item_id: str, kind: Kind, *,
                 amount: int, clock: Clock, description: str | None = None,
                 idempotency_key: str | None = None, expires_at: datetime | None = None,
                 bus: Any = None) -> ChangeResult:
    """``try_decrease`` (never below 0, atomic), ``increase`` (optionally a dated grant that
    expires at ``expires_at``) or ``decrease`` (may go negative). Only a grant can expire:
    ``expires_at`` on a removal is ``INVALID_INPUT`` and changes nothing."""
    if kind == "increase":
        return await increase(db, customer, item_id, amount=amount, clock=clock,
                              expires_at=expires_at, description=description,
                              idempotency_key=idempotency_key, bus=bus)
    if expires_at is not None:
        raise InvalidInput("expiresAt is only for increaseItemQuantity", field=["expiresAt"])
    remove = try_decrease if kind == "try_decrease" else decrease
    return await remove(db, customer, item_id, amount=amount, clock=clock,
                        description=description, idempotency_key=idempotency_key, bus=bus)


async def try_decrease(db: Database, customer: CustomerRef, item_id: str, *, amount: int,
                       clock: Clock, description: str | None = None,
                       idempotency_key: str | None = None, bus: Any = None) -> ChangeResult:
    """``items.service.try_decrease`` (its docstring has the rules), announced."""
    return await _announced(bus, await service.try_decrease(
        db, customer, item_id, amount=amount, clock=clock, ensure=ensure_customer,
        description=description, idempotency_key=idempotency_key))


async def increase(db: Database, customer: CustomerRef, item_id: str, *, amount: int,
                   clock: Clock, expires_at: datetime | None = None,
                   description: str | None = None, idempotency_key: str | None = None,
                   reason: str = "manual", bus: Any = None) -> ChangeResult:
    """``items.service.increase`` (its docstring has the rules), announced."""
    return await _announced(bus, await service.increase(
        db, customer, item_id, amount=amount, clock=clock, ensure=ensure_customer,
        expires_at=expires_at, description=description, idempotency_key=idempotency_key,
        reason=reason))


async def decrease(db: Database, customer: CustomerRef, item_id: str, *, amount: int,
                   clock: Clock, description: str | None = None,
                   idempotency_key: str | None = None, reason: str = "manual",
                   bus: Any = None) -> ChangeResult:
    """``items.service.decrease`` (its docstring has the rules), announced."""
    return await _announced(bus, await service.decrease(
        db, customer, item_id, amount=amount, clock=clock, ensure=ensure_customer,
        description=description, idempotency_key=idempotency_key, reason=reason))


async def reserve(db: Database, customer: CustomerRef, item_id: str, *, amount: int,
                  ttl_seconds: int, clock: Clock, idempotency_key: str | None = None,
                  bus: Any = None) -> holds.HoldResult:
    """``items.holds.reserve`` (its docstring has the rules), announced."""
    result = await holds.reserve(db, customer, item_id, amount=amount, ttl_seconds=ttl_seconds,
                                 clock=clock, ensure=ensure_customer,
                                 idempotency_key=idempotency_key)
    await publish_changes(bus, result.changes)
    return result


async def commit_reservation(db: Database, reservation_id: int, *, clock: Clock,
                             amount: int | None = None, bus: Any = None) -> holds.Ended:
    """``items.holds.commit``, announced."""
    ended = await holds.commit(db, reservation_id, clock=clock, amount=amount)
    await publish_changes(bus, ended.changes)
    return ended


async def release_reservation(db: Database, reservation_id: int, *, clock: Clock,
                              bus: Any = None) -> holds.Ended:
    """``items.holds.release``, announced."""
    ended = await holds.release(db, reservation_id, clock=clock)
    await publish_changes(bus, ended.changes)
    return ended


async def ensure_customer(db: Database, ref: CustomerRef, now: datetime) -> list[ChangeEvent]:
    """A customer exists from its first reference with its include-by-default products, so
    a new user's first ``tryDecrease`` can spend the Free plan's credits. Their events are
    returned ahead of the change's own (announced with it)."""
    async def work(uow: UnitOfWork) -> list[ChangeEvent]:
        uow.quiet()  # announced with the change that asked
        events, uow.events = uow.events, []
        return events

    return await unit_of_work.run(Scope(db), ref, work, now=now)


async def _announced(bus: Any, result: ChangeResult) -> ChangeResult:
    await publish_changes(bus, result.changes)
    return result
