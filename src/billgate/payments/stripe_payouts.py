"""Money Stripe holds and sends to the merchant's bank: the balance and the payouts.

billgate only reads them (the console's Payouts page, ``Query.payouts``): Stripe schedules
and makes payouts itself. Plain dataclasses out, never SDK objects. Amounts are minor units
with an upper-case currency, as everywhere in billgate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from billgate.payments.stripe_rails import StripeRails


@dataclass(frozen=True)
class PayoutInfo:
    id: str
    amount: int
    currency: str
    status: str  # paid | pending | in_transit | canceled | failed
    arrival_date: datetime | None
    created: datetime
    description: str | None = None
    failure_message: str | None = None


@dataclass(frozen=True)
class BalanceAmount:
    currency: str
    available: int
    pending: int


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def _payout(obj: dict[str, Any]) -> PayoutInfo:
    return PayoutInfo(id=str(obj["id"]), amount=int(obj.get("amount") or 0),
                      currency=str(obj.get("currency") or "").upper(),
                      status=str(obj.get("status") or ""),
                      arrival_date=_time(obj.get("arrival_date")),
                      created=_time(obj.get("created")) or datetime.now(UTC),
                      description=obj.get("description") or None,
                      failure_message=obj.get("failure_message") or None)


async def list_payouts(rails: StripeRails, *, limit: int,
                       starting_after: str | None = None) -> tuple[list[PayoutInfo], bool]:
    """Payouts newest first (Stripe's order), ``limit`` at most, after the payout
    ``starting_after``; and whether more follow."""
    params: dict[str, Any] = {"limit": limit}
    if starting_after:
        params["starting_after"] = starting_after
    page = await StripeRails._call(rails.client.v1.payouts.list_async(params))
    return [_payout(obj) for obj in page.get("data") or []], bool(page.get("has_more"))


async def retrieve_payout(rails: StripeRails, payout_id: str) -> PayoutInfo:
    return _payout(await StripeRails._call(rails.client.v1.payouts.retrieve_async(payout_id)))


def _amounts(entries: Any) -> Iterable[tuple[str, int]]:
    # Stripe sends a list of {amount, currency}; localstripe a single object.
    for entry in entries if isinstance(entries, list) else [entries] if entries else []:
        yield str(entry.get("currency") or "").upper(), int(entry.get("amount") or 0)


async def balance(rails: StripeRails) -> list[BalanceAmount]:
    """What Stripe holds for the merchant, per currency: available now and pending."""
    obj = await StripeRails._call(rails.client.v1.balance.retrieve_async())
    totals: dict[str, list[int]] = {}
    for index, key in enumerate(("available", "pending")):
        for currency, amount in _amounts(obj.get(key)):
            totals.setdefault(currency, [0, 0])[index] += amount
    return [BalanceAmount(currency, available, pending)
            for currency, (available, pending) in sorted(totals.items())]
