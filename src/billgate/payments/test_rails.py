"""Test-mode rails: no network, no money. Magic card numbers decide the outcome, as with
Stripe's test cards:

- ``4242 4242 4242 4242`` (and any other number) succeeds;
- ``4000 0000 0000 0002`` is declined (``card_declined``);
- ``4000 0000 0000 9995`` fails for insufficient funds (``insufficient_funds``).

A payment method is named ``pm_card_<number>`` or by the bare number. With no payment
method at all (test-mode checkout needs no card) the charge succeeds at no cost.
"""

from __future__ import annotations

import hashlib

from billgate.payments.rails import ChargeRequest, ChargeResult, RefundResult

DECLINES = {
    "4000000000000002": ("card_declined", "Your card was declined."),
    "4000000000009995": ("insufficient_funds", "Your card has insufficient funds."),
}


def card_number(payment_method: str | None) -> str | None:
    if payment_method is None:
        return None
    digits = payment_method.removeprefix("pm_card_").replace(" ", "")
    return digits if digits.isdigit() else None


class TestRails:
    __test__ = False
    name = "test"

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        decline = DECLINES.get(card_number(request.payment_method) or "")
        if decline:
            return ChargeResult(False, failure_code=decline[0], failure_message=decline[1])
        digest = hashlib.sha256(request.idempotency_key.encode()).hexdigest()[:24]
        return ChargeResult(True, reference=f"test_ch_{digest}")

    async def refund(self, *, reference: str | None, amount: int, currency: str,
                     idempotency_key: str) -> RefundResult:
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        return RefundResult(True, reference=f"test_re_{digest}")
