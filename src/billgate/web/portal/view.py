"""What the portal page shows, read through billing's own read functions: the customer's
plans with their state and scheduled plan change, the plans each may switch to (exactly
those ``switchSubscription`` accepts: ``owned.switch_options``), the card, balances,
account credit and invoices.

Templates show this and nothing else; every rule is billing's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from billgate.billing import customer_view, invoices
from billgate.billing.purchases import owned
from billgate.billing.purchases.request import quantity_max
from billgate.billing.subscriptions.amounts import period_total
from billgate.db.models import Purchase, ScheduledChange
from billgate.runtime import Runtime
from billgate.types import CustomerRef
from billgate.web import pages

STATUS_WORDING = {"TRIALING": "Trial", "ACTIVE": "Active", "PAST_DUE": "Past due",
                  "PAUSED": "Paused", "CANCELED": "Canceled"}
INVOICE_WORDING = {"DRAFT": "Draft", "OPEN": "Payment due", "PAID": "Paid",
                   "UNCOLLECTIBLE": "Uncollectible", "VOID": "Void"}




def day(value: datetime | None) -> str:
    return "—" if value is None else f"{value.astimezone(UTC).day} {value.astimezone(UTC):%b %Y}"


@dataclass(frozen=True)
class SwitchOption:
    value: str  # "<productId>|<priceId>"
    label: str


@dataclass(frozen=True)
class Plan:
    subscription_id: int
    product_id: str
    name: str
    status: str
    status_text: str
    price: str
    period: str
    next_charge: str | None
    trial_ends: str | None
    notice: str | None
    cancel_at_period_end: bool
    switch_options: list[SwitchOption]
    quantity: int = 1
    seats_max: int = 1  # the price's quantityMax as sold (1: sold one at a time)
    scheduled: str | None = None  # "Changes to Pro (19.00 / month) on 28 Feb 2026"
    later: str = ""  # the scheduled change as ``live.js`` signs it: "<product>/<price>"
    period_end: str = ""

    @property
    def can_change_seats(self) -> bool:
        """``updateSubscriptionQuantity`` takes an ACTIVE or TRIALING plan sold per seat."""
        return self.status in ("TRIALING", "ACTIVE") and self.seats_max > 1

    @property
    def can_cancel(self) -> bool:
        return self.status in ("TRIALING", "ACTIVE", "PAST_DUE", "PAUSED") \
            and not self.cancel_at_period_end

    @property
    def can_pause(self) -> bool:
        return self.status in ("TRIALING", "ACTIVE") and not self.cancel_at_period_end


@dataclass(frozen=True)
class InvoiceRow:
    id: int
    number: str | None
    issued: str
    status: str
    status_text: str
    total: str
    hosted_url: str
    pdf_url: str


@dataclass(frozen=True)
class Portal:
    customer: CustomerRef
    plans: list[Plan]
    card: dict[str, Any] | None
    balances: list[tuple[str, str]]
    credit: list[str]
    invoices: list[InvoiceRow]
    top_ups: list[tuple[str, str]] = field(default_factory=list)  # (item name, summary)
    # (item, "37 of 50", "$0.74"): overage used so far this period, billed at renewal.
    overage: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def signature(self) -> str:
        """What the page shows that a change elsewhere can alter, in the form ``live.js``
        computes from ``customerChanged`` (plans as ``product:STATUS:cancel:to/price``
        (the scheduled change, empty when none), sorted;
        invoice statuses newest first): the script reloads the page when they differ,
        including a change made between rendering and subscribing."""
        plans = sorted(f"{p.product_id}:{p.status}:{int(p.cancel_at_period_end)}:{p.later}"
                       for p in self.plans)
        return ",".join(plans) + "|" + ",".join(i.status for i in self.invoices)


def _price(sub: Purchase) -> str:
    if sub.currency is None or sub.unit_amount is None:
        return "included"
    interval = (sub.price or {}).get("interval")
    text = pages.money(period_total(sub), sub.currency)
    return f"{text} / {pages.period(interval)}" if interval else text


def _notice(sub: Purchase) -> str | None:
    if sub.status == "PAST_DUE":
        return "The last payment failed. Pay the open invoice or update your card."
    if sub.status == "PAUSED":
        return f"Paused; resumes {day(sub.resumes_at)}" if sub.resumes_at else "Paused"
    if sub.cancel_at_period_end:
        return f"Ends on {day(sub.current_period_end)}"
    return None


def _options(sub: Purchase, products: list[Any]) -> list[SwitchOption]:
    result = []
    for product in products:
        for price in product.prices:
            amount = (price.get("amounts") or {}).get(sub.currency or "USD")
            if amount is None:
                continue
            interval = price.get("interval")
            money = pages.money(int(amount) * sub.quantity, sub.currency or "USD")
            label = f"{product.display_name}, {money}" + (
                f" / {pages.period(interval)}" if interval else "")
            result.append(SwitchOption(f"{product.product_id}|{price['priceId']}", label))
    return result


def _scheduled_price(sub: Purchase, change: ScheduledChange) -> str:
    amount = int((change.price.get("amounts") or {}).get(sub.currency or "USD", 0)) * sub.quantity
    interval = change.price.get("interval")
    text = pages.money(amount, sub.currency or "USD")
    return f"{text} / {pages.period(interval)}" if interval else text


def _plan(sub: Purchase, products: list[Any], change: ScheduledChange | None = None) -> Plan:
    # A PAST_DUE plan's next charge is its open invoice (shown with Pay now), not a date.
    charging = sub.status == "ACTIVE" and not sub.cancel_at_period_end
    next_charge = (f"{_price(sub).split(' / ')[0]} on {day(sub.current_period_end)}"
                   if charging and sub.unit_amount and sub.origin != "grant" else None)
    scheduled = None
    if change is not None:  # the renewal at the period end is of the new plan
        price = _scheduled_price(sub, change)
        scheduled = f"Changes to {change.product['displayName']} ({price}) on {day(change.at)}"
        next_charge = f"{price.split(' / ')[0]} on {day(change.at)}"
    return Plan(
        subscription_id=sub.id, product_id=sub.product_id or "", name=sub.product["displayName"],
        status=sub.status, status_text=STATUS_WORDING.get(sub.status, sub.status),
        price=_price(sub),
        period=f"{day(sub.current_period_start)} – {day(sub.current_period_end)}",
        next_charge=next_charge,
        trial_ends=day(sub.trial_ends_at) if sub.status == "TRIALING" else None,
        notice=_notice(sub), cancel_at_period_end=sub.cancel_at_period_end,
        switch_options=_options(sub, products) if sub.status in ("TRIALING", "ACTIVE") else [],
        quantity=sub.quantity, seats_max=_seats_max(sub),
        scheduled=scheduled, period_end=day(sub.current_period_end),
        later=f"{change.to_product_id}/{change.to_price_id or ''}" if change else "")


def _seats_max(sub: Purchase) -> int:
    return quantity_max(sub.price) if (sub.price or {}).get("interval") else 1


def _overage(detail: customer_view.CustomerDetail) -> list[tuple[str, str, str]]:
    names = {b.item.item_id: b.item.display_name for b in detail.balances}
    return [(names.get(o.item_id, o.item_id), f"{o.units:,} of {o.limit:,}",
             pages.money(o.amount, o.currency)) for o in detail.overage]


async def read(runtime: Runtime, ref: CustomerRef) -> Portal:
    """The portal page of ``ref`` now (the customer is created on first reference, with its
    include-by-default products, as any read of its products does)."""
    now = runtime.clock.now()
    groups = await owned.owned_products(runtime.db, ref, by_server=False, clock=runtime.clock,
                                        bus=runtime.bus)
    options = await owned.switch_options(runtime.db, ref, groups, by_server=False, now=now)
    settings = await runtime.payment_settings()
    detail = await customer_view.read(runtime.db, ref, clock=runtime.clock,
                                      grace_period_days=settings.grace_period_days)
    if detail is None:
        return Portal(ref, [], None, [], [], [])
    by_sub = {g.live_subscription.id: options.get(g.key, []) for g in groups
              if g.live_subscription is not None}
    plans = [_plan(s.row, by_sub.get(s.row.id, []), detail.scheduled.get(s.row.id))
             for s in detail.subscriptions if s.row.status != "CANCELED"]
    base = runtime.settings.base_url
    return Portal(
        customer=ref, plans=plans, card=detail.card,
        balances=[(b.item.display_name, f"{b.quantity:,}" + (
            f" ({b.reserved:,} reserved)" if b.reserved else "")) for b in detail.balances],
        overage=_overage(detail),
        credit=[pages.money(amount, currency) for currency, amount in detail.credit.items()],
        invoices=[InvoiceRow(
            id=row.id, number=row.number, issued=day(row.created_at), status=row.status,
            status_text=INVOICE_WORDING.get(row.status, row.status),
            total=pages.money(row.amount_total, row.currency),
            hosted_url=invoices.hosted_url(base, row), pdf_url=invoices.pdf_url(base, row))
            for row in detail.invoices],
        top_ups=[(b.item.display_name, detail.top_ups[b.item.item_id].summary)
                 for b in detail.balances if b.item.item_id in detail.top_ups])
