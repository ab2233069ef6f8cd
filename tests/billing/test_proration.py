"""Time-based proration (``billing/subscriptions/proration.py``), checked against exact
fractions of the time computed here: amount × time left / period length, halves rounded
away from zero."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from billgate.billing.subscriptions.proration import SwitchAmounts, prorate, switch_amounts

START = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
END = datetime(2026, 2, 28, 12, 0, tzinfo=UTC)  # 28 days
US = timedelta(microseconds=1)


def expected(amount: int, start: datetime, end: datetime, at: datetime) -> int:
    """The reference: exact in microseconds, the share clamped to [0, 1], halves away from 0."""
    left = min(max(end - at, timedelta(0)), end - start)
    share = Fraction(abs(amount)) * Fraction(left // US, (end - start) // US)
    return int(math.copysign(math.floor(share + Fraction(1, 2)), amount))


class TestProrate:
    def test_the_whole_period_left_is_the_whole_amount(self) -> None:
        assert prorate(1900, start=START, end=END, at=START) == 1900

    def test_nothing_left_at_or_after_the_end(self) -> None:
        assert prorate(1900, start=START, end=END, at=END) == 0
        assert prorate(1900, start=START, end=END, at=END + timedelta(days=3)) == 0

    def test_a_time_before_the_start_counts_as_the_whole_period(self) -> None:
        assert prorate(1900, start=START, end=END, at=START - timedelta(days=2)) == 1900

    def test_an_empty_or_reversed_period_is_worth_nothing(self) -> None:
        assert prorate(1900, start=START, end=START, at=START) == 0
        assert prorate(1900, start=END, end=START, at=START) == 0

    def test_exact_shares_of_a_28_day_month(self) -> None:
        assert prorate(2800, start=START, end=END, at=START + timedelta(days=7)) == 2100
        assert prorate(9900, start=START, end=END, at=START + timedelta(days=14)) == 4950

    def test_halves_round_up(self) -> None:
        # 1 cent over two seconds, one left: exactly half a cent.
        end = START + timedelta(seconds=2)
        assert prorate(1, start=START, end=end, at=START + timedelta(seconds=1)) == 1
        assert prorate(3, start=START, end=end, at=START + timedelta(seconds=1)) == 2
        # Just under a half rounds down.
        end = START + timedelta(seconds=2, microseconds=1)
        assert prorate(1, start=START, end=end, at=START + timedelta(seconds=1, microseconds=1)) == 0

    def test_negative_amounts_round_symmetrically(self) -> None:
        end = START + timedelta(seconds=2)
        half = START + timedelta(seconds=1)
        assert prorate(-1, start=START, end=end, at=half) == -1
        assert prorate(-3, start=START, end=end, at=half) == -2

    def test_microseconds_count(self) -> None:
        """A switch a microsecond later can cross a rounding boundary: nothing is truncated
        to whole seconds."""
        end = START + timedelta(seconds=1)
        at = START + timedelta(microseconds=500_000)
        assert prorate(1, start=START, end=end, at=at) == 1
        assert prorate(1, start=START, end=end, at=at + US) == 0

    def test_yen_have_no_fraction(self) -> None:
        # ¥2,900 with 19 of 28 days left: 1967.857... -> 1968.
        assert prorate(2900, start=START, end=END, at=START + timedelta(days=9)) == 1968

    def test_large_amounts_stay_exact(self) -> None:
        amount = 10**15  # the largest catalog amount, in minor units
        at = START + timedelta(days=9, seconds=1, microseconds=3)
        assert prorate(amount, start=START, end=END, at=at) == expected(amount, START, END, at)

    @given(amount=st.integers(min_value=0, max_value=10**12),
           length=st.integers(min_value=1, max_value=400 * 86_400 * 10**6),
           offset=st.integers(min_value=-(10**12), max_value=500 * 86_400 * 10**6))
    def test_matches_the_exact_fraction(self, amount: int, length: int, offset: int) -> None:
        end = START + length * US
        at = START + offset * US
        assert prorate(amount, start=START, end=end, at=at) == expected(amount, START, end, at)

    @given(amount=st.integers(min_value=0, max_value=10**9),
           first=st.integers(min_value=0, max_value=28 * 86_400),
           later=st.integers(min_value=0, max_value=28 * 86_400))
    def test_never_grows_as_time_passes(self, amount: int, first: int, later: int) -> None:
        a, b = sorted((first, later))
        early = prorate(amount, start=START, end=END, at=START + timedelta(seconds=a))
        late = prorate(amount, start=START, end=END, at=START + timedelta(seconds=b))
        assert 0 <= late <= early <= amount


class TestSwitchAmounts:
    def test_same_interval_credits_and_charges_the_time_left(self) -> None:
        at = START + timedelta(days=9, hours=3, minutes=25, seconds=17)
        amounts = switch_amounts(old_total=9900, new_total=1900, period_start=START,
                                 period_end=END, now=at, same_interval=True)
        assert amounts == SwitchAmounts(credit=expected(9900, START, END, at),
                                        debit=expected(1900, START, END, at))
        assert (amounts.credit, amounts.debit, amounts.net) == (6667, 1280, -5387)

    def test_an_upgrade_nets_a_charge(self) -> None:
        at = START + timedelta(days=21)
        amounts = switch_amounts(old_total=1900, new_total=9900, period_start=START,
                                 period_end=END, now=at, same_interval=True)
        assert (amounts.credit, amounts.debit, amounts.net) == (475, 2475, 2000)

    def test_another_interval_charges_the_new_plan_in_full(self) -> None:
        at = START + timedelta(days=7)
        amounts = switch_amounts(old_total=2900, new_total=29000, period_start=START,
                                 period_end=END, now=at, same_interval=False)
        assert (amounts.credit, amounts.debit, amounts.net) == (2175, 29000, 26825)

    def test_net_rounds_each_side_separately(self) -> None:
        """Credit and debit are each whole minor units on the invoice; the net is their
        difference, not the rounded difference of the exact shares."""
        end = START + timedelta(seconds=4)
        at = START + timedelta(seconds=2)  # half left
        amounts = switch_amounts(old_total=3, new_total=5, period_start=START, period_end=end,
                                 now=at, same_interval=True)
        assert (amounts.credit, amounts.debit, amounts.net) == (2, 3, 1)
