"""What the item service returns: balance snapshots, change results and change events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from billgate.billing.items.ledger import Entry
from billgate.billing.items.rows import Names
from billgate.errors import InsufficientQuantity


@dataclass(frozen=True)
class BalanceSnapshot:
    """A balance as of one version. ``customer_pk`` is None for a customer never seen."""

    customer_pk: int | None
    item_id: str
    quantity: int
    version: int
    reserved: int = 0  # the HELD reservations' sum

    @property
    def non_negative_quantity(self) -> int:
        return max(0, self.quantity)

    @property
    def available(self) -> int:
        """What a new hold or ``try_decrease`` can take: ``quantity - reserved``."""
        return self.quantity - self.reserved


@dataclass(frozen=True)
class ChangeEvent:
    """One committed ledger row, as published to live subscribers."""

    customer_type: str
    customer_id: str
    item_id: str
    quantity: int
    version: int
    delta: int
    reason: str
    reserved: int = 0


@dataclass(frozen=True)
class ChangeResult:
    """``success`` is False only for a ``try_decrease`` that could not consume; then
    ``error`` says why, ``balance`` is what was available and nothing was written."""

    success: bool
    balance: BalanceSnapshot
    change_id: int | None
    replayed: bool = False
    changes: list[ChangeEvent] = field(default_factory=list)
    error: InsufficientQuantity | None = None


def events_of(names: Names, entries: Sequence[Entry]) -> list[ChangeEvent]:
    """The events of a change's ledger rows, for live subscribers."""
    return [ChangeEvent(names.customer_type, names.customer_id, names.item_id, e.quantity_after,
                        e.version, e.delta, e.reason, e.reserved_after) for e in entries]
