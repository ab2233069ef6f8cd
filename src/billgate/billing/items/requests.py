"""Checked change requests and the checks every entry point shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import catalog
from billgate.billing.items import repository as repo
from billgate.billing.items.ledger import BALANCE_MAX, Entry, Ledger, Meta
from billgate.db.models import ItemDefinition
from billgate.errors import CustomerTypeMismatch, InvalidInput, ItemNotFound
from billgate.types import CustomerType

# One limit for every amount: what a balance can hold (see ledger.BALANCE_MAX).
MAX_AMOUNT = BALANCE_MAX
MAX_DESCRIPTION_LENGTH = 1000
MAX_KEY_LENGTH = 200
MAX_SOURCE_LENGTH = 200
MAX_PAGE = 1000
REASONS = frozenset({"purchase", "renewal", "repeat", "manual", "consume", "refund", "expire",
                     # holds (``holds.py``): delta-0 rows that change ``reserved``
                     "reserve", "release", "hold_expired",
                     # a WHEN_REPEATED item's remainder carried into the next period
                     "rollover",
                     # a subscription's quantity changed: its items scaled up or down
                     # (``subscriptions/seats.py``)
                     "seats",
                     # the debt of an overage item billed on an invoice (``overage.py``)
                     "overage_billed"})

Kind = Literal["try_decrease", "decrease", "increase"]


@dataclass(frozen=True)
class Request:
    """One change asked for: its amount, what the ledger row records, and whether it is a
    bucket (a grant that can expire) and of which source."""

    kind: Kind
    amount: int
    meta: Meta
    bucket: bool = False
    bucket_source: str | None = None

    @property
    def delta(self) -> int:
        return self.amount if self.kind == "increase" else -self.amount

    def apply(self, ledger: Ledger, now: datetime) -> None:
        if self.kind == "increase":
            ledger.add(self.amount, now=now, meta=self.meta, bucket=self.bucket,
                       bucket_source=self.bucket_source)
        else:
            ledger.remove(self.amount, now=now, meta=self.meta)

    def entry(self, balance: repo.BalanceRow, now: datetime) -> Entry:
        m = self.meta
        return Entry(version=balance.version, delta=self.delta, quantity_after=balance.quantity,
                     reason=m.reason, created_at=now, description=m.description,
                     expires_at=m.expires_at, source=m.source, idempotency_key=m.idempotency_key,
                     request_fingerprint=m.request_fingerprint, reserved_after=balance.reserved)


def build_request(kind: Kind, item_id: str, amount: int, *, reason: str,
                  description: str | None = None, idempotency_key: str | None = None,
                  expires_at: datetime | None = None, source: str | None = None,
                  expire_with_source: bool = False) -> Request:
    """A checked request. The fingerprint names what a keyed request asked for, so a key
    reused for anything else is refused."""
    _check_amount(amount)
    if reason not in REASONS - {"expire"}:
        raise InvalidInput(f"unknown reason {reason!r}", field=["reason"])
    _check_text(description, MAX_DESCRIPTION_LENGTH, "description")
    _check_text(source, MAX_SOURCE_LENGTH, "source")
    _check_text(idempotency_key, MAX_KEY_LENGTH, "idempotencyKey")
    fingerprint = None
    if idempotency_key is not None:
        fingerprint = f"{kind}:{item_id}:{amount}"
        if expires_at is not None:
            fingerprint += f":{expires_at.isoformat()}"
    meta = Meta(reason=reason, description=description, expires_at=expires_at, source=source,
                idempotency_key=idempotency_key, request_fingerprint=fingerprint)
    bucket = expires_at is not None or expire_with_source
    return Request(kind, amount, meta, bucket=bucket,
                    bucket_source=source if expire_with_source else None)


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= MAX_AMOUNT:
        raise InvalidInput(f"amount must be a whole number from 1 to {MAX_AMOUNT}",
                           field=["amount"])


def _check_text(value: str | None, max_length: int, name: str) -> None:
    if value is not None and not 1 <= len(value) <= max_length:
        raise InvalidInput(f"{name} must be 1 to {max_length} characters", field=[name])


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be from 1 to {MAX_PAGE}", field=["first"])


def check_expires_at(expires_at: datetime | None, now: datetime) -> None:
    """A grant's expiry must be strictly in the future: one expiring at ``now`` would
    never count."""
    if expires_at is None:
        return
    if expires_at.tzinfo is None:
        raise InvalidInput("expiresAt must include a time zone", field=["expiresAt"])
    if expires_at <= now:
        raise InvalidInput("expiresAt must be in the future", field=["expiresAt"])


async def live_item(session: AsyncSession, item_id: str,
                     customer_type: CustomerType) -> ItemDefinition:
    item = await catalog.get_item_definition(session, item_id)
    if item is None:
        raise ItemNotFound(f"item {item_id!r} not found", field=["itemId"])
    check_customer_type(item, customer_type)
    return item


def check_customer_type(item: ItemDefinition, customer_type: CustomerType) -> None:
    if item.customer_type != customer_type.value:
        raise CustomerTypeMismatch(
            f"item {item.item_id!r} is for {item.customer_type} customers, "
            f"not {customer_type.value}",
            field=["customer"],
        )
