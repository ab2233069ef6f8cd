"""The REST endpoints (API.md, "The seed's REST endpoints"), each a thin edge over the
billing function its GraphQL mutation or field uses, and the Starlette routes serving them
and their OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from billgate.rest import billing, items, purchases
from billgate.rest.endpoint import Endpoint, serve
from billgate.rest.models import (
    BillingOut,
    CreatePurchaseUrlBody,
    Empty,
    InvoicesOut,
    InvoicesQuery,
    ItemOut,
    ProductsOut,
    PurchaseUrlOut,
    SwitchBody,
    SwitchOut,
    UpdateQuantityBody,
    UpdateQuantityQuery,
)
from billgate.runtime import Runtime

PREFIX = "/api/v1"
PAYMENTS = f"{PREFIX}/payments"
CUSTOMER = "{customer_type}/{customer_id}"

ENDPOINTS = (
    Endpoint("POST", f"{PAYMENTS}/purchases/create-purchase-url", "createPurchaseUrl",
             "A checkout link (GraphQL createCheckoutUrl)", purchases.create_purchase_url,
             access="manage", body=CreatePurchaseUrlBody, response=PurchaseUrlOut, errors=(404,)),
    Endpoint("GET", f"{PAYMENTS}/items/{CUSTOMER}/{{item_id}}", "getItem",
             "One item balance (GraphQL Customer.item)", items.get_item,
             access="read", response=ItemOut, errors=(404,)),
    Endpoint("POST", f"{PAYMENTS}/items/{CUSTOMER}/{{item_id}}/update-quantity", "updateItemQuantity",
             "Change a balance: allow_negative=false is the atomic tryDecrease",
             items.update_quantity, access="server", body=UpdateQuantityBody,
             query=UpdateQuantityQuery, response=Empty, errors=(404, 409)),
    Endpoint("GET", f"{PAYMENTS}/products/{CUSTOMER}", "listProducts",
             "What the customer owns (GraphQL Customer.products)", purchases.list_products,
             access="read", response=ProductsOut),
    Endpoint("POST", f"{PAYMENTS}/products/{CUSTOMER}/switch", "switchProduct",
             "Switch a subscription to another plan of its line (GraphQL switchSubscription)",
             purchases.switch, access="manage", body=SwitchBody, response=SwitchOut,
             errors=(402, 404)),
    Endpoint("GET", f"{PAYMENTS}/invoices/{CUSTOMER}", "listInvoices",
             "Invoices, newest first (GraphQL Customer.invoices)", billing.list_invoices,
             access="read", query=InvoicesQuery, response=InvoicesOut),
    Endpoint("GET", f"{PAYMENTS}/billing/{CUSTOMER}", "getBilling",
             "The Stripe customer and default card (GraphQL Customer.billing)",
             billing.get_billing, access="manage", response=BillingOut),
)


def rest_routes(get_runtime: Callable[[], Runtime]) -> list[Route]:
    def route(endpoint: Endpoint) -> Route:
        async def handle(request: Request) -> Response:
            return await serve(endpoint, request, get_runtime())

        return Route(endpoint.path, handle, methods=[endpoint.method], name=endpoint.operation_id)

    document: dict[str, bytes] = {}

    async def openapi(request: Request) -> Response:
        if "json" not in document:  # built once, from ENDPOINTS
            from billgate.rest.openapi import build_document

            document["json"] = orjson.dumps(build_document(ENDPOINTS))
        return Response(document["json"], media_type="application/json")

    return [*(route(e) for e in ENDPOINTS),
            Route(f"{PREFIX}/openapi.json", openapi, methods=["GET"], name="openapi")]
