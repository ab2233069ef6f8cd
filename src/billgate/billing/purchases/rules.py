"""Ownership rules: what a customer may buy given what it already owns."""

from __future__ import annotations

from collections.abc import Sequence

from billgate.billing.errors import AddOnBaseNotOwned, ProductAlreadyOwned
from billgate.billing.purchases.repository import INCLUDED, ONE_TIME
from billgate.billing.purchases.request import PurchaseRequest
from billgate.db.models import Purchase


def check(request: PurchaseRequest, owned: Sequence[Purchase]) -> None:
    """Raise when ``request`` breaks a rule against the customer's ``owned`` purchases.

    - a non-stackable product is owned at most once (``PRODUCT_ALREADY_OWNED``);
    - an add-on needs one of its base products (``ADD_ON_BASE_NOT_OWNED``);
    - a product line holds one plan: a one-time purchase in the line blocks buying another
      product of it (``PRODUCT_ALREADY_OWNED``). A subscription in the line does not block:
      buying replaces it (see ``fulfil.start``). Add-ons of a line are bought beside their
      base, not instead of a plan, so this rule leaves them out.
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
    if product.product_line_id is not None and not product.is_add_on_to:
        for purchase in paid:
            if purchase.product_line_id == product.product_line_id and purchase.kind == ONE_TIME:
                raise ProductAlreadyOwned(
                    f"customer {request.customer} already bought {purchase.product_id!r} of "
                    f"product line {product.product_line_id!r} once and for all",
                    field=["productId"])
