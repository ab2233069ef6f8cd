"""A balance as the repository reads it under its lock, and who and what it is about.

Their own module so that what the repository calls (``top_up_crossings.py``) and what builds
events from its rows (``results.events_of``) can name them without importing the repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class BalanceRow:
    id: int
    customer_pk: int
    quantity: int
    tracked: int
    version: int
    next_expiry_at: datetime | None
    # The item's ``low_balance_thresholds``, read by the same statement (no extra round trip).
    thresholds: tuple[int, ...] = ()
    reserved: int = 0
    # The threshold of the balance's enabled auto top-up (``rules.top_up_threshold``).
    top_up: int | None = None


@dataclass(frozen=True)
class Names:
    """Who and what a balance is about, in the app's terms (for events)."""

    customer_type: str
    customer_id: str
    item_id: str
