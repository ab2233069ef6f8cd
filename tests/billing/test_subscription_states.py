"""The subscription state machine and the access rule (``billing/subscriptions/states.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest

from billgate.billing.subscriptions.states import (
    ACTIVE,
    ALLOWED,
    CANCELED,
    PAST_DUE,
    PAUSED,
    TRIALING,
    InvalidTransition,
    has_access,
    transition,
)
from billgate.db.models import Purchase

NOW = datetime(2026, 2, 17, 12, 0, tzinfo=UTC)
STATES = (TRIALING, ACTIVE, PAST_DUE, PAUSED, CANCELED)
# The diagram of states.py, written out independently.
EXPECTED = {
    (TRIALING, ACTIVE), (TRIALING, PAST_DUE), (TRIALING, CANCELED), (TRIALING, PAUSED),
    (ACTIVE, PAST_DUE), (ACTIVE, PAUSED), (ACTIVE, CANCELED),
    (PAST_DUE, ACTIVE), (PAST_DUE, CANCELED), (PAST_DUE, PAUSED),
    (PAUSED, ACTIVE), (PAUSED, CANCELED),
}


def subscription(status: str, **fields: object) -> Purchase:
    defaults: dict[str, object] = {
        "kind": "SUBSCRIPTION", "status": status, "cancel_at_period_end": False,
        "current_period_start": NOW - timedelta(days=10),
        "current_period_end": NOW + timedelta(days=20), "updated_at": NOW - timedelta(days=10)}
    return Purchase(**{**defaults, **fields})


class TestTransition:
    def test_the_table_is_the_diagram(self) -> None:
        assert {(a, b) for a, targets in ALLOWED.items() for b in targets} == EXPECTED
        assert set(ALLOWED) == set(STATES)

    @pytest.mark.parametrize(("source", "target"), sorted(EXPECTED))
    def test_allowed_moves_change_status_and_time(self, source: str, target: str) -> None:
        sub = subscription(source)
        transition(sub, target, now=NOW)
        assert (sub.status, sub.updated_at) == (target, NOW)

    @pytest.mark.parametrize(("source", "target"),
                             sorted(set(product(STATES, STATES)) - EXPECTED))
    def test_other_moves_are_refused_and_change_nothing(self, source: str, target: str) -> None:
        sub = subscription(source)
        with pytest.raises(InvalidTransition) as refused:
            transition(sub, target, now=NOW)
        assert refused.value.code == "INVALID_INPUT"
        assert f"a {source} subscription cannot become {target}" in refused.value.message
        assert (sub.status, sub.updated_at) == (source, NOW - timedelta(days=10))

    def test_every_live_state_can_be_canceled_and_canceled_is_final(self) -> None:
        assert all(CANCELED in ALLOWED[status] for status in STATES if status != CANCELED)
        assert ALLOWED[CANCELED] == set()


class TestHasAccess:
    @pytest.mark.parametrize(("status", "access"), [
        (TRIALING, True), (ACTIVE, True), (PAUSED, False), (CANCELED, False)])
    def test_by_status(self, status: str, access: bool) -> None:
        assert has_access(subscription(status), now=NOW, grace_period_days=7) is access

    @pytest.mark.parametrize("status", [TRIALING, ACTIVE])
    def test_a_pending_cancel_keeps_access_until_the_period_end(self, status: str) -> None:
        end = NOW + timedelta(days=3)
        sub = subscription(status, cancel_at_period_end=True, current_period_end=end)
        assert has_access(sub, now=end - timedelta(microseconds=1), grace_period_days=7)
        assert not has_access(sub, now=end, grace_period_days=7), \
            "access ends at the period end even before the scheduler ends the subscription"
        assert has_access(subscription(status, current_period_end=end), now=end + timedelta(days=1),
                          grace_period_days=7), "without a pending cancel, a late renewal keeps access"

    def test_past_due_keeps_access_inside_the_grace_period_only(self) -> None:
        since = NOW - timedelta(days=2)
        sub = subscription(PAST_DUE, past_due_since=since)
        grace_end = since + timedelta(days=7)
        assert has_access(sub, now=since, grace_period_days=7)
        assert has_access(sub, now=grace_end - timedelta(microseconds=1), grace_period_days=7)
        assert not has_access(sub, now=grace_end, grace_period_days=7)
        assert not has_access(sub, now=since, grace_period_days=0), "no grace period: no access"

    def test_past_due_without_a_date_has_no_access(self) -> None:
        assert not has_access(subscription(PAST_DUE, past_due_since=None), now=NOW,
                              grace_period_days=7)

    def test_the_grace_period_follows_the_settings(self) -> None:
        sub = subscription(PAST_DUE, past_due_since=NOW - timedelta(days=10))
        assert not has_access(sub, now=NOW, grace_period_days=7)
        assert has_access(sub, now=NOW, grace_period_days=14)
