"""Operator reads across customers: the revenue report, payouts and the operator actions
log (secret key only)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from billgate.billing import reports
from billgate.db.models import OperatorAction as OperatorActionRow
from billgate.graphql.ids import global_id
from billgate.graphql.types.common import Currency, Node
from billgate.payments.stripe_payouts import PayoutInfo


@strawberry.type(description="One write made with a secret key, through GraphQL or the console.")
class OperatorAction(Node):
    at: datetime
    key_fingerprint: str = strawberry.field(description='"…" and the key\'s last 4 characters.')
    action: str = strawberry.field(description='The mutation\'s name, e.g. "refundTransaction".')
    target: str | None = strawberry.field(description='What it acted on: "USER:u-1" or a node id.')
    outcome: str = strawberry.field(description='"ok" or the first user error\'s code.')
    via: str = strawberry.field(description='"graphql", "rest" or "console". A billgate addition.')
    detail: str | None = strawberry.field(description="A short summary (the console's amounts "
                                          "and reasons). A billgate addition.")

    @classmethod
    def from_row(cls, row: OperatorActionRow) -> OperatorAction:
        return cls(id=strawberry.ID(global_id("OperatorAction", str(row.id))), at=row.at,
                   key_fingerprint=row.key_fingerprint, action=row.action, target=row.target,
                   outcome=row.outcome, via=row.via, detail=row.detail)


@strawberry.type(description="A payout from Stripe to the merchant's bank (live mode).")
class Payout(Node):
    amount: int = strawberry.field(description="Minor units.")
    currency: Currency
    status: str = strawberry.field(description="Stripe's: paid, pending, in_transit, canceled "
                                   "or failed.")
    arrival_date: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, payout: PayoutInfo) -> Payout:
        return cls(id=strawberry.ID(global_id("Payout", payout.id)), amount=payout.amount,
                   currency=Currency(payout.currency), status=payout.status,
                   arrival_date=payout.arrival_date, created_at=payout.created)


@strawberry.type
class RevenueDay:
    day: datetime = strawberry.field(description="Midnight UTC of the day.")
    net: int = strawberry.field(description="Minor units: paid less refunded that day.")


@strawberry.type(description="Money in one currency over a window, and subscriptions now.")
class RevenueReport:
    currency: Currency
    from_: datetime = strawberry.field(name="from")
    to: datetime
    paid: int = strawberry.field(description="Minor units charged in the window.")
    refunded: int = strawberry.field(description="Minor units refunded in the window.")
    net: int
    mrr: int = strawberry.field(description="Now: paying subscriptions' price per month, minor units.")
    active_subscriptions: int
    trialing: int
    past_due: int
    new_subscriptions: int
    canceled_subscriptions: int
    days: list[RevenueDay] = strawberry.field(description="One per day of the window, oldest first.")

    @classmethod
    def of(cls, report: reports.Revenue) -> RevenueReport:
        return cls(currency=Currency(report.currency), from_=report.start, to=report.end,
                   paid=report.paid, refunded=report.refunded, net=report.net, mrr=report.mrr,
                   active_subscriptions=report.active, trialing=report.trialing,
                   past_due=report.past_due, new_subscriptions=report.new,
                   canceled_subscriptions=report.canceled,
                   days=[RevenueDay(day=d.day, net=d.net) for d in report.days])
