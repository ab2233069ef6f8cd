"""Item balances (credits, seats, API calls) and their ledger.

Call it through this package: ``from billgate.billing import items`` then
``items.try_decrease(...)``. Inside, by role: ``ledger`` (the credit rules, pure Python),
``repository`` (the SQL), ``requests`` (checked inputs), ``service`` (changes), ``reads``
(balances and history), ``results`` (what they return).
"""

from billgate.billing.items.by_kind import change
from billgate.billing.items.reads import (
    Balances,
    changes_since,
    get_balance,
    list_balances,
    list_balances_many,
    list_changes,
    read_item,
)
from billgate.billing.items.requests import MAX_AMOUNT, REASONS
from billgate.billing.items.results import BalanceSnapshot, ChangeEvent, ChangeResult, Publish
from billgate.billing.items.service import (
    decrease,
    expire_source,
    grant,
    increase,
    revoke,
    settle_due,
    try_decrease,
)

__all__ = [
    "Balances",
    "MAX_AMOUNT",
    "REASONS",
    "BalanceSnapshot",
    "ChangeEvent",
    "ChangeResult",
    "Publish",
    "change",
    "changes_since",
    "decrease",
    "expire_source",
    "get_balance",
    "read_item",
    "grant",
    "increase",
    "list_balances",
    "list_balances_many",
    "list_changes",
    "revoke",
    "settle_due",
    "try_decrease",
]
