"""Resolve what a caller asks to buy or grant into a checked ``PurchaseRequest``.

Every rule that depends only on the catalog is checked here; rules that depend on what the
customer owns are in ``rules.py``. Both run when a checkout is created and again when it
completes, since the catalog and the customer may change in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import catalog
from billgate.billing.catalog_spec import MAX_SEATS, ProductSpec, check_references, parse_product
from billgate.errors import (
    CustomerTypeMismatch,
    Forbidden,
    InvalidInput,
    PriceNotFound,
    ProductNotFound,
    ProductNotStackable,
)
from billgate.money import from_minor
from billgate.types import CustomerRef

MAX_QUANTITY = MAX_SEATS


@dataclass(frozen=True)
class PurchaseRequest:
    customer: CustomerRef
    product: ProductSpec
    product_id: str | None  # None for an inline product
    price: dict[str, Any] | None  # None: a free grant of a product without a price
    currency: str | None
    quantity: int

    @property
    def unit_amount(self) -> int:
        return int(self.price["amounts"][self.currency]) if self.price and self.currency else 0

    @property
    def total(self) -> int:
        return self.unit_amount * self.quantity

    @property
    def is_subscription(self) -> bool:
        return bool(self.price and self.price.get("interval"))

    def snapshot(self) -> dict[str, Any]:
        document = self.product.as_document()
        if self.product_id is None:
            document["productId"] = None  # inline: it has no catalog id
        return document


def inline_input(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The input that resolves to an inline product's ``snapshot`` again. A snapshot holds
    amounts in minor units and ``resolve`` parses decimal strings ("2.00"), so a checkout
    re-checked on completion charges what it showed, not 100 times that."""
    prices = [{**price, "amounts": {currency: from_minor(amount, currency)
                                    for currency, amount in price["amounts"].items()}}
              for price in snapshot.get("prices") or []]
    document = {**snapshot, "prices": prices}
    if snapshot.get("overage"):  # per-unit amounts, in minor units like the prices'
        document["overage"] = [
            {**terms, "unitAmounts": {currency: from_minor(amount, currency)
                                      for currency, amount in terms["unitAmounts"].items()}}
            for terms in snapshot["overage"]]
    return document


def from_snapshot(current: PurchaseRequest, snapshot: dict[str, Any]) -> PurchaseRequest:
    """What a checkout page showed (its ``snapshot``), as the request to complete it: the
    snapshot is the deal. ``current`` is the same request resolved against the catalog now,
    which proves the product and its price are still sold; their amounts and included items
    may have changed since, and the buyer gets what the page said."""
    price_id = (current.price or {}).get("priceId")
    shown = next((p for p in snapshot.get("prices") or [] if p.get("priceId") == price_id), None)
    if shown is None or current.currency not in shown.get("amounts", {}):
        return current
    product = parse_product({**inline_input(snapshot), "productId": current.product.product_id})
    return PurchaseRequest(customer=current.customer, product=product,
                           product_id=current.product_id, price=shown,
                           currency=current.currency, quantity=current.quantity)


async def resolve(session: AsyncSession, *, customer: CustomerRef, product_id: str | None,
                  inline: dict[str, Any] | None, price_id: str | None, currency: str | None,
                  quantity: int, by_server: bool, needs_price: bool) -> PurchaseRequest:
    """Check the product, price, currency and quantity asked for.

    Server-only products and prices do not exist for clients (``PRODUCT_NOT_FOUND`` /
    ``PRICE_NOT_FOUND``, so their existence does not leak). ``priceId`` may be left out
    when the product has one price visible to the caller; ``currency`` defaults to USD
    when the price has it, else to the first currency listed.
    """
    product = await _product(session, product_id=product_id, inline=inline, by_server=by_server)
    if product.customer_type != customer.type:
        raise CustomerTypeMismatch(
            f"product {product.product_id!r} is for {product.customer_type.value} customers, "
            f"not {customer.type.value}", field=["customer"])
    if product.included_by_default:
        raise InvalidInput(f"product {product.product_id!r} is included by default; every "
                           f"{product.customer_type.value} customer already has it",
                           field=["productId"])
    price = _price(product, price_id, by_server=by_server, needs_price=needs_price)
    check_quantity(product, price, quantity)
    return PurchaseRequest(customer=customer, product=product,
                           product_id=product.product_id if inline is None else None,
                           price=price, currency=_currency(price, currency), quantity=quantity)


async def _product(session: AsyncSession, *, product_id: str | None, inline: dict[str, Any] | None,
                   by_server: bool) -> ProductSpec:
    if (product_id is None) == (inline is None):
        raise InvalidInput("give either productId or an inline product", field=["productId"])
    if inline is not None:
        if not by_server:
            raise Forbidden("inline products need a secret key (server caller)", field=["product"])
        spec = parse_product({**inline, "productId": inline.get("productId") or "inline"})
        view = await catalog.catalog_view(session)
        check_references(spec, view)
        return spec
    assert product_id is not None
    row = await catalog.get_product(session, product_id)
    if row is None or (row.server_only and not by_server):
        raise ProductNotFound(f"product {product_id!r} does not exist", field=["productId"])
    return catalog.product_spec(row)


def quantity_max(price: dict[str, Any] | None) -> int:
    """The most a purchase on ``price`` may hold when it is recurring: its catalog
    ``quantityMax``, else ``MAX_QUANTITY`` (seats are allowed by default)."""
    return int((price or {}).get("quantityMax") or MAX_QUANTITY)


def check_quantity(product: ProductSpec, price: dict[str, Any] | None, quantity: int) -> None:
    """A recurring price sells seats: any quantity from 1 to its ``quantityMax``. Anything
    else (a one-time price, a free grant) keeps the old rule: above 1 only when the
    product is ``stackable``. ``updateSubscriptionQuantity`` checks with this too."""
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidInput(f"quantity must be from 1 to {MAX_QUANTITY}", field=["quantity"])
    if price is not None and price.get("interval"):
        limit = quantity_max(price)
        if quantity > limit:
            raise InvalidInput(f"price {price['priceId']!r} allows at most {limit} "
                               f"seat{'s' if limit != 1 else ''}", field=["quantity"])
        return
    if quantity > 1 and not product.stackable:
        raise ProductNotStackable(
            f"product {product.product_id!r} is not stackable: quantity must be 1",
            field=["quantity"])


def _price(product: ProductSpec, price_id: str | None, *, by_server: bool,
           needs_price: bool) -> dict[str, Any] | None:
    visible = [p for p in product.prices if by_server or not p.get("serverOnly")]
    if price_id is not None:
        for price in visible:
            if price["priceId"] == price_id:
                return price
        raise PriceNotFound(f"product {product.product_id!r} has no price {price_id!r}",
                            field=["priceId"])
    if len(visible) == 1:
        return visible[0]
    if len(visible) > 1:
        raise PriceNotFound(
            f"product {product.product_id!r} has several prices; give priceId "
            f"({', '.join(p['priceId'] for p in visible)})", field=["priceId"])
    if needs_price:
        raise PriceNotFound(f"product {product.product_id!r} has no price to buy it with",
                            field=["priceId"])
    return None


def _currency(price: dict[str, Any] | None, currency: str | None) -> str | None:
    if price is None:
        return None
    amounts: dict[str, int] = price["amounts"]
    if currency is None:
        return "USD" if "USD" in amounts else next(iter(amounts))
    if currency not in amounts:
        raise InvalidInput(f"price {price['priceId']!r} is not sold in {currency} "
                           f"(it is in {', '.join(amounts)})", field=["currency"])
    return currency
