"""Time-based proration, exact in minor units (integer arithmetic, half-up rounding)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction


def prorate(amount: int, *, start: datetime, end: datetime, at: datetime) -> int:
    """The part of ``amount`` (minor units) that covers ``[at, end)`` of ``[start, end)``."""
    total = (end - start).total_seconds()
    if total <= 0:
        return 0
    left = max(0.0, min(total, (end - at).total_seconds()))
    # Seconds are whole or microsecond-precise; Fraction keeps the division exact.
    share = Fraction(amount) * Fraction(round(left * 1_000_000), round(total * 1_000_000))
    return int(share + Fraction(1, 2)) if share >= 0 else -int(-share + Fraction(1, 2))


@dataclass(frozen=True)
class SwitchAmounts:
    credit: int  # unused time of the old plan (>= 0)
    debit: int  # what the new plan costs for the time it now covers (>= 0)
    # The tax on an upgrade's ``net`` (``operations.with_tax``: the buyer's rate now) and
    # its line's text; 0 for a downgrade, whose credit is kept untaxed.
    tax: int = 0
    tax_label: str | None = None

    @property
    def net(self) -> int:
        """> 0: charge now (upgrade). < 0: owed to the customer (downgrade), kept as credit."""
        return self.debit - self.credit

    @property
    def due_now(self) -> int:
        """What is charged at once: an upgrade's ``net`` plus its tax; 0 for a downgrade."""
        return max(self.net, 0) + self.tax


def switch_amounts(*, old_total: int, new_total: int, period_start: datetime,
                   period_end: datetime, now: datetime, same_interval: bool) -> SwitchAmounts:
    """Unused time of the old plan is credited. With the same interval the new plan keeps
    the period and costs its remaining time; otherwise a new period starts now at the new
    plan's full price."""
    credit = prorate(old_total, start=period_start, end=period_end, at=now)
    debit = (prorate(new_total, start=period_start, end=period_end, at=now)
             if same_interval else new_total)
    return SwitchAmounts(credit=credit, debit=debit)
