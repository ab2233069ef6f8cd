"""A renewal's repeating credits follow its payment: a renewal that fails (PAST_DUE) grants
nothing of the new period until it is paid (a dunning retry, a new default card), then
grants it at once; ``BILLGATE_GRANT_CREDITS_DURING_GRACE=true`` grants during the grace
period instead. Walked through time with ``advanceTestClock`` (see
``test_subscription_lifecycle.py`` for the clock and the helpers)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from test_subscription_lifecycle import (
    DAY,
    DECLINED_CARD,
    GOOD_CARD,
    TRY_DECREASE,
    USER,
    SteppedClock,
    advance_to,
    buy,
    credit_changes,
    credits,
    set_card,
    settings,
    subscription,
    utc,
)

pytestmark = pytest.mark.usefixtures("example_catalog")


@pytest.fixture(autouse=True)
def clock(runtime: Any) -> SteppedClock:
    from test_subscription_lifecycle import T0

    runtime.clock = SteppedClock(T0)
    return runtime.clock


async def spend(api: Any, amount: int) -> None:
    payload = (await api.data(TRY_DECREASE, {"input": {
        "customer": USER, "itemId": "credits", "amount": amount}}))["tryDecreaseItemQuantity"]
    assert payload["success"] is True, payload


def repeats(changes: list[tuple[int, str, Any]]) -> list[tuple[int, Any]]:
    return [(delta, when) for delta, reason, when in changes if reason == "repeat"]


async def test_a_failed_renewal_grants_the_new_period_only_once_paid(
        api: Any, runtime: Any, clock: SteppedClock) -> None:
    await buy(api, runtime, "pro")  # 17 January: 1,000 credits a month, WHEN_REPEATED
    await spend(api, 450)
    assert await credits(api) == 550
    await set_card(api, DECLINED_CARD)
    renewal = utc(2026, 2, 17, 12)

    await advance_to(api, clock, renewal)
    assert (await subscription(api, "pro"))["status"] == "PAST_DUE"
    assert await credits(api) == 0, "January's rest expired; February's is not paid for"
    assert repeats(await credit_changes(api)) == []

    await advance_to(api, clock, renewal + 3 * DAY)  # the first retry is declined too
    assert await credits(api) == 0

    paid_at = renewal + 4 * DAY
    await advance_to(api, clock, paid_at)
    await set_card(api, GOOD_CARD)  # paid now
    assert (await subscription(api, "pro"))["status"] == "ACTIVE"
    assert await credits(api) == 1_000
    assert repeats(await credit_changes(api)) == [(1_000, paid_at)], "granted when paid"

    await advance_to(api, clock, utc(2026, 3, 17, 12))  # the next renewal is paid on time
    assert await credits(api) == 1_000
    assert repeats(await credit_changes(api)) == [(1_000, paid_at), (1_000, utc(2026, 3, 17, 12))]


async def test_repeats_not_aligned_with_renewals_wait_for_the_unpaid_period(
        api: Any, runtime: Any, clock: SteppedClock) -> None:
    """Enterprise bills on the 31st (after its trial) but repeats on the 17th: the 17 March
    repeat falls in the period the failed 28 February renewal should have paid."""
    await settings(api, dunningRetryDays=[10, 20, 30], gracePeriodDays=30)
    await buy(api, runtime, "enterprise")
    await advance_to(api, clock, utc(2026, 2, 17, 12))
    assert await credits(api) == 20_000, "10,000 at purchase, 10,000 on 17 February (paid)"
    await set_card(api, DECLINED_CARD)

    await advance_to(api, clock, utc(2026, 3, 17, 12))
    assert (await subscription(api, "enterprise"))["status"] == "PAST_DUE"
    assert await credits(api) == 20_000, "the 17 March repeat waits for the payment"

    await advance_to(api, clock, utc(2026, 3, 19, 12))
    await set_card(api, GOOD_CARD)
    assert await credits(api) == 30_000
    assert repeats(await credit_changes(api))[-1] == (10_000, utc(2026, 3, 19, 12))


async def test_exhausted_retries_never_grant_the_unpaid_period(
        api: Any, runtime: Any, clock: SteppedClock) -> None:
    await buy(api, runtime, "pro")
    await set_card(api, DECLINED_CARD)
    await advance_to(api, clock, utc(2026, 2, 24, 12))  # retries on days 3, 5 and 7 fail
    assert (await subscription(api, "pro"))["status"] == "CANCELED"
    assert repeats(await credit_changes(api)) == []
    assert await credits(api) == 100, "only the returning Free plan's credits"


async def test_grant_credits_during_grace_grants_at_the_renewal(
        api: Any, runtime: Any, clock: SteppedClock) -> None:
    runtime.settings = dataclasses.replace(runtime.settings, grant_credits_during_grace=True)
    await buy(api, runtime, "pro")
    await spend(api, 450)
    await set_card(api, DECLINED_CARD)
    renewal = utc(2026, 2, 17, 12)
    await advance_to(api, clock, renewal)
    assert (await subscription(api, "pro"))["status"] == "PAST_DUE"
    assert await credits(api) == 1_000
    assert repeats(await credit_changes(api)) == [(1_000, renewal)]

    await set_card(api, GOOD_CARD)
    assert await credits(api) == 1_000, "paying later grants nothing twice"
