"""Overage billed: a plan's debt on its overage items becomes invoice lines of kind
``overage`` and an ``overage_billed`` ledger change brings each balance back to 0
(``items/overage.py`` has the ledger's side and the rule).

When (choices where the issue is silent):

- At each renewal, when the renewal's invoice is made (``lifecycle._open_invoice``, in the
  unit of work that claims its charge): the debt goes on that invoice and the balance is 0
  before the new period's grant, which comes when the period is paid. A declined renewal
  keeps that OPEN invoice for its retries (and ``payInvoice``), so the debt is billed once;
  what is consumed after it belongs to the next period. A trial's end is a renewal.
- At the plan's end (``fulfil.end``, the one function every end goes through: cancel at
  period end, immediate cancel, dunning's last failure, a refund, a switch to another
  plan): the debt left is billed on a final invoice of the plan, with the overage lines of
  the OPEN invoice the end voids carried over (so a billed debt is never lost to a void).
  A resume after a pause voids the open invoice too (``lifecycle.begin_resume``): its
  overage lines go on an OPEN invoice of their own first (``keep_before_void``), so a
  declined resume (which voids the resume's invoice) cannot lose them either.
  The final invoice is issued OPEN and not charged here (never in the ending request's
  charge path): the scheduler's ``invoice.final_charge`` job charges it to the default
  card after the end has committed (``final_invoices.py``), and ``payInvoice`` pays it.
- The units billed are the whole debt of the item (the balance below zero, due expiries
  counted), whatever took it there, so the balance is exactly 0 after; the amount is units
  x the plan's unit amount in the invoice's currency (minor units, ints only).
- Several plans naming the same item: the plan whose invoice is made first bills it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import invoices
from billgate.billing.items import overage
from billgate.billing.items.results import ChangeEvent
from billgate.billing.purchases import ownership
from billgate.db.models import Customer, Invoice, ItemDefinition, Purchase

KIND = "overage"


@dataclass
class Billed:
    lines: list[dict[str, Any]] = field(default_factory=list)
    events: list[ChangeEvent] = field(default_factory=list)


def line(terms: dict[str, Any], item: ItemDefinition, *, units: int, currency: str) -> dict[str, Any]:
    unit_amount = int(terms["unitAmounts"][currency])
    return {"kind": KIND, "description": f"{item.display_name} overage", "itemId": item.item_id,
            "quantity": units, "unitAmount": unit_amount, "amount": units * unit_amount}


async def bill(session: AsyncSession, customer: Customer, sub: Purchase, *, currency: str,
               now: datetime) -> Billed:
    """Bill ``sub``'s overage debt now: the lines for its invoice in ``currency`` and the
    ledger changes (already written in the caller's unit of work). Items whose terms have
    no amount in ``currency`` are left as they are (the catalog refuses such terms)."""
    billed = Billed()
    for terms in overage.terms_of(sub.product):
        if currency not in terms["unitAmounts"]:
            continue
        item = await session.scalar(select(ItemDefinition)
                                    .where(ItemDefinition.item_id == terms["itemId"]))
        if item is None or item.customer_type != customer.type:
            continue
        units, events = await overage.bring_to_zero(
            session, customer, item, source=f"purchase:{sub.id}",
            description=sub.product.get("displayName"), now=now)
        billed.events += events
        if units:
            billed.lines.append(line(terms, item, units=units, currency=currency))
    return billed


def lines_of(invoice: Invoice | None) -> list[dict[str, Any]]:
    """The overage lines of an invoice (none for None)."""
    return [x for x in (invoice.lines if invoice is not None else []) if x.get("kind") == KIND]


async def carried(session: AsyncSession, sub: Purchase) -> list[dict[str, Any]]:
    """The overage already billed on ``sub``'s OPEN invoice, for the invoice that replaces
    it when it is voided (the plan's end, a resume): the ledger was brought to 0 when it was
    billed, so the lines must outlive the void."""
    if sub.open_invoice_id is None:
        return []
    invoice = await session.get(Invoice, sub.open_invoice_id)
    return lines_of(invoice) if invoice is not None and invoice.status == "OPEN" else []


async def keep_before_void(session: AsyncSession, customer: Customer, sub: Purchase, *,
                          now: datetime) -> None:
    """``sub``'s OPEN invoice is about to be voided: the overage it billed goes on an OPEN
    invoice of its own (the usage happened; only the plan's period is forgiven)."""
    lines = await carried(session, sub)
    if lines:
        await invoices.create(session, customer, sub, currency=sub.currency or "USD",
                              lines=lines, now=now)


async def bill_at_end(session: AsyncSession, customer: Customer, sub: Purchase, *,
                      now: datetime) -> list[ChangeEvent]:
    """The plan ends now (call before its open invoice is voided): its debt, and the
    overage already billed on that OPEN invoice, go on a final OPEN invoice."""
    if sub.kind != "SUBSCRIPTION" or not overage.terms_of(sub.product):
        return []
    currency = sub.currency or "USD"
    before = await carried(session, sub)
    billed = await bill(session, customer, sub, currency=currency, now=now)
    if before or billed.lines:
        await invoices.create(session, customer, sub, currency=currency,
                              lines=[*before, *billed.lines], now=now)
    return billed.events


def billed_units(invoice_lines: list[dict[str, Any]]) -> dict[str, int]:
    """Units billed per item on an invoice's lines (the audit's side of the books)."""
    units: dict[str, int] = {}
    for x in invoice_lines:
        if x.get("kind") == KIND:
            units[x["itemId"]] = units.get(x["itemId"], 0) + int(x["quantity"])
    return units


@dataclass(frozen=True)
class SoFar:
    """Overage used so far this period on one item of an owned plan (what its next renewal
    or its end bills): the debt now, its amount in the plan's currency, and the limit."""

    item_id: str
    units: int
    limit: int
    currency: str
    unit_amount: int

    @property
    def amount(self) -> int:
        return self.units * self.unit_amount


def so_far(owned: Sequence[Purchase], quantities: Mapping[str, int]) -> list[SoFar]:
    """Per overage item of the customer's live subscriptions (``owned``: its purchases;
    ``quantities``: item id -> balance now): the debt and what it comes to. The console's
    customer page and the portal show it."""
    found: list[SoFar] = []
    for sub in owned:
        if sub.kind != "SUBSCRIPTION" or not ownership.is_live(sub.status):
            continue
        currency = sub.currency or "USD"
        for terms in overage.terms_of(sub.product):
            if terms["itemId"] in {f.item_id for f in found}:
                continue  # one debt per item: billed once, by the first plan to bill it
            debt = max(0, -quantities.get(terms["itemId"], 0))
            found.append(SoFar(terms["itemId"], debt, int(terms["limit"]), currency,
                               int(terms["unitAmounts"].get(currency, 0))))
    return found
