"""``customer.billing``: who may read it and what it shows."""

from __future__ import annotations

from billgate.billing import payment_methods
from billgate.errors import BillgateError
from billgate.graphql.context import Info
from billgate.graphql.errors import raise_query_error
from billgate.graphql.types.billing import Billing, PaymentMethod
from billgate.types import CustomerRef


async def billing(info: Info, ref: CustomerRef) -> Billing:
    """Readable by those who may manage the customer's billing: server keys, the user
    itself and team admins (team members get FORBIDDEN: the card is not theirs)."""
    try:
        info.context.principal.require_manage(ref)
    except BillgateError as exc:
        raise_query_error(exc)
    found = await payment_methods.billing_info(info.context.runtime.db, ref)
    card = found.default_payment_method
    return Billing(has_customer=found.has_customer,
                   default_payment_method=PaymentMethod.from_json(card) if card else None)
