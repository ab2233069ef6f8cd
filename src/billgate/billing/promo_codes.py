"""Promo codes: what they take off, when they may be used, and their redemptions.

A code is case-insensitive (stored upper-cased) and generated when not given. It takes
``percentOff`` (a decimal string, 0 < p <= 100) or ``amountOff`` (a fixed amount per
currency), never both, off the plan line of:

- ONCE: the first paid invoice (a one-time purchase's, or a subscription's first period:
  the checkout's, or the first charge after a free trial);
- FOREVER: every invoice of the subscription (renewals, and the period after a pause);
- REPEATING: the invoices of periods that start within ``durationInMonths`` calendar
  months of the first paid period's start.

Amounts (``discount_amount``): a percentage is computed exactly in minor units and
rounded half-up to a whole minor unit (yen for JPY): 15% of $19.99 is 299.85 cents ->
$3.00; 15% of ¥2,900 is ¥435. An amount off never exceeds the plan line (the invoice never
goes below zero). Order on an invoice: plan line, discount line (negative, kind
``discount``), then tax on the subtotal after discount (``invoices.add_tax``), then the
account credit on the taxed total.

Redemptions (one ``PromoRedemption`` per checkout that carries a code):
ATTACHED when ``createCheckoutUrl(promoCode)`` or the hosted page's field names it (checked
then, counted nothing); RESERVED when a completion claims the checkout
(``service.claim_checkout``), counted until the checkout's lease runs out (real time); given
back (ATTACHED again) when the payment fails or the claim is released; APPLIED when the
checkout is recorded paid (or its free trial starts), which raises ``times_redeemed``. All of
it runs in the customer's unit of work, with the code's row locked (``locks.promo_code``)
while its redemptions are counted and taken: two servers never both take the last one.
A checkout that is abandoned or expires holds nothing (its reservation lapses with the
lease). ``promo_code.redeemed`` is written when a redemption is applied.

"First purchase" means the customer has never completed a checkout before (grants and
include-by-default products do not count). A plan change through checkout takes no code.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import locks, writes
from billgate.billing.calendar import add_interval
from billgate.clock import Clock, utcnow
from billgate.db.engine import Database
from billgate.db.models import CheckoutSession, Customer, PromoCode, PromoRedemption, Purchase
from billgate.errors import InvalidInput, PromoCodeInvalid
from billgate.money import MoneyError, from_minor, to_minor
from billgate.notifications.webhooks import events
from billgate.types import CustomerRef, CustomerType

ONCE, FOREVER, REPEATING = "ONCE", "FOREVER", "REPEATING"
DURATIONS = (ONCE, FOREVER, REPEATING)
ATTACHED, RESERVED, APPLIED = "ATTACHED", "RESERVED", "APPLIED"
DISCOUNT = "discount"  # the invoice line kind (``invoices.DISCOUNT``)

_CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]{2,39}")
_PERCENT = re.compile(r"(0|[1-9][0-9]?)(\.[0-9]{1,4})?|100(\.0{1,4})?")
# Generated codes avoid look-alikes (0/O, 1/I/L) so they can be read aloud and typed.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
GENERATED_LENGTH = 10
MAX_MONTHS = 120
MAX_DISPLAY_NAME = 200
MAX_PRODUCTS = 100


# Creating and changing codes (no customer: ``writes.apart``) ----------------------------------


@dataclass(frozen=True)
class NewPromoCode:
    """``createPromoCode``'s input, as billing reads it (amounts as decimal strings)."""

    duration: str
    code: str | None = None
    display_name: str | None = None
    percent_off: str | None = None
    amount_off: Sequence[tuple[str, str]] = ()  # (currency, "9.99")
    duration_in_months: int | None = None
    max_redemptions: int | None = None
    expires_at: datetime | None = None
    product_ids: Sequence[str] = ()
    first_purchase_only: bool = False


def normalize(code: str) -> str:
    """How a code is stored and looked up: trimmed and upper-cased."""
    return code.strip().upper()


def generate() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(GENERATED_LENGTH))


def _validated(spec: NewPromoCode, *, now: datetime) -> dict[str, Any]:
    """The row's values; ``InvalidInput`` naming the first bad field (nothing written)."""
    code = normalize(spec.code) if spec.code is not None else generate()
    if not _CODE.fullmatch(code):
        raise InvalidInput("code must be 3 to 40 letters, digits, '-' or '_', starting with a "
                           "letter or digit", field=["code"])
    if spec.duration not in DURATIONS:
        raise InvalidInput(f"duration must be one of {', '.join(DURATIONS)}", field=["duration"])
    if (spec.duration == REPEATING) != (spec.duration_in_months is not None):
        raise InvalidInput("durationInMonths is required with REPEATING and only with it",
                           field=["durationInMonths"])
    if spec.duration_in_months is not None and not 1 <= spec.duration_in_months <= MAX_MONTHS:
        raise InvalidInput(f"durationInMonths must be from 1 to {MAX_MONTHS}",
                           field=["durationInMonths"])
    if (spec.percent_off is None) == (not spec.amount_off):
        raise InvalidInput("give percentOff or amountOff, not both", field=["percentOff"])
    percent = None
    if spec.percent_off is not None:
        percent = spec.percent_off.strip()
        if not _PERCENT.fullmatch(percent) or Decimal(percent) <= 0:
            raise InvalidInput("percentOff must be a decimal string above 0 and at most 100, "
                               "with up to 4 decimals (\"12.5\")", field=["percentOff"])
    amounts: dict[str, int] = {}
    for index, (currency, amount) in enumerate(spec.amount_off):
        try:
            minor = to_minor(amount, currency)
        except MoneyError as exc:
            raise InvalidInput(str(exc), field=["amountOff", str(index), "amount"]) from None
        if minor <= 0 or currency in amounts:
            raise InvalidInput("each amountOff must be above 0, once per currency",
                               field=["amountOff", str(index)])
        amounts[currency] = minor
    if spec.max_redemptions is not None and spec.max_redemptions < 1:
        raise InvalidInput("maxRedemptions must be at least 1", field=["maxRedemptions"])
    if spec.expires_at is not None and spec.expires_at <= now:
        raise InvalidInput("expiresAt must be in the future", field=["expiresAt"])
    name = spec.display_name.strip() if spec.display_name else None
    if name is not None and len(name) > MAX_DISPLAY_NAME:
        raise InvalidInput(f"displayName takes at most {MAX_DISPLAY_NAME} characters",
                           field=["displayName"])
    products = list(dict.fromkeys(p.strip() for p in spec.product_ids))
    if len(products) > MAX_PRODUCTS or any(not p or len(p) > 100 for p in products):
        raise InvalidInput(f"productIds takes up to {MAX_PRODUCTS} product ids",
                           field=["productIds"])
    return {"code": code, "display_name": name or None, "percent_off": percent,
            "amount_off": amounts, "duration": spec.duration,
            "duration_in_months": spec.duration_in_months,
            "max_redemptions": spec.max_redemptions, "times_redeemed": 0,
            "expires_at": spec.expires_at, "enabled": True, "product_ids": products,
            "first_purchase_only": spec.first_purchase_only, "created_at": now}


async def create(db: Database, spec: NewPromoCode, *, clock: Clock) -> PromoCode:
    """A new enabled code. A code already taken (in any case) is ``INVALID_INPUT``."""
    values = _validated(spec, now=clock.now())

    async def work(session: AsyncSession) -> PromoCode:
        if await session.scalar(select(PromoCode.id).where(PromoCode.code == values["code"])):
            raise InvalidInput(f"promo code {values['code']} exists already", field=["code"])
        row = PromoCode(**values)
        session.add(row)
        await session.flush()
        return row

    return await writes.apart(db, work)


async def set_enabled(db: Database, promo_code_id: int, enabled: bool) -> PromoCode:
    """Enable or disable a code (a disabled code is refused at checkout; what was redeemed
    keeps its discount)."""
    async def work(session: AsyncSession) -> PromoCode:
        row = await locks.promo_code(session, promo_code_id)
        if row is None:
            raise InvalidInput("no such promo code", field=["id"])
        row.enabled = enabled
        return row

    return await writes.apart(db, work)


async def get(db: Database, promo_code_id: int) -> PromoCode | None:
    async with db.read_session() as session:
        return await session.get(PromoCode, promo_code_id)


async def list_page(db: Database, *, before_id: int | None, limit: int) -> Sequence[PromoCode]:
    """Codes newest first (keyset on id): ``promoCodes``."""
    stmt = select(PromoCode).order_by(PromoCode.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(PromoCode.id < before_id)
    async with db.read_session() as session:
        return (await session.scalars(stmt)).all()


# What a code takes off ---------------------------------------------------------------------------


def discount_amount(code: PromoCode, subtotal: int, currency: str) -> int:
    """Minor units ``code`` takes off ``subtotal`` (see the module's rounding rule)."""
    if subtotal <= 0:
        return 0
    if code.percent_off is not None:
        exact = Decimal(subtotal) * Decimal(code.percent_off) / Decimal(100)
        return min(subtotal, int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)))
    return min(subtotal, int((code.amount_off or {}).get(currency, 0)))


def describe(code: PromoCode, currency: str) -> str:
    """The discount line's text: ``Promo code SAVE20 (20% off)``."""
    if code.percent_off is not None:
        off = f"{code.percent_off}% off"
    else:
        off = f"{from_minor(int(code.amount_off.get(currency, 0)), currency)} {currency} off"
    return f"{code.display_name or 'Promo code ' + code.code} ({off})"


def line(code: PromoCode, redemption: PromoRedemption, amount: int, currency: str) -> dict[str, Any]:
    return {"kind": DISCOUNT, "description": describe(code, currency), "amount": -amount,
            "promoCode": code.code, "redemptionId": redemption.id}


# Checking a code for a checkout ------------------------------------------------------------------


@dataclass
class Discount:
    """A code on a checkout, checked: what it takes off the checkout's plan line."""

    code: PromoCode
    redemption: PromoRedemption
    amount: int
    currency: str

    @property
    def description(self) -> str:
        return describe(self.code, self.currency)


async def find(session: AsyncSession, text: str) -> PromoCode:
    code = await session.scalar(select(PromoCode).where(PromoCode.code == normalize(text)))
    if code is None:
        raise PromoCodeInvalid(f"promo code {normalize(text)[:40]!r} is unknown",
                               field=["promoCode"])
    return code


async def _taken(session: AsyncSession, code: PromoCode, *, except_checkout: int | None) -> int:
    """Redemptions that count against ``maxRedemptions``: applied, and reserved by a
    completion still within its lease (a crashed one lapses by itself)."""
    reserved = await session.scalar(select(func.count(PromoRedemption.id)).where(
        PromoRedemption.promo_code_id == code.id, PromoRedemption.status == RESERVED,
        PromoRedemption.reserved_until > utcnow(),
        PromoRedemption.checkout_id != (except_checkout or -1)))
    return int(code.times_redeemed) + int(reserved or 0)


async def check(session: AsyncSession, code: PromoCode, *, customer: Customer,
                product_id: str | None, currency: str, now: datetime,
                checkout_id: int | None = None) -> None:
    """Every rule of ``code`` for this purchase now; ``PromoCodeInvalid`` says which fails."""
    name = code.code
    if not code.enabled:
        raise PromoCodeInvalid(f"promo code {name} is disabled", field=["promoCode"])
    if code.expires_at is not None and code.expires_at <= now:
        raise PromoCodeInvalid(f"promo code {name} expired on {code.expires_at:%Y-%m-%d}",
                               field=["promoCode"])
    if code.product_ids and product_id not in code.product_ids:
        raise PromoCodeInvalid(f"promo code {name} is not for this product", field=["promoCode"])
    if code.percent_off is None and currency not in (code.amount_off or {}):
        raise PromoCodeInvalid(f"promo code {name} is not for purchases in {currency}",
                               field=["promoCode"])
    if code.first_purchase_only and await _bought_before(session, customer.id):
        raise PromoCodeInvalid(f"promo code {name} is for a first purchase only and this is "
                               "not a first purchase", field=["promoCode"])
    if code.max_redemptions is not None and \
            await _taken(session, code, except_checkout=checkout_id) >= code.max_redemptions:
        raise PromoCodeInvalid(f"promo code {name} is used up (all {code.max_redemptions} "
                               "redemptions are taken)", field=["promoCode"])


async def _bought_before(session: AsyncSession, customer_pk: int) -> bool:
    return await session.scalar(select(Purchase.id).where(
        Purchase.customer_pk == customer_pk, Purchase.origin == "checkout").limit(1)) is not None


async def attach(session: AsyncSession, checkout: CheckoutSession, customer: Customer,
                 text: str | None, *, now: datetime) -> PromoRedemption | None:
    """Put ``text``'s code on the open checkout (checked now, counted nothing), replacing
    the one it had; an empty ``text`` takes the code off. In the customer's unit of work."""
    current = await session.scalar(select(PromoRedemption).where(
        PromoRedemption.checkout_id == checkout.id))
    if current is not None and current.status == APPLIED:
        raise PromoCodeInvalid("this checkout's promo code was redeemed already",
                               field=["promoCode"])
    if not (text or "").strip():
        if current is not None:
            await session.delete(current)
        return None
    code = await find(session, text or "")
    await check(session, code, customer=customer, product_id=checkout.product_id,
                currency=checkout.currency, now=now, checkout_id=checkout.id)
    if current is None:
        current = PromoRedemption(checkout_id=checkout.id, customer_pk=customer.id,
                                  created_at=now)
        session.add(current)
    current.promo_code_id, current.status, current.reserved_until = code.id, ATTACHED, None
    await session.flush()
    return current


async def of_checkout(session: AsyncSession, checkout: CheckoutSession, customer: Customer, *,
                      subtotal: int, now: datetime, stage: str,
                      lease_until: datetime | None = None) -> Discount | None:
    """The checkout's discount on ``subtotal`` (None: no code), at one of three stages:

    - ``check``: every rule, nothing written (the page's total; ``check_checkout``);
    - ``reserve``: the code's row locked, the rules and ``maxRedemptions`` checked with this
      checkout's own reservation left out, then RESERVED until ``lease_until``;
    - ``apply``: the code's row locked; a live reservation of this checkout is honoured
      as it is (the payment was taken for the discounted amount), otherwise every rule is
      checked again (a payment recorded from Stripe's webhook). ``mark_applied`` follows.
    """
    redemption = await session.scalar(select(PromoRedemption).where(
        PromoRedemption.checkout_id == checkout.id))
    if redemption is None:
        return None
    if stage == "check":
        code = await session.get(PromoCode, redemption.promo_code_id)
    else:
        code = await locks.promo_code(session, redemption.promo_code_id)
        await session.refresh(redemption)
    assert code is not None
    held = (redemption.status == RESERVED and redemption.reserved_until is not None
            and redemption.reserved_until > utcnow())
    if redemption.status != APPLIED and not (stage == "apply" and held):
        await check(session, code, customer=customer, product_id=checkout.product_id,
                    currency=checkout.currency, now=now, checkout_id=checkout.id)
    if stage == "reserve":
        redemption.status, redemption.reserved_until = RESERVED, lease_until
    return Discount(code, redemption, discount_amount(code, subtotal, checkout.currency),
                    checkout.currency)


async def mark_applied(session: AsyncSession, discount: Discount, customer: Customer,
                       purchase: Purchase, *, now: datetime, test_mode: bool) -> None:
    """The checkout was recorded: the redemption is APPLIED and counted (one conditional
    UPDATE under the code's lock, so ``times_redeemed`` never passes ``maxRedemptions``),
    and ``promo_code.redeemed`` is written."""
    redemption, code = discount.redemption, discount.code
    counted = await session.execute(
        update(PromoCode).where(PromoCode.id == code.id,
                                (PromoCode.max_redemptions.is_(None))
                                | (PromoCode.times_redeemed < PromoCode.max_redemptions))
        .values(times_redeemed=PromoCode.times_redeemed + 1)
        .execution_options(synchronize_session=False))
    if counted.rowcount != 1:  # type: ignore[attr-defined]
        raise PromoCodeInvalid(f"promo code {code.code} is used up", field=["promoCode"])
    await session.refresh(code)
    redemption.status, redemption.reserved_until = APPLIED, None
    redemption.purchase_id, redemption.applied_at = purchase.id, now
    redemption.first_period_start = (purchase.billing_anchor_at
                                     if purchase.kind == "SUBSCRIPTION" else None)
    await events.record_event(
        session, event_type=events.PROMO_CODE_REDEEMED,
        customer=CustomerRef(CustomerType(customer.type), customer.customer_id),
        data={"promoCode": payload(code), "redemption": {
            "checkoutId": redemption.checkout_id, "productId": purchase.product_id,
            "discount": {"currency": discount.currency, "minorUnits": discount.amount,
                         "amount": from_minor(discount.amount, discount.currency)}}},
        now=now, test_mode=test_mode)


async def refuse_on_switch(session: AsyncSession, checkout: CheckoutSession) -> None:
    """A checkout that changes the customer's plan is prorated, not discounted: a code on
    it is refused (``PromoCodeInvalid``) rather than silently ignored."""
    if await session.scalar(select(PromoRedemption.id).where(
            PromoRedemption.checkout_id == checkout.id)) is not None:
        raise PromoCodeInvalid("promo codes apply to new purchases, not to a change of plan",
                               field=["promoCode"])


async def release(session: AsyncSession, checkout_id: int) -> None:
    """A claimed checkout was given back (the payment failed or was abandoned): its
    reservation is voided, the code stays on the checkout for the next attempt."""
    await session.execute(
        update(PromoRedemption)
        .where(PromoRedemption.checkout_id == checkout_id, PromoRedemption.status == RESERVED)
        .values(status=ATTACHED, reserved_until=None)
        .execution_options(synchronize_session=False))


def payload(code: PromoCode) -> dict[str, Any]:
    return {"code": code.code, "displayName": code.display_name, "percentOff": code.percent_off,
            "amountOff": [{"currency": c, "minorUnits": m, "amount": from_minor(m, c)}
                          for c, m in sorted((code.amount_off or {}).items())],
            "duration": code.duration, "durationInMonths": code.duration_in_months,
            "maxRedemptions": code.max_redemptions, "timesRedeemed": code.times_redeemed}


# Renewals ------------------------------------------------------------------------------------


def covers(code: PromoCode, redemption: PromoRedemption, period_start: datetime) -> bool:
    """Whether the period starting at ``period_start`` is discounted (module docstring)."""
    first = redemption.first_period_start
    if code.duration == FOREVER:
        return True
    if first is None:
        return False
    if code.duration == ONCE:
        return period_start == first
    months = code.duration_in_months or 0
    return period_start < add_interval(first, {"unit": "MONTH", "count": months})


async def period_lines(session: AsyncSession, sub: Purchase, *, period_start: datetime,
                       subtotal: int) -> list[dict[str, Any]]:
    """The discount line of one period's invoice of ``sub`` (none when no applied code
    covers it): renewals, the first charge after a trial, the period after a pause."""
    row = (await session.execute(
        select(PromoRedemption, PromoCode)
        .join(PromoCode, PromoCode.id == PromoRedemption.promo_code_id)
        .where(PromoRedemption.purchase_id == sub.id, PromoRedemption.status == APPLIED)
    )).one_or_none()
    if row is None:
        return []
    redemption, code = row
    currency = sub.currency or "USD"
    amount = discount_amount(code, subtotal, currency)
    if amount <= 0 or not covers(code, redemption, period_start):
        return []
    return [line(code, redemption, amount, currency)]



async def current_discount(session: AsyncSession, sub: Purchase) -> int:
    """What a promo code took off ``sub``'s current period: a switch credits the unused
    time of what was paid, not of the list price. (The code stays with the purchase it was
    redeemed on: the plan a switch starts is not discounted.)"""
    if sub.current_period_start is None:
        return 0
    from billgate.billing.subscriptions.amounts import period_total

    lines = await period_lines(session, sub, period_start=sub.current_period_start,
                               subtotal=period_total(sub))
    return -sum(int(line["amount"]) for line in lines)
