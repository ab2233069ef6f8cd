"""Each call of the client as data: the document, its variables and how to read the answer.
The sync and async clients run the same operations; only the transport differs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from billgate_client import _documents as docs
from billgate_client.errors import BillgateError
from billgate_client.models import (
    AutoTopUp,
    Billing,
    CustomerRef,
    GrantResult,
    Invoice,
    Item,
    OwnedProduct,
    Page,
    Product,
    Reservation,
    Subscription,
    SwitchPreview,
)

T = TypeVar("T")
N = TypeVar("N")


@dataclass(frozen=True)
class Operation(Generic[T]):
    query: str
    variables: dict[str, Any]
    read: Callable[[dict[str, Any]], T]


def _page(connection: Mapping[str, Any], node: Callable[[dict[str, Any]], N]) -> Page[N]:
    info = connection["pageInfo"]
    return Page(
        [node(edge["node"]) for edge in connection["edges"]],
        info["endCursor"] if info["hasNextPage"] else None,
    )


def _page_variables(limit: int | None, cursor: str | None) -> dict[str, Any]:
    return {**({"first": limit} if limit is not None else {}), **({"after": cursor} if cursor else {})}


def _payload(data: dict[str, Any], field: str) -> dict[str, Any]:
    """A mutation's payload; its first user error is raised."""
    payload: dict[str, Any] = data[field]
    if payload["userErrors"]:
        raise BillgateError.from_user_errors(payload["userErrors"])
    return payload


def _input(ref: CustomerRef, **fields: Any) -> dict[str, Any]:
    return {"input": {"customer": ref.to_graphql(), **{k: v for k, v in fields.items() if v is not None}}}


# --- items ------------------------------------------------------------------------------


def get_item(ref: CustomerRef, item_id: str) -> Operation[Item]:
    return Operation(
        docs.GET_ITEM,
        {"customer": ref.to_graphql(), "itemId": item_id},
        lambda data: Item.of(data["customer"]["item"]),
    )


def list_items(ref: CustomerRef) -> Operation[list[Item]]:
    return Operation(
        docs.LIST_ITEMS,
        {"customer": ref.to_graphql()},
        lambda data: [Item.of(item) for item in data["customer"]["items"]],
    )


def try_decrease(
    ref: CustomerRef, item_id: str, amount: int, *, idempotency_key: str | None, description: str | None
) -> Operation[bool]:
    def read(data: dict[str, Any]) -> bool:
        payload = data["tryDecreaseItemQuantity"]
        if payload["success"]:
            return True
        if all(error["code"] == "INSUFFICIENT_QUANTITY" for error in payload["userErrors"]):
            return False
        raise BillgateError.from_user_errors(payload["userErrors"])

    return Operation(
        docs.TRY_DECREASE,
        _input(ref, itemId=item_id, amount=amount, idempotencyKey=idempotency_key, description=description),
        read,
    )


def change_quantity(
    field: str,
    ref: CustomerRef,
    item_id: str,
    amount: int,
    *,
    idempotency_key: str | None,
    description: str | None,
    expires_at: str | None = None,
) -> Operation[Item]:
    document = docs.INCREASE if field == "increaseItemQuantity" else docs.DECREASE
    return Operation(
        document,
        _input(
            ref,
            itemId=item_id,
            amount=amount,
            idempotencyKey=idempotency_key,
            description=description,
            expiresAt=expires_at,
        ),
        lambda data: Item.of(_payload(data, field)["item"]),
    )


def reserve(
    ref: CustomerRef, item_id: str, amount: int, *, ttl_seconds: int | None, idempotency_key: str | None
) -> Operation[Reservation | None]:
    def read(data: dict[str, Any]) -> Reservation | None:
        payload = data["reserveItemQuantity"]
        if payload["success"]:
            return Reservation.of(payload["reservation"])
        if all(error["code"] == "INSUFFICIENT_QUANTITY" for error in payload["userErrors"]):
            return None
        raise BillgateError.from_user_errors(payload["userErrors"])

    return Operation(
        docs.RESERVE,
        _input(ref, itemId=item_id, amount=amount, ttlSeconds=ttl_seconds, idempotencyKey=idempotency_key),
        read,
    )


def set_auto_top_up(ref: CustomerRef, item_id: str, **fields: Any) -> Operation[AutoTopUp]:
    return Operation(docs.SET_AUTO_TOP_UP, _input(ref, itemId=item_id, **fields),
                     lambda data: AutoTopUp.of(_payload(data, "setAutoTopUp")["autoTopUp"]))


def get_auto_top_up(ref: CustomerRef, item_id: str) -> Operation[AutoTopUp | None]:
    def read(data: dict[str, Any]) -> AutoTopUp | None:
        found = data["customer"]["item"]["autoTopUp"]
        return None if found is None else AutoTopUp.of(found)

    return Operation(docs.GET_AUTO_TOP_UP, {"customer": ref.to_graphql(), "itemId": item_id}, read)


def end_reservation(field: str, reservation_id: str, amount: int | None = None) -> Operation[Item]:
    document = docs.COMMIT_RESERVATION if field == "commitReservation" else docs.RELEASE_RESERVATION
    fields: dict[str, Any] = {"reservationId": reservation_id}
    if amount is not None:
        fields["amount"] = amount
    return Operation(document, {"input": fields}, lambda data: Item.of(_payload(data, field)["item"]))


# --- what the customer owns ------------------------------------------------------------


def list_owned_products(
    ref: CustomerRef, limit: int | None, cursor: str | None
) -> Operation[Page[OwnedProduct]]:
    return Operation(
        docs.LIST_OWNED_PRODUCTS,
        {"customer": ref.to_graphql(), **_page_variables(limit, cursor)},
        lambda data: _page(data["customer"]["products"], OwnedProduct.of),
    )


def list_subscriptions(
    ref: CustomerRef, limit: int | None, cursor: str | None, status: list[str] | None
) -> Operation[Page[Subscription]]:
    variables = {
        "customer": ref.to_graphql(),
        **_page_variables(limit, cursor),
        **({"status": status} if status else {}),
    }
    return Operation(
        docs.LIST_SUBSCRIPTIONS,
        variables,
        lambda data: _page(data["customer"]["subscriptions"], Subscription.of),
    )


def has_access(ref: CustomerRef, product_id: str | None) -> Operation[bool]:
    return Operation(
        docs.HAS_ACCESS,
        {"customer": ref.to_graphql(), "productId": product_id},
        lambda data: bool(data["customer"]["hasAccess"]),
    )


def current_subscription(ref: CustomerRef, product_line_id: str | None) -> Operation[Subscription | None]:
    def read(data: dict[str, Any]) -> Subscription | None:
        subscription = data["customer"]["currentSubscription"]
        return Subscription.of(subscription) if subscription else None

    return Operation(
        docs.CURRENT_SUBSCRIPTION, {"customer": ref.to_graphql(), "productLineId": product_line_id}, read
    )


def create_checkout_url(ref: CustomerRef, **fields: Any) -> Operation[str]:
    return Operation(
        docs.CREATE_CHECKOUT_URL,
        _input(ref, **fields),
        lambda data: str(_payload(data, "createCheckoutUrl")["url"]),
    )


def grant_product(ref: CustomerRef, **fields: Any) -> Operation[GrantResult]:
    def read(data: dict[str, Any]) -> GrantResult:
        payload = _payload(data, "grantProduct")
        owned, subscription = payload["ownedProduct"], payload["subscription"]
        return GrantResult(
            OwnedProduct.of(owned) if owned else None, Subscription.of(subscription) if subscription else None
        )

    return Operation(docs.GRANT_PRODUCT, _input(ref, **fields), read)


def change_subscription(mutation: str, ref: CustomerRef, **fields: Any) -> Operation[Subscription]:
    """switchSubscription, cancelSubscription, uncancelSubscription, pause..., resume...,
    cancelScheduledChange, updateSubscriptionQuantity"""
    document = docs.SUBSCRIPTION_CHANGE % (mutation[0].upper() + mutation[1:], mutation)
    return Operation(
        document,
        _input(ref, **fields),
        lambda data: Subscription.of(_payload(data, mutation)["subscription"]),
    )


# --- invoices and billing ---------------------------------------------------------------


def list_invoices(ref: CustomerRef, limit: int | None, cursor: str | None) -> Operation[Page[Invoice]]:
    return Operation(
        docs.LIST_INVOICES,
        {"customer": ref.to_graphql(), **_page_variables(limit, cursor)},
        lambda data: _page(data["customer"]["invoices"], Invoice.of),
    )


def create_customer_portal_url(ref: CustomerRef, **fields: Any) -> Operation[str]:
    return Operation(
        docs.CREATE_CUSTOMER_PORTAL_URL,
        _input(ref, **fields),
        lambda data: str(_payload(data, "createCustomerPortalUrl")["url"]),
    )


def preview_switch_subscription(ref: CustomerRef, **fields: Any) -> Operation[SwitchPreview]:
    return Operation(
        docs.PREVIEW_SWITCH_SUBSCRIPTION,
        _input(ref, **fields),
        lambda data: SwitchPreview.of(_payload(data, "previewSwitchSubscription")["preview"]),
    )


def pay_invoice(ref: CustomerRef, **fields: Any) -> Operation[Invoice]:
    return Operation(
        docs.PAY_INVOICE,
        _input(ref, **fields),
        lambda data: Invoice.of(_payload(data, "payInvoice")["invoice"]),
    )


def get_billing(ref: CustomerRef) -> Operation[Billing]:
    return Operation(
        docs.GET_BILLING, {"customer": ref.to_graphql()}, lambda data: Billing.of(data["customer"]["billing"])
    )


# --- the catalog ------------------------------------------------------------------------


def list_products(
    customer_type: str | None, limit: int | None, cursor: str | None
) -> Operation[Page[Product]]:
    variables = {
        **_page_variables(limit, cursor),
        **({"customerType": customer_type} if customer_type else {}),
    }
    return Operation(docs.LIST_PRODUCTS, variables, lambda data: _page(data["products"], Product.of))


def get_product(product_id: str) -> Operation[Product | None]:
    return Operation(
        docs.GET_PRODUCT,
        {"productId": product_id},
        lambda data: Product.of(data["product"]) if data["product"] else None,
    )


def raw(query: str, variables: Mapping[str, Any] | None) -> Operation[dict[str, Any]]:
    return Operation(query, dict(variables or {}), lambda data: data)
