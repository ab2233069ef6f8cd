"""Everything an operator looks at about one customer, read at once (the console's customer
page): the customer, its balances and their latest ledger rows, what it owns, its
subscriptions with their dunning state, invoices, transactions, card, and the products it
could be granted.

A read: it creates no customer and grants nothing. Reading balances settles expiries that
are due (as every balance read does), and those changes are published like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from billgate.billing import catalog, customers, invoices, items, transactions
from billgate.billing.auto_top_up import settings as top_up_settings
from billgate.billing.payment_methods import public_card
from billgate.billing.purchases import repository
from billgate.billing.refunds import REFUNDABLE_KINDS
from billgate.billing.subscriptions import overage_billing, scheduled_store
from billgate.billing.subscriptions.states import has_access
from billgate.clock import Clock
from billgate.db.engine import Database
from billgate.db.models import (
    Customer,
    Invoice,
    ItemChange,
    ItemDefinition,
    Product,
    Purchase,
    ScheduledChange,
    Transaction,
)
from billgate.types import CustomerRef

RECENT_CHANGES = 8
LEDGER_PAGE = 50
RECENT_ROWS = 25


@dataclass(frozen=True)
class Balance:
    item: ItemDefinition
    quantity: int
    version: int
    changes: Sequence[ItemChange]
    reserved: int = 0  # held by reservations (``items/holds.py``)


@dataclass(frozen=True)
class Dunning:
    """A subscription's payment state now (the rules of ``states.has_access``)."""

    in_dunning: bool
    days_past_due: int
    grace_period_ends_at: datetime | None
    has_access: bool
    next_retry_at: datetime | None


@dataclass(frozen=True)
class SubscriptionState:
    row: Purchase
    dunning: Dunning


@dataclass
class CustomerDetail:
    customer: Customer
    balances: list[Balance]
    owned: Sequence[Purchase]
    subscriptions: list[SubscriptionState]
    invoices: Sequence[Invoice]
    transactions: Sequence[Transaction]
    card: dict[str, object] | None
    grantable: Sequence[Product] = field(default_factory=list)
    credit: dict[str, int] = field(default_factory=dict)
    # Pending plan changes by subscription id (``subscriptions/scheduled_changes.py``).
    scheduled: dict[int, ScheduledChange] = field(default_factory=dict)
    # Auto top-ups by item id (``auto_top_up.settings``).
    top_ups: dict[str, top_up_settings.View] = field(default_factory=dict)
    # Overage used so far this period, per overage item of a live plan.
    overage: list[overage_billing.SoFar] = field(default_factory=list)


def dunning_of(row: Purchase, *, now: datetime, grace_period_days: int) -> Dunning:
    since = row.past_due_since if row.status == "PAST_DUE" else None
    return Dunning(
        in_dunning=since is not None,
        days_past_due=max(0, (now - since).days) if since else 0,
        grace_period_ends_at=since + timedelta(days=grace_period_days) if since else None,
        has_access=has_access(row, now=now, grace_period_days=grace_period_days),
        next_retry_at=row.next_retry_at if since else None)


def refundable(transaction: Transaction) -> int:
    """Minor units of a charge that can still be refunded (0 for anything else)."""
    if transaction.kind not in REFUNDABLE_KINDS or transaction.amount <= 0:
        return 0
    return max(0, transaction.amount - transaction.refunded_amount)


async def read(db: Database, ref: CustomerRef, *, clock: Clock, grace_period_days: int,
               bus: Any = None, ledger_item: str | None = None,
               before_version: int | None = None) -> CustomerDetail | None:
    """The customer's page, or None when no such customer exists. Each balance comes with
    its latest ledger rows; ``ledger_item`` with a page of ``LEDGER_PAGE`` rows (those below
    ``before_version``), the others with ``RECENT_CHANGES``."""
    async with db.read_session() as session:
        customer = await customers.find(session, ref)
        if customer is None:
            return None
        owned = await repository.list_owned(session, customer.id)
        subs = await repository.list_subscriptions_page(session, customer.id, before_id=None,
                                                        limit=RECENT_ROWS)
        bills = await invoices.list_page(session, customer.id, before_id=None, limit=RECENT_ROWS)
        moneys = await transactions.list_page(session, customer.id, before_id=None,
                                              limit=RECENT_ROWS)
        grantable = await catalog.list_products_page(
            session, after=None, limit=500, customer_type=ref.type, include_server_only=True)
        credit = {currency: await invoices.credit_balance(session, customer.id, currency)
                  for currency in sorted({i.currency for i in bills})}
        scheduled = await scheduled_store.pending_many(session, [s.id for s in subs])
    balances = []
    for definition, snapshot in await items.list_balances(db, ref, clock=clock, bus=bus):
        paged = definition.item_id == ledger_item
        changes = await items.list_changes(
            db, ref, definition.item_id, limit=LEDGER_PAGE + 1 if paged else RECENT_CHANGES,
            before_version=before_version if paged else None)
        balances.append(Balance(definition, snapshot.quantity, snapshot.version, changes,
                                snapshot.reserved))
    now = clock.now()
    return CustomerDetail(
        customer=customer, balances=balances, owned=owned,
        subscriptions=[SubscriptionState(s, dunning_of(s, now=now, grace_period_days=grace_period_days))
                       for s in subs],
        invoices=bills, transactions=moneys, card=public_card(customer.default_payment_method),
        grantable=grantable, credit={c: a for c, a in credit.items() if a}, scheduled=scheduled,
        top_ups={v.item_id: v for v in await top_up_settings.list_for(db, customer.id)},
        overage=overage_billing.so_far(owned, {b.item.item_id: b.quantity for b in balances}))
