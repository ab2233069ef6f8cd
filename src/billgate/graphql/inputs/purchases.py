from __future__ import annotations

import strawberry

from billgate.graphql.inputs.catalog import ProductInput
from billgate.graphql.types.common import Currency, CustomerRef


@strawberry.input
class CreateCheckoutUrlInput:
    customer: CustomerRef
    return_url: str
    product_id: str | None = None
    product: ProductInput | None = strawberry.field(
        default=None, description="An inline product (server callers only) instead of productId.")
    price_id: str | None = strawberry.field(
        default=None, description="Required only when the product has several prices.")
    currency: Currency | None = strawberry.field(
        default=None, description="Default: USD when the price has it, else its first currency.")
    quantity: int = 1
    cancel_url: str | None = strawberry.field(
        default=None, description="Where the hosted page's Cancel link leads; allow-listed "
        "like returnUrl (BILLGATE_ALLOWED_RETURN_URLS). Without it the page has no Cancel link.")
    promo_code: str | None = strawberry.field(
        default=None, description="A promo code (any case), checked now and counted when the "
        "checkout is paid; PROMO_CODE_INVALID says why one cannot be used. The hosted page "
        "also has a \"Promo code\" field.")


@strawberry.input
class GrantProductInput:
    customer: CustomerRef
    product_id: str | None = None
    product: ProductInput | None = None
    price_id: str | None = None
    currency: Currency | None = None
    quantity: int = 1
