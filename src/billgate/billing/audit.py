"""``billgate audit``: the invariants every customer's billing state must keep, checked
against what is stored. Operators run it after an incident; the tests run it after every
concurrency scenario. Each check is one query over all customers and yields a
``Violation`` per customer (and item, line or currency) that breaks it:

- ``balance``: an item balance equals the sum of its ledger deltas, and its version the
  number of its ledger rows;
- ``money``: per currency, what was charged (purchase, renewal and proration transactions
  above zero) equals the total of PAID invoices, and refunds never exceed the charges;
- ``one-live-subscription``: at most one live subscription per product line;
- ``repeat-once``: no repeat of an item schedule granted twice (one ledger row per
  source, item and repeat time);
- ``account-credit``: the account credit equals the credit its downgrades added, less the
  credit applied on invoices that still stand (OPEN, PAID or UNCOLLECTIBLE);
- ``holds``: a balance's ``reserved`` equals the sum of its HELD reservations, and its
  latest ledger row's ``reserved_after`` is that ``reserved``;
- ``seats``: a live subscription's active repeat schedules grant its included quantity
  times its seats (``subscriptions/seats.py`` rescales them when the quantity changes);
- ``promo-redemptions``: a promo code's ``times_redeemed`` equals its APPLIED redemptions
  and never exceeds ``max_redemptions`` (customer ``-``: a code is nobody's);
- ``discount-lines``: every discount line of an invoice that stands names an APPLIED
  redemption of that invoice's purchase, at most one per invoice, and every APPLIED
  redemption names the purchase it was applied to;
- ``one-scheduled-change``: at most one PENDING scheduled change per subscription;
- ``scheduled-change-live``: a PENDING scheduled change only on an ACTIVE or TRIALING
  subscription of its customer without a pending cancel (what may schedule one,
  ``subscriptions/scheduled_changes.py``; every other change of the subscription closes it);
- ``top-ups``: one purchase per recorded crossing: every PURCHASED auto top-up crossing
  names its own purchase (made by an auto top-up, of that customer), and a customer has
  exactly as many auto top-up purchases as PURCHASED crossings;
- ``overage``: each ``overage_billed`` ledger change billed the whole debt (it left the
  balance at exactly 0), and per customer and item the units it added equal the
  quantities of the ``overage`` lines on invoices that still stand (OPEN, PAID,
  UNCOLLECTIBLE): billed units = debt at renewal, never billed twice nor lost to a void;
- ``final-invoices``: a plan's final overage invoice (``subscriptions/final_invoices.py``)
  is charged at most once: at most one RECORDED ``final_invoice`` charge claim per invoice,
  and the invoice it names is PAID with a transaction of the claim's amount.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing.purchases import ownership
from billgate.billing.subscriptions.scheduled_changes import SCHEDULABLE
from billgate.billing.subscriptions.scheduled_store import PENDING
from billgate.db.models import (
    AutoTopUpCrossing,
    ChargeClaim,
    Customer,
    CustomerCredit,
    Invoice,
    ItemBalance,
    ItemChange,
    ItemDefinition,
    ItemReservation,
    ItemSchedule,
    PromoCode,
    PromoRedemption,
    Purchase,
    ScheduledChange,
    Transaction,
)

CHARGE_KINDS = ("purchase", "renewal", "proration")
STANDING_INVOICES = ("OPEN", "PAID", "UNCOLLECTIBLE")


@dataclass(frozen=True)
class Violation:
    check: str
    customer: str  # TYPE:id
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.customer}: {self.detail}"


async def run(session: AsyncSession) -> list[Violation]:
    names = {row[0]: f"{row[1]}:{row[2]}" for row in await session.execute(
        select(Customer.id, Customer.type, Customer.customer_id))}
    found: list[Violation] = []
    for check in (_balances, _money, _live_subscriptions, _repeats, _account_credit, _holds,
                  _seats, _promo_redemptions, _discount_lines, _scheduled_changes,
                  _top_ups, _overage, _final_invoices):
        found += [Violation(name, names.get(pk, str(pk) if pk else "-"), detail)
                  async for name, pk, detail in check(session)]
    return found


Found = AsyncIterator[tuple[str, int, str]]


async def _balances(session: AsyncSession) -> Found:
    ledger = (select(ItemChange.balance_id, func.sum(ItemChange.delta).label("total"),
                     func.count(ItemChange.id).label("rows"))
              .group_by(ItemChange.balance_id).subquery())
    rows = await session.execute(
        select(ItemBalance.id, ItemBalance.customer_pk, ItemBalance.quantity, ItemBalance.version,
               func.coalesce(ledger.c.total, 0), func.coalesce(ledger.c.rows, 0))
        .outerjoin(ledger, ledger.c.balance_id == ItemBalance.id))
    for balance_id, customer_pk, quantity, version, total, count in rows:
        if quantity != total or version != count:
            yield ("balance", customer_pk,
                   f"balance {balance_id}: quantity {quantity}, ledger sum {total}; "
                   f"version {version}, ledger rows {count}")


async def _holds(session: AsyncSession) -> Found:
    held = (select(ItemReservation.balance_id, func.sum(ItemReservation.amount).label("held"))
            .where(ItemReservation.status == "HELD").group_by(ItemReservation.balance_id)
            .subquery())
    last = (select(ItemChange.reserved_after).where(
        ItemChange.balance_id == ItemBalance.id, ItemChange.version == ItemBalance.version)
        .scalar_subquery())
    rows = await session.execute(
        select(ItemBalance.id, ItemBalance.customer_pk, ItemBalance.reserved,
               func.coalesce(held.c.held, 0), func.coalesce(last, 0))
        .outerjoin(held, held.c.balance_id == ItemBalance.id))
    for balance_id, customer_pk, reserved, total, after in rows:
        if reserved != total or reserved != after:
            yield ("holds", customer_pk,
                   f"balance {balance_id}: reserved {reserved}, HELD reservations {total}, "
                   f"latest ledger row says {after}")


async def _top_ups(session: AsyncSession) -> Found:
    bought: dict[int, int] = defaultdict(int)
    for customer_pk, count in await session.execute(
            select(Purchase.customer_pk, func.count(Purchase.id))
            .where(Purchase.origin == "auto_top_up").group_by(Purchase.customer_pk)):
        bought[customer_pk] = int(count)
    crossings: dict[int, int] = defaultdict(int)
    named: dict[int, int] = defaultdict(int)
    rows = await session.execute(
        select(AutoTopUpCrossing.id, AutoTopUpCrossing.customer_pk, AutoTopUpCrossing.purchase_id,
               Purchase.customer_pk, Purchase.origin)
        .outerjoin(Purchase, Purchase.id == AutoTopUpCrossing.purchase_id)
        .where(AutoTopUpCrossing.status == "PURCHASED"))
    for crossing_id, customer_pk, purchase_id, owner, origin in rows:
        crossings[customer_pk] += 1
        if purchase_id is not None:
            named[purchase_id] += 1
        if owner != customer_pk or origin != "auto_top_up":
            yield ("top-ups", customer_pk, f"crossing {crossing_id} names purchase "
                                           f"{purchase_id}, not an auto top-up of its own")
    for purchase_id, count in named.items():
        if count > 1:
            yield ("top-ups", 0, f"purchase {purchase_id} is named by {count} crossings")
    for customer_pk in sorted(set(bought) | set(crossings)):
        if bought[customer_pk] != crossings[customer_pk]:
            yield ("top-ups", customer_pk, f"{bought[customer_pk]} auto top-up purchases for "
                                           f"{crossings[customer_pk]} bought crossings")


async def _money(session: AsyncSession) -> Found:
    charged: dict[tuple[int, str | None], int] = defaultdict(int)
    refunded: dict[tuple[int, str | None], int] = defaultdict(int)
    invoiced: dict[tuple[int, str | None], int] = defaultdict(int)
    for customer_pk, kind, currency, amount in await session.execute(
            select(Transaction.customer_pk, Transaction.kind, Transaction.currency,
                   Transaction.amount).where(Transaction.currency.is_not(None))):
        if kind in CHARGE_KINDS and amount > 0:
            charged[(customer_pk, currency)] += amount
        elif kind == "refund":
            refunded[(customer_pk, currency)] -= amount
    for customer_pk, currency, total in await session.execute(
            select(Invoice.customer_pk, Invoice.currency, func.sum(Invoice.amount_total))
            .where(Invoice.status == "PAID").group_by(Invoice.customer_pk, Invoice.currency)):
        invoiced[(customer_pk, currency)] = int(total)
    for key in sorted(set(charged) | set(invoiced) | set(refunded)):
        customer_pk, currency = key
        if charged[key] != invoiced[key]:
            yield ("money", customer_pk, f"{currency}: charged {charged[key]}, "
                                         f"PAID invoices {invoiced[key]}")
        if refunded[key] > charged[key]:
            yield ("money", customer_pk, f"{currency}: refunded {refunded[key]} of "
                                         f"{charged[key]} charged")


async def _live_subscriptions(session: AsyncSession) -> Found:
    rows = await session.execute(
        select(Purchase.customer_pk, Purchase.product_line_id, func.count(Purchase.id))
        .where(ownership.live_subscription(),
               Purchase.product_line_id.is_not(None))
        .group_by(Purchase.customer_pk, Purchase.product_line_id)
        .having(func.count(Purchase.id) > 1))
    for customer_pk, line, count in rows:
        yield ("one-live-subscription", customer_pk, f"{count} live subscriptions in line {line}")


async def _repeats(session: AsyncSession) -> Found:
    rows = await session.execute(
        select(ItemChange.customer_pk, ItemChange.balance_id, ItemChange.source,
               ItemChange.created_at, func.count(ItemChange.id))
        .where(ItemChange.reason == "repeat")
        .group_by(ItemChange.customer_pk, ItemChange.balance_id, ItemChange.source,
                  ItemChange.created_at)
        .having(func.count(ItemChange.id) > 1))
    for customer_pk, balance_id, source, at, count in rows:
        yield ("repeat-once", customer_pk,
               f"{source} granted the repeat of {at.isoformat()} {count} times "
               f"(balance {balance_id})")


async def _account_credit(session: AsyncSession) -> Found:
    expected: dict[tuple[int, str | None], int] = defaultdict(int)
    for customer_pk, currency, amount in await session.execute(
            select(Transaction.customer_pk, Transaction.currency, Transaction.amount)
            .where(Transaction.kind == "proration", Transaction.amount < 0)):
        expected[(customer_pk, currency)] += -amount
    for customer_pk, currency, lines in await session.execute(
            select(Invoice.customer_pk, Invoice.currency, Invoice.lines)
            .where(Invoice.status.in_(STANDING_INVOICES))):
        used = -sum(int(line["amount"]) for line in lines or [] if line.get("kind") == "credit")
        if used:
            expected[(customer_pk, currency)] -= used
    stored: dict[tuple[int, str | None], int] = {
        (row[0], row[1]): int(row[2]) for row in await session.execute(
        select(CustomerCredit.customer_pk, CustomerCredit.currency, CustomerCredit.amount))}
    for key in sorted(set(expected) | set(stored)):
        if expected.get(key, 0) != stored.get(key, 0):
            yield ("account-credit", key[0], f"{key[1]}: credit {stored.get(key, 0)}, "
                                             f"entries say {expected.get(key, 0)}")


async def _seats(session: AsyncSession) -> Found:
    rows = await session.execute(
        select(Purchase.customer_pk, Purchase.id, Purchase.quantity, Purchase.product,
               ItemSchedule.item_id, ItemSchedule.quantity)
        .join(ItemSchedule, ItemSchedule.purchase_id == Purchase.id)
        .where(ownership.live_subscription(), ItemSchedule.active.is_(True)))
    for customer_pk, purchase_id, seats, product, item_id, scheduled in rows:
        per_seat = {i["itemId"]: int(i["quantity"]) for i in (product or {}).get("includedItems") or []}
        if item_id in per_seat and scheduled != per_seat[item_id] * seats:
            yield ("seats", customer_pk,
                   f"subscription {purchase_id}: {item_id} repeats {scheduled}, "
                   f"{per_seat[item_id]} x {seats} seats is {per_seat[item_id] * seats}")


async def _promo_redemptions(session: AsyncSession) -> Found:
    applied = (select(PromoRedemption.promo_code_id, func.count(PromoRedemption.id).label("n"))
               .where(PromoRedemption.status == "APPLIED")
               .group_by(PromoRedemption.promo_code_id).subquery())
    rows = await session.execute(
        select(PromoCode.code, PromoCode.times_redeemed, PromoCode.max_redemptions,
               func.coalesce(applied.c.n, 0))
        .outerjoin(applied, applied.c.promo_code_id == PromoCode.id))
    for code, times, most, count in rows:
        if times != count or (most is not None and times > most):
            yield ("promo-redemptions", 0,
                   f"promo code {code}: times redeemed {times}, APPLIED redemptions {count}, "
                   f"max {most}")


async def _discount_lines(session: AsyncSession) -> Found:
    applied = {row[0]: (row[1], row[2]) for row in await session.execute(
        select(PromoRedemption.id, PromoRedemption.purchase_id, PromoRedemption.customer_pk)
        .where(PromoRedemption.status == "APPLIED"))}
    for redemption_id, (purchase_id, customer_pk) in applied.items():
        if purchase_id is None:
            yield ("discount-lines", customer_pk,
                   f"APPLIED redemption {redemption_id} names no purchase")
    for invoice_id, customer_pk, purchase_id, lines in await session.execute(
            select(Invoice.id, Invoice.customer_pk, Invoice.purchase_id, Invoice.lines)
            .where(Invoice.status.in_(STANDING_INVOICES))):
        discounts = [line for line in lines or [] if line.get("kind") == "discount"]
        if len(discounts) > 1:
            yield ("discount-lines", customer_pk,
                   f"invoice {invoice_id} has {len(discounts)} discount lines")
        for line in discounts:
            named = applied.get(line.get("redemptionId"))
            if named is None or named[0] != purchase_id:
                yield ("discount-lines", customer_pk,
                       f"invoice {invoice_id}'s discount line names redemption "
                       f"{line.get('redemptionId')}, not an APPLIED one of its purchase")


async def _scheduled_changes(session: AsyncSession) -> Found:
    many = await session.execute(
        select(ScheduledChange.customer_pk, ScheduledChange.purchase_id,
               func.count(ScheduledChange.id))
        .where(ScheduledChange.status == PENDING)
        .group_by(ScheduledChange.customer_pk, ScheduledChange.purchase_id)
        .having(func.count(ScheduledChange.id) > 1))
    for customer_pk, purchase_id, count in many:
        yield ("one-scheduled-change", customer_pk,
               f"subscription {purchase_id}: {count} pending scheduled changes")
    misplaced = await session.execute(
        select(ScheduledChange.customer_pk, ScheduledChange.id, Purchase.id, Purchase.status,
               Purchase.cancel_at_period_end, Purchase.customer_pk)
        .join(Purchase, Purchase.id == ScheduledChange.purchase_id)
        .where(ScheduledChange.status == PENDING))
    for customer_pk, change_id, purchase_id, status, leaving, owner in misplaced:
        if status not in SCHEDULABLE or leaving or owner != customer_pk:
            yield ("scheduled-change-live", customer_pk,
                   f"scheduled change {change_id} pending on subscription {purchase_id} "
                   f"({status}{', canceling at period end' if leaving else ''})")


async def _overage(session: AsyncSession) -> Found:
    from billgate.billing.subscriptions.overage_billing import billed_units

    changed: dict[tuple[int, str], int] = defaultdict(int)
    for customer_pk, item_id, delta, after in await session.execute(
            select(ItemChange.customer_pk, ItemDefinition.item_id, ItemChange.delta,
                   ItemChange.quantity_after)
            .join(ItemBalance, ItemBalance.id == ItemChange.balance_id)
            .join(ItemDefinition, ItemDefinition.id == ItemBalance.item_pk)
            .where(ItemChange.reason == "overage_billed")):
        changed[(customer_pk, item_id)] += delta
        if after != 0:
            yield ("overage", customer_pk, f"{item_id}: overage_billed of {delta} left the "
                                           f"balance at {after}, not 0")
    lines: dict[tuple[int, str], int] = defaultdict(int)
    for customer_pk, invoice_lines in await session.execute(
            select(Invoice.customer_pk, Invoice.lines)
            .where(Invoice.status.in_(STANDING_INVOICES))):
        for item_id, units in billed_units(invoice_lines or []).items():
            lines[(customer_pk, item_id)] += units
    for key in sorted(set(changed) | set(lines)):
        if changed.get(key, 0) != lines.get(key, 0):
            yield ("overage", key[0], f"{key[1]}: {changed.get(key, 0)} units billed on the "
                                      f"ledger, {lines.get(key, 0)} on invoices")


async def _final_invoices(session: AsyncSession) -> Found:
    from billgate.billing.charges import FINAL_INVOICE, RECORDED

    seen: dict[int | None, int] = defaultdict(int)
    for customer_pk, invoice_id, amount, status, paid in await session.execute(
            select(ChargeClaim.customer_pk, ChargeClaim.invoice_id, ChargeClaim.amount,
                   Invoice.status, Transaction.amount)
            .outerjoin(Invoice, Invoice.id == ChargeClaim.invoice_id)
            .outerjoin(Transaction, Transaction.id == Invoice.transaction_id)
            .where(ChargeClaim.operation == FINAL_INVOICE, ChargeClaim.status == RECORDED)
            .order_by(ChargeClaim.id)):
        seen[invoice_id] += 1
        if seen[invoice_id] == 2:
            yield ("final-invoices", customer_pk, f"invoice {invoice_id} charged twice")
        if status != "PAID" or paid != amount:
            yield ("final-invoices", customer_pk,
                   f"invoice {invoice_id} is {status} with a transaction of {paid} "
                   f"after a recorded charge of {amount}")
