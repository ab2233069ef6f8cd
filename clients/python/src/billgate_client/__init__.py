"""billgate's Python client: ``Billgate`` (sync) and ``AsyncBillgate`` (asyncio) with the same
methods, ``mint_customer_token`` for your backend's users and ``verify_webhook`` for the
events billgate sends. Needs only httpx and PyJWT."""

from billgate_client._version import __version__
from billgate_client.async_client import AsyncBillgate, AsyncCustomer, AsyncItemRef
from billgate_client.client import Billgate, Customer, ItemRef
from billgate_client.errors import BillgateError
from billgate_client.models import (
    AutoTopUp,
    Billing,
    CustomerRef,
    GrantResult,
    Invoice,
    InvoiceLine,
    Item,
    Money,
    OwnedProduct,
    Page,
    PaymentMethod,
    Price,
    Product,
    Reservation,
    ScheduledChange,
    Subscription,
    SwitchOption,
    SwitchPreview,
)
from billgate_client.tokens import mint_customer_token
from billgate_client.webhooks import WebhookVerificationError, verify_webhook

__all__ = [
    "AsyncBillgate",
    "AutoTopUp",
    "AsyncCustomer",
    "AsyncItemRef",
    "Billgate",
    "BillgateError",
    "Billing",
    "Customer",
    "CustomerRef",
    "GrantResult",
    "Invoice",
    "InvoiceLine",
    "Item",
    "ItemRef",
    "Money",
    "OwnedProduct",
    "Page",
    "PaymentMethod",
    "Price",
    "Product",
    "Reservation",
    "ScheduledChange",
    "Subscription",
    "SwitchOption",
    "SwitchPreview",
    "WebhookVerificationError",
    "__version__",
    "mint_customer_token",
    "verify_webhook",
]
