"""Catalog inputs. Field names follow the ``Product`` type (API.md, ``ProductInput``)."""

from __future__ import annotations

from typing import Any

import strawberry

from billgate.billing.taxes import TaxRate
from billgate.graphql.types.common import Currency, CustomerType, IntervalUnit, ItemExpiry


@strawberry.input
class IntervalInput:
    unit: IntervalUnit
    count: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"unit": self.unit.value, "count": self.count}


@strawberry.input
class MoneyInput:
    currency: Currency
    amount: str = strawberry.field(description='Decimal string, e.g. "9.99".')


@strawberry.input
class PriceInput:
    price_id: str
    amounts: list[MoneyInput]
    interval: IntervalInput | None = None
    free_trial: IntervalInput | None = None
    server_only: bool = False
    quantity_max: int | None = strawberry.field(
        default=None, description="Recurring prices only: the most seats a subscription may "
        "have (1 = no seats); null allows any quantity from 1 up.")


@strawberry.input
class IncludedItemInput:
    item_id: str
    quantity: int
    repeat: IntervalInput | None = None
    expires: ItemExpiry = ItemExpiry.NEVER  # type: ignore[assignment]
    rollover: int | None = strawberry.field(
        default=None, description="WHEN_REPEATED items only: the most of the unused remainder "
        "that carries into the next period.")


@strawberry.input(description="Consumption past zero that a plan allows and bills at renewal.")
class ProductOverageInput:
    item_id: str
    unit_amounts: list[MoneyInput] = strawberry.field(
        description="Per unit of debt, one for each currency of the product's prices.")
    limit: int = strawberry.field(description="How far below zero tryDecrease may go.")


@strawberry.input
class ProductInput:
    display_name: str
    customer_type: CustomerType
    product_line_id: str | None = None
    prices: list[PriceInput] | None = None
    included_items: list[IncludedItemInput] | None = None
    free_trial: IntervalInput | None = None
    is_add_on_to: list[str] | None = None
    server_only: bool = False
    stackable: bool = False
    included_by_default: bool = False
    overage: list[ProductOverageInput] | None = None

    def to_document(self, product_id: str) -> dict[str, Any]:
        """The catalog-file shape that ``catalog_spec.parse_product`` validates."""
        def interval(value: IntervalInput | None) -> dict[str, Any] | None:
            return value.to_json() if value else None

        return {
            "productId": product_id,
            "displayName": self.display_name,
            "customerType": self.customer_type.value,
            "productLineId": self.product_line_id,
            "prices": [
                {
                    "priceId": p.price_id,
                    "amounts": [{"currency": m.currency.value, "amount": m.amount} for m in p.amounts],
                    "interval": interval(p.interval),
                    "freeTrial": interval(p.free_trial),
                    "serverOnly": p.server_only,
                    **({} if p.quantity_max is None else {"quantityMax": p.quantity_max}),
                }
                for p in self.prices or []
            ],
            "includedItems": [
                {"itemId": i.item_id, "quantity": i.quantity, "repeat": interval(i.repeat),
                 "expires": i.expires.value,
                 **({} if i.rollover is None else {"rollover": i.rollover})}
                for i in self.included_items or []
            ],
            "freeTrial": interval(self.free_trial),
            "isAddOnTo": list(self.is_add_on_to or []),
            "serverOnly": self.server_only,
            "stackable": self.stackable,
            "includedByDefault": self.included_by_default,
            "overage": [
                {"itemId": o.item_id, "limit": o.limit,
                 "unitAmounts": [{"currency": m.currency.value, "amount": m.amount}
                                 for m in o.unit_amounts]}
                for o in self.overage or []
            ],
        }


@strawberry.input
class UpsertItemDefinitionInput:
    item_id: str
    display_name: str
    customer_type: CustomerType
    low_balance_thresholds: list[int] | None = None


@strawberry.input
class UpsertProductLineInput:
    product_line_id: str
    display_name: str
    customer_type: CustomerType


@strawberry.input
class UpsertProductInput:
    product_id: str
    product: ProductInput


@strawberry.input
class AddressInput:
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postal_code: str | None = None
    state: str | None = None
    country: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"line1": self.line1, "line2": self.line2, "city": self.city,
                "postal_code": self.postal_code, "state": self.state, "country": self.country}


@strawberry.input(description="An exclusive tax rate for buyers in a country.")
class TaxRateInput:
    country: str = strawberry.field(description='ISO 3166-1 alpha-2, or "*" for any country.')
    name: str = strawberry.field(description='Printed on the tax line, e.g. "VAT".')
    percent: str = strawberry.field(description='A decimal string, e.g. "20" or "7.25".')


@strawberry.input
class UpdatePaymentSettingsInput:
    test_mode: bool | None = None
    block_new_purchases: bool | None = None
    grace_period_days: int | None = None
    dunning_retry_days: list[int] | None = None
    payment_method_types: list[str] | None = strawberry.field(
        default=None, description="Stripe payment method types offered on checkout; must "
                                  "include card. A billgate addition.")
    seller_name: str | None = strawberry.field(default=None, description='"" clears it.')
    seller_email: str | None = None
    seller_address: AddressInput | None = strawberry.field(
        default=None, description="Replaces the whole address; all parts empty clears it.")
    seller_tax_id: str | None = None
    invoice_number_prefix: str | None = strawberry.field(
        default=None, description="Invoice numbers read {prefix}{year}-{6 digits}; default INV-.")
    tax_rates: list[TaxRateInput] | None = strawberry.field(
        default=None, description="Replaces the whole list; [] removes every rate.")

    def tax_rate_list(self) -> list[TaxRate] | None:
        if self.tax_rates is None:
            return None
        return [TaxRate(country=r.country, name=r.name, percent=r.percent) for r in self.tax_rates]

    def seller_changes(self) -> dict[str, object]:
        """The seller parts given (null: unchanged), as ``payment_settings.update`` takes them."""
        given = {"name": self.seller_name, "email": self.seller_email,
                 "address": self.seller_address.to_json() if self.seller_address else None,
                 "tax_id": self.seller_tax_id}
        return {k: v for k, v in given.items() if v is not None}


@strawberry.input
class ArchiveItemDefinitionInput:
    item_id: str


@strawberry.input
class ArchiveProductLineInput:
    product_line_id: str


@strawberry.input
class ArchiveProductInput:
    product_id: str
