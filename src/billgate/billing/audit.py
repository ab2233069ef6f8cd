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
- ``overage``: each ``overage_billed`` ledger change billed the whole debt (it left the
  balance at exactly 0), and per customer and item the units it added equal the
  quantities of the ``overage`` lines on invoices that still stand (OPEN, PAID,
  UNCOLLECTIBLE): billed units = debt at renewal, never billed twice nor lost to a void.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing.purchases import ownership
from billgate.db.models import (
    Customer,
    CustomerCredit,
    Invoice,
    ItemBalance,
    ItemChange,
    ItemDefinition,
    ItemReservation,
    Purchase,
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
                  _overage):
        found += [Violation(name, names.get(pk, str(pk)), detail)
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
