"""Ownership rules: what a customer may buy given what it already owns."""

from __future__ import annotations

from collections.abc import Sequence

from billgate.billing.purchases.repository import INCLUDED
from billgate.billing.purchases.request import PurchaseRequest
from billgate.db.models import Purchase
from billgate.errors import AddOnBaseNotOwned, ProductAlreadyOwned


def check(request: PurchaseRequest, owned: Sequence[Purchase]) -> None:
    """Raise when ``request`` breaks a rule against the customer's ``owned`` purchases.

    - a non-stackable product is owned at most once (``PRODUCT_ALREADY_OWNED``);
    - an add-on needs one of its base products (``ADD_ON_BASE_NOT_OWNED``);

    A product line holds one plan, but owning one never blocks buying another: the new plan
    replaces the old one, one-time or subscription (``fulfil.start``; the seed: "When they
    upgrade, the old plan is replaced"), and a subscription is replaced as a prorated switch
    (``checkout_switch``).
    """
    product = request.product
    paid = [p for p in owned if p.kind != INCLUDED]
    if request.product_id is not None and not product.stackable and any(
        p.product_id == request.product_id for p in paid
    ):
        raise ProductAlreadyOwned(f"customer {request.customer} already owns {request.product_id!r}",
                                  field=["productId"])
    if product.is_add_on_to:
        owned_ids = {p.product_id for p in owned}
        if not owned_ids.intersection(product.is_add_on_to):
            raise AddOnBaseNotOwned(
                f"{product.product_id!r} is an add-on to {', '.join(map(repr, product.is_add_on_to))}; "
                f"customer {request.customer} owns none of them", field=["productId"])
