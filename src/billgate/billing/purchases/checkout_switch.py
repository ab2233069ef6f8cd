"""A checkout for another plan of a line the customer already subscribes to is a plan
change, priced and recorded exactly as ``switchSubscription`` (StackBE: "To change a
customer's plan, create a new checkout session ... the customer pays the prorated
difference immediately. When downgrading, they receive credit toward future invoices").

The page shows the old plan's credit and the amount due today; completion charges that
amount and records the switch (``operations.apply_switch``: proration invoice and
transaction, a downgrade's difference kept as account credit). The amounts are computed
when the page is shown and again, to the second, when the checkout completes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import promo_codes
from billgate.billing.purchases import ownership
from billgate.billing.purchases.ownership import SUBSCRIPTION
from billgate.billing.purchases.request import PurchaseRequest
from billgate.billing.subscriptions import operations
from billgate.billing.subscriptions.proration import SwitchAmounts
from billgate.db.models import Customer, Purchase
from billgate.errors import InvalidInput


@dataclass(frozen=True)
class CheckoutSwitch:
    old: Purchase  # the live subscription of the line the checkout replaces
    amounts: SwitchAmounts

    @property
    def due_now(self) -> int:
        """What completing charges: the prorated difference and its tax, or 0 for a
        downgrade."""
        return self.amounts.due_now


def replaced_subscription(req: PurchaseRequest, owned: Sequence[Purchase]) -> Purchase | None:
    """The live subscription of ``req``'s line that a recurring plan of the line replaces."""
    line = req.product.product_line_id
    if line is None or req.product.is_add_on_to or not req.is_subscription:
        return None
    return next((p for p in owned if p.kind == SUBSCRIPTION and ownership.is_live(p.status)
                 and p.product_line_id == line), None)


async def plan(session: AsyncSession, req: PurchaseRequest, owned: Sequence[Purchase], *,
               by_server: bool, now: datetime) -> CheckoutSwitch | None:
    """The switch a checkout for ``req`` makes, checked by ``operations.plan_switch`` (the
    rules of ``switchSubscription``) and priced by ``operations.price_switch`` from what the
    page sells (``req``, the snapshot); None when it buys a plan afresh."""
    old = replaced_subscription(req, owned)
    if old is None or req.product_id is None:
        return None
    assert req.price is not None
    if req.currency != old.currency:
        raise InvalidInput(f"a plan change is paid in the subscription's currency "
                           f"({old.currency}), not {req.currency}", field=["currency"])
    await operations.plan_switch(session, req.customer, old, to_product_id=req.product_id,
                                 price_id=req.price["priceId"], by_server=by_server, now=now)
    customer = await session.get(Customer, old.customer_pk)
    assert customer is not None
    amounts = await operations.with_tax(session, customer,
                                        operations.price_switch(
                                            old, req, now=now,
                                            discount=await promo_codes.current_discount(
                                                session, old)))
    return CheckoutSwitch(old=old, amounts=amounts)
