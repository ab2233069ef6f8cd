"""The payment rails: what only a payment processor can do, behind one protocol.

billgate's engine decides *what* to charge and *when*; rails only move money. ``TestRails``
(test mode) and ``StripeRails`` (live) implement the same protocol, so one code path serves
both modes. Amounts are integer minor units; a JPY amount has no fractional part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from billgate.types import CustomerRef


@dataclass(frozen=True)
class ChargeRequest:
    customer: CustomerRef
    amount: int
    currency: str
    description: str
    # Derived from what is being paid for (an invoice, a checkout), so a retried job can
    # never charge twice.
    idempotency_key: str
    payment_method: str | None = None
    off_session: bool = False


@dataclass(frozen=True)
class ChargeResult:
    succeeded: bool
    reference: str | None = None  # the processor's id (a PaymentIntent), None in test mode
    failure_code: str | None = None
    failure_message: str | None = None


@dataclass(frozen=True)
class RefundResult:
    succeeded: bool
    reference: str | None = None
    failure_message: str | None = None


class PaymentRails(Protocol):
    name: str

    async def charge(self, request: ChargeRequest) -> ChargeResult: ...

    async def refund(self, *, reference: str | None, amount: int, currency: str,
                     idempotency_key: str) -> RefundResult: ...
