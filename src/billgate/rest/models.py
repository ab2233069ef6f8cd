"""The REST edge's request and response bodies (snake_case, as the Stack Auth payments API
names them). Pydantic checks every request body at the edge, before any billing call, and
the same models are the schemas of the OpenAPI document (``rest/openapi.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from billgate.rest.inline_product import InlineProduct

CustomerTypeName = Literal["user", "team", "custom"]


class Body(BaseModel):
    """A request body: unknown fields are refused (a typo must not pass unnoticed)."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """A response body (its schema describes what is sent: every field present)."""

    model_config = ConfigDict(json_schema_mode="serialization")


# Requests ------------------------------------------------------------------------------------


class CreatePurchaseUrlBody(Body):
    customer_type: CustomerTypeName
    customer_id: str = Field(description="The app's own id of the user, team or custom customer.")
    product_id: str | None = Field(default=None, description="A catalog product; or product_inline.")
    product_inline: InlineProduct | None = Field(
        default=None, description="A product defined in the request (secret key only).")
    price_id: str | None = Field(default=None, description="Needed when the product has several prices.")
    quantity: int = Field(default=1, description="Units of a stackable product.")
    return_url: str | None = Field(
        default=None, description="Where the browser goes after paying; must match "
        "BILLGATE_ALLOWED_RETURN_URLS. Without it, the hosted page says the payment is complete.")
    cancel_url: str | None = Field(default=None, description="Where the page's Cancel link leads.")


class UpdateQuantityBody(Body):
    delta: int = Field(description="Positive grants, negative removes; never 0.")
    expires_at: datetime | None = Field(
        default=None, description="A grant (positive delta) that expires then (ISO 8601 with a "
        "time zone); its unused part leaves the balance at that time.")
    description: str | None = None
    idempotency_key: str | None = Field(
        default=None, description="A retry with the same key and the same change applies it "
        "once; the same key with another change is 409 IDEMPOTENCY_KEY_REUSED.")


class UpdateQuantityQuery(BaseModel):
    allow_negative: Literal["true", "false"] = Field(
        description="false: the atomic tryDecrease (refused with 400 INSUFFICIENT_QUANTITY, "
        "nothing changed, when the balance would go below 0); true: the balance may go "
        "negative (debt the next grant pays first).")


class SwitchBody(Body):
    from_product_id: str
    to_product_id: str
    price_id: str | None = None


class InvoicesQuery(BaseModel):
    limit: int = Field(default=10, ge=1, le=100)
    cursor: str | None = Field(default=None, description="next_cursor of the page before.")


# Responses -----------------------------------------------------------------------------------


class PurchaseUrlOut(Out):
    url: str


class ItemOut(Out):
    id: str
    display_name: str
    quantity: int = Field(description="May be negative (debt).")
    non_negative_quantity: int = Field(description="max(0, quantity), for display.")


class Empty(Out):
    pass


class IntervalOut(Out):
    unit: Literal["day", "week", "month", "year"]
    count: int


class PriceOut(Out):
    id: str
    amounts: dict[str, str] = Field(description='Per currency, a decimal string: {"USD": "9.99"}.')
    interval: IntervalOut | None
    free_trial: IntervalOut | None


class ProductOut(Out):
    id: str
    display_name: str
    customer_type: CustomerTypeName
    prices: list[PriceOut]
    stackable: bool
    server_only: bool


class SubscriptionOut(Out):
    id: str = Field(description="The subscription's id (GraphQL's CustomerSubscription.id).")
    status: Literal["trialing", "active", "past_due", "paused", "canceled"]
    product_id: str | None
    price_id: str | None
    quantity: int
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    canceled_at: datetime | None
    ended_at: datetime | None
    trial_ends_at: datetime | None
    created_at: datetime
    has_access: bool


class OwnedProductOut(Out):
    id: str | None = Field(description="The product id; null for an inline product.")
    display_name: str
    quantity: int = Field(description="Summed over stackable purchases.")
    type: Literal["one_time", "subscription"] = Field(
        description="An include-by-default product (a free plan) is one_time, with "
        "included_by_default true.")
    included_by_default: bool
    subscription: SubscriptionOut | None
    switch_options: list[ProductOut] = Field(
        description="Exactly the products the switch endpoint accepts from this one.")


class ProductsOut(Out):
    items: list[OwnedProductOut]


class SwitchOut(Out):
    success: Literal[True] = True
    subscription: SubscriptionOut


class InvoiceOut(Out):
    id: str
    created_at: datetime
    status: Literal["draft", "open", "paid", "uncollectible", "void"]
    amount_total: int = Field(description="Minor units (cents; JPY: yen).")
    currency: str
    hosted_invoice_url: str
    number: str | None = Field(default=None, description="INV-2026-000042: given when the invoice "
                               "is issued, never reused; null while DRAFT.")
    pdf_url: str = Field(description="The invoice as a PDF (absolute, unguessable).")


class InvoicesOut(Out):
    items: list[InvoiceOut]
    next_cursor: str | None


class PaymentMethodOut(Out):
    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class BillingOut(Out):
    has_customer: bool
    default_payment_method: PaymentMethodOut | None


class ErrorOut(Out):
    code: str = Field(description="The same ErrorCode GraphQL answers with.")
    error: str
    field: str | None = Field(default=None, description="The request field at fault.")
