"""The console's calls into billing: one small function per action, each calling the same
billing function as the matching GraphQL mutation, with the same arguments, and announcing
what changed the way that mutation does. Nothing else in ``web/admin`` calls a billing
function that writes, so a change of those functions' signatures is made here once.

Each takes the runtime and already-parsed values; rules and validation stay in billing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billgate.billing import (
    balances,
    catalog,
    catalog_archive,
    items,
    payment_settings,
    promo_codes,
    refunds,
)
from billgate.billing.catalog_spec import ItemSpec, ProductLineSpec, ProductSpec
from billgate.billing.purchases import service
from billgate.billing.subscriptions import lifecycle, operations, scheduled_changes, seats
from billgate.db.models import PromoCode, Purchase, Transaction
from billgate.errors import InvalidInput
from billgate.notifications.webhooks import endpoints
from billgate.notifications.webhooks.url_policy import UrlPolicy
from billgate.payments.rails import PaymentRails
from billgate.runtime import Runtime
from billgate.types import CustomerRef


async def adjust_balance(runtime: Runtime, ref: CustomerRef, item_id: str, *, amount: int,
                         expires_at: datetime | None, reason: str | None) -> items.ChangeResult:
    """``increaseItemQuantity`` for a positive amount, ``decreaseItemQuantity`` for a
    negative one (which may take the balance below zero)."""
    if amount == 0:
        raise InvalidInput("amount must not be 0: add with a positive number, remove with a "
                           "negative one", field=["amount"])
    common: dict[str, Any] = {"clock": runtime.clock, "description": reason or None,
                              "idempotency_key": None, "bus": runtime.bus}
    if amount > 0:
        return await balances.increase(runtime.db, ref, item_id, amount=amount,
                                       expires_at=expires_at, **common)
    if expires_at is not None:
        raise InvalidInput("expiresAt is only for increaseItemQuantity: only an amount "
                           "added can expire", field=["expiresAt"])
    return await balances.decrease(runtime.db, ref, item_id, amount=-amount, **common)


async def grant_product(runtime: Runtime, ref: CustomerRef, product_id: str,
                        price_id: str | None) -> Purchase:
    purchase = await service.grant_product(
        runtime.db, ref, product_id=product_id, inline=None, price_id=price_id, currency=None,
        quantity=1, clock=runtime.clock, bus=runtime.bus)
    return purchase


async def change_subscription(runtime: Runtime, ref: CustomerRef, subscription_id: int,
                              op: str) -> Purchase:
    """``cancelSubscription`` (at period end or now), ``uncancelSubscription``,
    ``pauseSubscription``, ``resumeSubscription``, ``cancelScheduledChange``."""
    billing, now = await runtime.billing(), runtime.clock.now()
    which = operations.Selector(subscription_id=subscription_id)
    if op == "cancel":
        return await operations.cancel(billing, ref, which, immediately=False, now=now)
    if op == "cancel_now":
        return await operations.cancel(billing, ref, which, immediately=True, now=now)
    if op == "uncancel":
        return await operations.uncancel(billing, ref, which, now=now)
    if op == "pause":
        return await operations.pause(billing, ref, which, resumes_at=None, now=now)
    if op == "resume":
        return await operations.resume(billing, ref, which, now=now)
    if op == "cancel_change":
        return await scheduled_changes.cancel(billing, ref, subscription_id, now=now)
    raise InvalidInput(f"unknown subscription action {op[:30]!r}")


async def change_seats(runtime: Runtime, ref: CustomerRef, subscription_id: int,
                       quantity: int) -> Purchase:
    """``updateSubscriptionQuantity``."""
    return await seats.update_quantity(await runtime.billing(), ref, subscription_id,
                                       quantity=quantity, now=runtime.clock.now())


async def schedule_switch(runtime: Runtime, ref: CustomerRef, *, from_product_id: str,
                          to_product_id: str, price_id: str | None) -> Purchase:
    """``switchSubscription(when: PERIOD_END)`` with the secret key's reach."""
    return await scheduled_changes.schedule_switch(
        await runtime.billing(), ref, from_product_id=from_product_id,
        to_product_id=to_product_id, price_id=price_id, by_server=True,
        now=runtime.clock.now())


async def refund(runtime: Runtime, transaction_id: int, *, amount: int | None,
                 revoke_grants: bool) -> refunds.RefundOutcome:
    """``refundTransaction``: through the rails the charge was made on."""
    settings = await runtime.payment_settings()
    billing = lifecycle.Billing(db=runtime.db, rails=runtime.test_rails,
                                test_mode=settings.test_mode, settings=settings,
                                base_url=runtime.settings.base_url, bus=runtime.bus,
                                clock=runtime.clock)

    def rails_for(test_mode: bool) -> PaymentRails | None:
        return runtime.test_rails if test_mode else runtime.live_rails

    return await refunds.refund_transaction(billing, transaction_id, amount=amount,
                                            revoke_grants=revoke_grants, rails_for=rails_for)


async def transaction_of(runtime: Runtime, transaction_id: int) -> Transaction | None:
    async with runtime.db.read_session() as session:
        return await session.get(Transaction, transaction_id)


# Catalog --------------------------------------------------------------------------------

async def save_catalog_entry(runtime: Runtime, spec: ItemSpec | ProductLineSpec | ProductSpec) -> Any:
    """``upsertItemDefinition`` / ``upsertProductLine`` / ``upsertProduct``."""
    return await catalog.save(runtime.db, catalog.upsert_for(spec), spec)


async def preview_catalog_entry(runtime: Runtime,
                                spec: ItemSpec | ProductLineSpec | ProductSpec) -> None:
    """Every check saving would make, nothing written (``catalog.preview``)."""
    await catalog.preview(runtime.db, catalog.upsert_for(spec), spec)


async def archive_catalog_entry(runtime: Runtime, kind: str, entry_id: str) -> None:
    """``archiveItemDefinition`` / ``archiveProductLine`` / ``archiveProduct``."""
    await catalog_archive.archive(runtime.db, kind, entry_id, now=runtime.clock.now())


# Settings and webhooks ------------------------------------------------------------------

async def update_settings(runtime: Runtime, *, seller: dict[str, Any],
                          **changes: Any) -> payment_settings.PaymentSettings:
    """``updatePaymentSettings``."""
    return await payment_settings.save(runtime.db, seller=seller, **changes)


def _policy(runtime: Runtime) -> UrlPolicy:
    return UrlPolicy.from_settings(runtime.settings)


async def create_endpoint(runtime: Runtime, *, url: str, event_types: list[str],
                          description: str | None) -> endpoints.Created:
    return await endpoints.create(runtime.db, url=url, event_types=event_types,
                                  description=description, policy=_policy(runtime),
                                  now=runtime.clock.now())


async def set_endpoint_enabled(runtime: Runtime, endpoint_id: int, enabled: bool) -> Any:
    return await endpoints.update_endpoint(runtime.db, endpoint_id, enabled=enabled,
                                           policy=_policy(runtime), now=runtime.clock.now())


async def delete_endpoint(runtime: Runtime, endpoint_id: int) -> None:
    await endpoints.delete(runtime.db, endpoint_id)


async def rotate_secret(runtime: Runtime, endpoint_id: int) -> endpoints.Created:
    return await endpoints.rotate_secret(runtime.db, endpoint_id, now=runtime.clock.now())


async def send_test_webhook(runtime: Runtime, endpoint_id: int) -> endpoints.DeliveryView:
    test_mode = (await runtime.payment_settings()).test_mode
    return await endpoints.send_test(runtime.db, endpoint_id, now=runtime.clock.now(),
                                     test_mode=test_mode)


async def redeliver(runtime: Runtime, delivery_id: int) -> endpoints.DeliveryView:
    return await endpoints.redeliver(runtime.db, delivery_id, now=runtime.clock.now())


async def create_promo_code(runtime: Runtime, spec: promo_codes.NewPromoCode) -> PromoCode:
    """``createPromoCode``."""
    return await promo_codes.create(runtime.db, spec, clock=runtime.clock)


async def set_promo_code_enabled(runtime: Runtime, promo_code_id: int, enabled: bool) -> PromoCode:
    """``updatePromoCode(enabled)``."""
    return await promo_codes.set_enabled(runtime.db, promo_code_id, enabled)
