"""Item balances (credits, seats, API calls) and their ledger.

Call it through this package: ``from billgate.billing import items`` then
``items.grant(session, ...)`` inside a unit of work. The changes apps ask for by name, each
in its own transaction (``tryDecrease``, ``increase``, ``decrease``), are in
``billing/balances.py``: a customer's first reference needs its include-by-default
products, a purchases concern the ledger does not import. Inside, by role: ``ledger``
(the credit rules, pure Python), ``repository`` (the SQL), ``requests`` (checked inputs),
``service`` (changes), ``reads`` (balances and history), ``results`` (what they return).
"""

from billgate.billing.items.reads import (
    Balances,
    changes_since,
    get_balance,
    list_balances,
    list_balances_many,
    list_changes,
    read_item,
    read_item_checking_customer,
)
from billgate.billing.items.requests import MAX_AMOUNT, REASONS
from billgate.billing.items.results import BalanceSnapshot, ChangeEvent, ChangeResult
from billgate.billing.items.service import (
    expire_source,
    expired_of_source,
    grant,
    revoke,
    settle_due,
    take_from_source,
)

__all__ = [
    "Balances",
    "MAX_AMOUNT",
    "REASONS",
    "BalanceSnapshot",
    "ChangeEvent",
    "ChangeResult",
    "changes_since",
    "expire_source",
    "expired_of_source",
    "get_balance",
    "read_item",
    "read_item_checking_customer",
    "grant",
    "list_balances",
    "list_balances_many",
    "list_changes",
    "revoke",
    "settle_due",
    "take_from_source",
]
