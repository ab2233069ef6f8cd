"""Overage on the ledger's side: how far below zero a ``try_decrease`` may go, and the
``overage_billed`` change that brings a billed debt back to 0.

The rule itself (``available - amount >= -limit``) is ``rules.may_consume``; this module
finds the ``limit`` it is given and writes the billing change. The invoice's side (lines,
when a debt is billed) is ``billing/subscriptions/overage_billing.py``.

Choices where the issue is silent:

- The terms are the plan's as sold (the purchase's product snapshot, like its price): an
  edit of the catalog changes what new buyers get, not what a customer already owns.
- "Owns a plan": a live subscription (``ownership.live_subscription``: TRIALING, ACTIVE,
  PAST_DUE, PAUSED) whose snapshot names the item. Several such plans: the largest
  ``limit`` applies.
- Only ``tryDecreaseItemQuantity`` goes into overage. A reservation does not (a hold
  promises units that exist; ``holds.py`` keeps its ``available >= amount`` guard), and
  ``decreaseItemQuantity`` may go into debt without a plan, as it always could.
- The direct path (``direct.py``) keeps its one statement: its guard is the limit-0 case
  of the rule, and a ``try_decrease`` it refuses already goes to the normal path, which
  reads the plans (one more SELECT, only when the balance does not cover the amount: a
  refusal is 5 statements instead of 4, ``tests/api/test_overage.py::TestStatements``) and
  applies the rule. A balance already in overage is served by the normal path. A set of
  "items some plan has overage for" kept in memory per catalog version would save that
  SELECT for items without overage, but goes stale: plans are the purchases' snapshots,
  and a checkout page made before a catalog edit can still sell the old terms after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing.items import repository as repo
from billgate.billing.items.alerts import record_low_balances
from billgate.billing.items.ledger import Meta
from billgate.billing.items.results import ChangeEvent, events_of
from billgate.billing.purchases.ownership import live_subscription
from billgate.db.models import Customer, ItemDefinition, Purchase

REASON = "overage_billed"


def terms_of(product: dict[str, Any]) -> list[dict[str, Any]]:
    """A product document's overage terms (``catalog_spec``: itemId, unitAmounts, limit)."""
    return list(product.get("overage") or [])


def terms_for(product: dict[str, Any], item_id: str) -> dict[str, Any] | None:
    return next((t for t in terms_of(product) if t["itemId"] == item_id), None)


def largest_limit(products: Iterable[dict[str, Any]], item_id: str) -> int:
    """The ``limit`` that applies to ``item_id`` given the owned plans' snapshots (0: none)."""
    limits = [t["limit"] for p in products if (t := terms_for(p, item_id)) is not None]
    return max(limits, default=0)


async def limit_for(session: AsyncSession, customer_pk: int | None, item_id: str) -> int:
    """How far below zero a ``try_decrease`` of ``item_id`` may take the customer's balance
    now (``rules.may_consume``). Read after the balance row is locked: a plan ending at the
    same time bills the debt under that lock, so it sees every unit let through."""
    if customer_pk is None:
        return 0
    products = await session.scalars(select(Purchase.product).where(
        Purchase.customer_pk == customer_pk, live_subscription()))
    return largest_limit(products.all(), item_id)


async def bring_to_zero(session: AsyncSession, customer: Customer, item: ItemDefinition, *,
                        source: str, description: str | None,
                        now: datetime) -> tuple[int, list[ChangeEvent]]:
    """Bill the balance's debt: one ledger change of reason ``overage_billed`` that adds
    the units below zero (after due expiries), so the balance is 0. Returns the units (0:
    no debt, nothing written) and the events. In the caller's unit of work, on the locked
    balance row (lock order: the customer and the purchase were locked before)."""

    balance = await repo.lock(session, repo.where_pks(customer.id, item.id))
    if balance is None:
        return 0, []
    ledger = await repo.load_ledger(session, balance, now)
    ledger.settle(now)
    debt = max(0, -ledger.quantity)
    if debt:
        ledger.add(debt, now=now, bucket=False,
                   meta=Meta(reason=REASON, source=source, description=description))
    await repo.persist(session, balance, ledger, now)
    names = repo.Names(customer.type, customer.customer_id, item.item_id)
    events = events_of(names, ledger.entries)
    await record_low_balances(session, events, thresholds=balance.thresholds, now=now)
    return debt, events
