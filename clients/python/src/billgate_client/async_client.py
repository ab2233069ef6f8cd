"""The asynchronous client (asyncio), with the same methods as ``Billgate``:

    billgate = AsyncBillgate("http://127.0.0.1:8000/graphql", secret_key=os.environ["BILLGATE_SECRET_KEY"])
    credits = billgate.customer("USER", "u-1").item("credits")
    if not await credits.try_decrease_quantity(5, idempotency_key=job_id):
        raise NotEnoughCredits()

tests/test_clients_agree.py checks that both clients keep the same methods and arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

import httpx

from billgate_client import _operations as ops
from billgate_client import _transport as transport
from billgate_client._operations import Operation
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


class AsyncBillgate:
    """``url`` is the GraphQL endpoint (``.../graphql``). Backends pass ``secret_key``; a
    customer token (``token``, or ``get_token`` to mint a new one when it expires) limits the
    client to that user and its teams."""

    def __init__(
        self,
        url: str,
        *,
        secret_key: str | None = None,
        token: str | None = None,
        get_token: Callable[[], str] | None = None,
        timeout: float = 10.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self._credentials = transport.Credentials(secret_key, token, get_token)
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http_client is None

    def customer(self, customer_type: str, customer_id: str) -> AsyncCustomer:
        """``billgate.customer("USER", "u-1")``; also ``"TEAM"`` and ``"CUSTOM"``."""
        return AsyncCustomer(self, transport.customer_ref(customer_type, customer_id))

    async def list_products(
        self, *, customer_type: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> Page[Product]:
        """The catalog, a page at a time."""
        return await self.run(ops.list_products(customer_type, limit, cursor))

    async def get_product(self, product_id: str) -> Product | None:
        return await self.run(ops.get_product(product_id))

    async def request(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Any GraphQL operation; returns its ``data`` or raises BillgateError."""
        return await self.run(ops.raw(query, variables))

    async def run(self, operation: Operation[T]) -> T:
        response = await self._post(operation)
        if response.status_code == 401 and self._credentials.refreshable:
            # The token expired or was refused: ask get_token for a new one, try once more.
            self._credentials.invalidate()
            response = await self._post(operation)
        return transport.read(operation, response.status_code, response.text)

    async def _post(self, operation: Operation[Any]) -> httpx.Response:
        try:
            return await self._http.post(
                self.url, json=transport.body(operation), headers=self._credentials.headers()
            )
        except httpx.TransportError as exc:
            raise transport.network_error(self.url, exc) from exc

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncBillgate:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncCustomer:
    """One customer's side of the API. Methods that change balances or grant products need
    the secret key."""

    def __init__(self, client: AsyncBillgate, ref: CustomerRef) -> None:
        self._client = client
        self.ref = ref

    def item(self, item_id: str) -> AsyncItemRef:
        return AsyncItemRef(self._client, self.ref, item_id)

    async def get_item(self, item_id: str) -> Item:
        return await self._client.run(ops.get_item(self.ref, item_id))

    async def list_items(self) -> list[Item]:
        return await self._client.run(ops.list_items(self.ref))

    async def list_products(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[OwnedProduct]:
        """What the customer owns, one entry per product."""
        return await self._client.run(ops.list_owned_products(self.ref, limit, cursor))

    async def list_subscriptions(
        self, *, limit: int | None = None, cursor: str | None = None, status: list[str] | None = None
    ) -> Page[Subscription]:
        return await self._client.run(ops.list_subscriptions(self.ref, limit, cursor, status))

    async def has_access(self, product_id: str | None = None) -> bool:
        """Should the customer get what the product gives (owned, or a subscription with
        access)? Without a product: whether any subscription gives access now."""
        return await self._client.run(ops.has_access(self.ref, product_id))

    async def get_current_subscription(self, *, product_line_id: str | None = None) -> Subscription | None:
        """The newest live subscription (of a product line, if given), or None."""
        return await self._client.run(ops.current_subscription(self.ref, product_line_id))

    async def create_checkout_url(
        self,
        *,
        product_id: str,
        return_url: str,
        price_id: str | None = None,
        cancel_url: str | None = None,
        quantity: int | None = None,
        currency: str | None = None,
        promo_code: str | None = None,
    ) -> str:
        """A link to billgate's hosted checkout (single use, 24 h); ``return_url`` must be allowed.
        ``quantity``: seats of a subscription (up to the price's ``quantityMax``);
        ``promo_code`` (any case) is checked now (PROMO_CODE_INVALID says why not) and counted
        when the checkout is paid."""
        return await self._client.run(
            ops.create_checkout_url(
                self.ref,
                productId=product_id,
                returnUrl=return_url,
                priceId=price_id,
                cancelUrl=cancel_url,
                quantity=quantity,
                currency=currency,
                promoCode=promo_code,
            )
        )

    async def grant_product(
        self,
        *,
        product_id: str,
        price_id: str | None = None,
        quantity: int | None = None,
        currency: str | None = None,
    ) -> GrantResult:
        """Give a product without checkout (secret key only)."""
        return await self._client.run(
            ops.grant_product(
                self.ref, productId=product_id, priceId=price_id, quantity=quantity, currency=currency
            )
        )

    async def switch_subscription(
        self,
        *,
        from_product_id: str,
        to_product_id: str,
        price_id: str | None = None,
        when: Literal["IMMEDIATELY", "PERIOD_END"] | None = None,
    ) -> Subscription:
        """Move a live subscription to another plan of its line: now, prorated (the server's
        default), or ``when="PERIOD_END"``: nothing charged now, ``scheduled_change`` set, and
        the renewal is of the new plan."""
        return await self._client.run(
            ops.change_subscription(
                "switchSubscription",
                self.ref,
                fromProductId=from_product_id,
                toProductId=to_product_id,
                priceId=price_id,
                when=when,
            )
        )

    async def cancel_scheduled_change(self, *, subscription_id: str) -> Subscription:
        """Drop the plan change waiting for the period end (a ``PERIOD_END`` switch or a price
        migration): the subscription renews as it is. None pending: INVALID_INPUT."""
        return await self._client.run(
            ops.change_subscription("cancelScheduledChange", self.ref, subscriptionId=subscription_id)
        )

    async def update_subscription_quantity(self, *, subscription_id: str, quantity: int) -> Subscription:
        """Seats: more are charged now, prorated (a decline raises PAYMENT_FAILED and changes
        nothing); fewer take effect now with a prorated credit toward future invoices. The
        included items scale with the quantity."""
        return await self._client.run(
            ops.change_subscription(
                "updateSubscriptionQuantity", self.ref, subscriptionId=subscription_id, quantity=quantity
            )
        )

    async def cancel_subscription(
        self, *, product_id: str | None = None, subscription_id: str | None = None, immediately: bool = False
    ) -> Subscription:
        """At the end of the paid period (access until then), or ``immediately``."""
        return await self._client.run(
            ops.change_subscription(
                "cancelSubscription",
                self.ref,
                productId=product_id,
                subscriptionId=subscription_id,
                immediately=immediately,
            )
        )

    async def uncancel_subscription(
        self, *, product_id: str | None = None, subscription_id: str | None = None
    ) -> Subscription:
        return await self._client.run(
            ops.change_subscription(
                "uncancelSubscription", self.ref, productId=product_id, subscriptionId=subscription_id
            )
        )

    async def pause_subscription(
        self,
        *,
        product_id: str | None = None,
        subscription_id: str | None = None,
        resumes_at: str | None = None,
    ) -> Subscription:
        return await self._client.run(
            ops.change_subscription(
                "pauseSubscription",
                self.ref,
                productId=product_id,
                subscriptionId=subscription_id,
                resumesAt=resumes_at,
            )
        )

    async def resume_subscription(
        self, *, product_id: str | None = None, subscription_id: str | None = None
    ) -> Subscription:
        return await self._client.run(
            ops.change_subscription(
                "resumeSubscription", self.ref, productId=product_id, subscriptionId=subscription_id
            )
        )

    async def list_invoices(self, *, limit: int | None = None, cursor: str | None = None) -> Page[Invoice]:
        """Newest first; ``Page(items, next_cursor)``."""
        return await self._client.run(ops.list_invoices(self.ref, limit, cursor))

    async def get_billing(self) -> Billing:
        return await self._client.run(ops.get_billing(self.ref))

    async def create_customer_portal_url(self, *, return_url: str) -> str:
        """A link to billgate's customer portal for this customer (valid one hour, then a
        session bound to it); ``return_url`` (its link back) must be allowed."""
        return await self._client.run(ops.create_customer_portal_url(self.ref, returnUrl=return_url))

    async def preview_switch_subscription(
        self, *, from_product_id: str, to_product_id: str, price_id: str | None = None
    ) -> SwitchPreview:
        """What ``switch_subscription`` would charge, credit and write now; writes nothing."""
        return await self._client.run(
            ops.preview_switch_subscription(
                self.ref, fromProductId=from_product_id, toProductId=to_product_id, priceId=price_id
            )
        )

    async def pay_invoice(self, invoice_id: str) -> Invoice:
        """Pay an OPEN invoice with the default card (a decline raises PAYMENT_FAILED)."""
        return await self._client.run(ops.pay_invoice(self.ref, invoiceId=invoice_id))

    # Later billgate releases add, here, once schema.graphql has them:
    # set_auto_top_up(item_id=..., ...).


class AsyncItemRef:
    """One item (balance) of a customer."""

    def __init__(self, client: AsyncBillgate, ref: CustomerRef, item_id: str) -> None:
        self._client = client
        self.customer = ref
        self.item_id = item_id

    async def get(self) -> Item:
        return await self._client.run(ops.get_item(self.customer, self.item_id))

    async def try_decrease_quantity(
        self, amount: int, *, idempotency_key: str | None = None, description: str | None = None
    ) -> bool:
        """Consume ``amount`` only if the balance stays at or above 0 (atomic, never oversells):
        True when consumed, False when the balance was too low (nothing changed). With
        ``idempotency_key`` a retry changes nothing more."""
        return await self._client.run(
            ops.try_decrease(
                self.customer, self.item_id, amount, idempotency_key=idempotency_key, description=description
            )
        )

    async def increase_quantity(
        self,
        amount: int,
        *,
        expires_at: str | None = None,
        idempotency_key: str | None = None,
        description: str | None = None,
    ) -> Item:
        return await self._client.run(
            ops.change_quantity(
                "increaseItemQuantity",
                self.customer,
                self.item_id,
                amount,
                idempotency_key=idempotency_key,
                description=description,
                expires_at=expires_at,
            )
        )

    async def decrease_quantity(
        self, amount: int, *, idempotency_key: str | None = None, description: str | None = None
    ) -> Item:
        """May take the balance below 0 (debt)."""
        return await self._client.run(
            ops.change_quantity(
                "decreaseItemQuantity",
                self.customer,
                self.item_id,
                amount,
                idempotency_key=idempotency_key,
                description=description,
            )
        )

    async def reserve(
        self, amount: int, *, ttl_seconds: int | None = None, idempotency_key: str | None = None
    ) -> Reservation | None:
        """Hold ``amount`` against ``available`` (quantity - reserved) until committed, released
        or expired (after ``ttl_seconds``, 300 by default): the reservation, or None when
        ``available`` was too low (nothing changed). Atomic like ``try_decrease_quantity``."""
        return await self._client.run(
            ops.reserve(
                self.customer, self.item_id, amount, ttl_seconds=ttl_seconds, idempotency_key=idempotency_key
            )
        )

    async def set_auto_top_up(
        self,
        *,
        threshold: int,
        product_id: str,
        price_id: str | None = None,
        quantity: int | None = None,
        max_per_month: int | None = None,
        enabled: bool | None = None,
    ) -> AutoTopUp:
        """Set (or replace) this item's auto top-up: ``product_id`` is bought (charged
        off-session to the default card) when a change takes ``available`` from above
        ``threshold`` to at or below it. A customer token sets its own."""
        return await self._client.run(
            ops.set_auto_top_up(
                self.customer, self.item_id, threshold=threshold, productId=product_id, priceId=price_id,
                quantity=quantity, maxPerMonth=max_per_month, enabled=enabled,
            )
        )

    async def get_auto_top_up(self) -> AutoTopUp | None:
        """This item's auto top-up, or None when none was set."""
        return await self._client.run(ops.get_auto_top_up(self.customer, self.item_id))

    async def commit(self, reservation_id: str, amount: int | None = None) -> Item:
        """Use ``amount`` of a held reservation (all by default; one ledger change), releasing the rest."""
        return await self._client.run(ops.end_reservation("commitReservation", reservation_id, amount))

    async def release(self, reservation_id: str) -> Item:
        """Let go of a held reservation."""
        return await self._client.run(ops.end_reservation("releaseReservation", reservation_id))
