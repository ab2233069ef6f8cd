"""``product_inline``: a product defined in the request, in the Stack Auth shape (prices and
included items keyed by id, intervals as ``[count, "month"]``), turned into billgate's
catalog document. Its content (ids, currency amounts, expiry rules) is checked by
``billing/catalog_spec.py`` like any catalog product, so only the shape is checked here."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Unit = Literal["day", "week", "month", "year"]
Interval = tuple[int, Unit]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InlinePrice(_Strict):
    USD: str | None = None
    EUR: str | None = None
    GBP: str | None = None
    JPY: str | None = None
    INR: str | None = None
    AUD: str | None = None
    CAD: str | None = None
    interval: Interval | None = Field(default=None, description='Recurring: e.g. [1, "month"].')
    free_trial: Interval | None = None
    server_only: bool = False

    def to_document(self, price_id: str) -> dict[str, Any]:
        amounts = {currency: amount for currency in ("USD", "EUR", "GBP", "JPY", "INR", "AUD", "CAD")
                   if (amount := getattr(self, currency)) is not None}
        return {"priceId": price_id, "amounts": amounts, "interval": _interval(self.interval),
                "freeTrial": _interval(self.free_trial), "serverOnly": self.server_only}


class InlineIncludedItem(_Strict):
    quantity: int
    repeat: Literal["never"] | Interval | None = None
    expires: Literal["never", "when-purchase-expires", "when-repeated"] | None = None

    def to_document(self, item_id: str) -> dict[str, Any]:
        repeat = None if self.repeat in (None, "never") else self.repeat
        expires = (self.expires or "never").replace("-", "_").upper()
        return {"itemId": item_id, "quantity": self.quantity,
                "repeat": _interval(repeat if isinstance(repeat, tuple) else None),
                "expires": expires}


class InlineProduct(_Strict):
    display_name: str
    customer_type: Literal["user", "team", "custom"]
    server_only: bool = False
    stackable: bool = False
    free_trial: Interval | None = None
    prices: dict[str, InlinePrice] = Field(default_factory=dict,
                                           description='By price id: {"monthly": {"USD": "9.99", '
                                           '"interval": [1, "month"]}}.')
    included_items: dict[str, InlineIncludedItem] = Field(
        default_factory=dict, description='By item id: {"credits": {"quantity": 100}}.')

    def to_document(self) -> dict[str, Any]:
        """The catalog-file shape that ``catalog_spec.parse_product`` validates."""
        return {
            "productId": "inline",
            "displayName": self.display_name,
            "customerType": self.customer_type.upper(),
            "prices": [price.to_document(price_id) for price_id, price in self.prices.items()],
            "includedItems": [item.to_document(item_id)
                              for item_id, item in self.included_items.items()],
            "freeTrial": _interval(self.free_trial),
            "serverOnly": self.server_only,
            "stackable": self.stackable,
        }


def _interval(value: Interval | None) -> dict[str, Any] | None:
    return None if value is None else {"unit": value[1].upper(), "count": value[0]}
