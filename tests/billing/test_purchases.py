"""The purchase service below the API: what a completed checkout records (transaction,
invoice), what a failed one leaves (nothing), grants, ending purchases (expiries, the
included plan returning) and snapshots that outlive catalog edits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from billgate.billing import items, payment_settings
from billgate.billing.catalog import upsert_product
from billgate.billing.catalog_spec import parse_product
from billgate.billing.purchases import fulfil, service
from billgate.clock import FrozenClock
from billgate.db.engine import Database
from billgate.db.models import (
    CheckoutSession,
    Customer,
    Invoice,
    ItemChange,
    ItemSchedule,
    Purchase,
    Transaction,
)
from billgate.errors import BillgateError
from billgate.payments.test_rails import TestRails
from billgate.types import CustomerRef, CustomerType

pytestmark = pytest.mark.usefixtures("example_catalog")

USER = CustomerRef(CustomerType.USER, "u1")
RETURN_URL = "https://app.example.com/done"
ALLOWED = ("https://app.example.com/",)
DECLINED_CARD = "pm_card_4000000000000002"


async def open_checkout(db: Database, clock: FrozenClock, product_id: str | None, *,
                        customer: CustomerRef = USER, by_server: bool = False,
                        **fields: Any) -> str:
    checkout = await service.create_checkout(
        db, customer, product_id=product_id, inline=fields.pop("inline", None),
        price_id=fields.pop("price_id", None), currency=fields.pop("currency", None),
        quantity=fields.pop("quantity", 1), return_url=RETURN_URL, allowed_return_urls=ALLOWED,
        by_server=by_server, clock=clock)
    assert not fields, fields
    return checkout.code


async def complete(db: Database, clock: FrozenClock, code: str, *, test_mode: bool = True,
                   payment_method: str | None = None) -> service.Completed:
    return await service.complete_checkout(db, code, rails=TestRails(), clock=clock,
                                           test_mode=test_mode, payment_method=payment_method)


async def grant(db: Database, clock: FrozenClock, product_id: str | None, *,
                customer: CustomerRef = USER, **fields: Any) -> Purchase:
    return await service.grant_product(
        db, customer, product_id=product_id, inline=fields.pop("inline", None),
        price_id=fields.pop("price_id", None), currency=fields.pop("currency", None),
        quantity=fields.pop("quantity", 1), clock=clock)


async def rows(db: Database, model: Any) -> list[Any]:
    async with db.read_session() as session:
        return list((await session.scalars(select(model).order_by(model.id))).all())


async def count(db: Database, model: Any) -> int:
    async with db.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def credits(db: Database, clock: FrozenClock, customer: CustomerRef = USER) -> int:
    return (await items.get_balance(db, customer, "credits", clock=clock)).quantity


async def owned(db: Database, clock: FrozenClock,
                customer: CustomerRef = USER) -> dict[str | None, str]:
    """Owned product ids with their status."""
    return {p.product_id: p.status
            for p in await service.owned_purchases(db, customer, clock=clock)}


async def end(db: Database, clock: FrozenClock, product_id: str, status: str) -> None:
    async with db.session() as session, session.begin():
        purchase = await session.scalar(select(Purchase).where(
            Purchase.product_id == product_id, Purchase.ended_at.is_(None)))
        assert purchase is not None
        customer = await session.get(Customer, purchase.customer_pk)
        assert customer is not None
        await fulfil.end(session, customer, purchase, now=clock.now(), status=status)


async def add_product(db: Database, product: dict[str, Any]) -> None:
    async with db.session() as session, session.begin():
        await upsert_product(session, parse_product(product))


class TestCompleteCheckout:
    async def test_records_the_charge_and_a_paid_invoice(self, db, clock) -> None:
        code = await open_checkout(db, clock, "credit-pack", quantity=3, currency="JPY")
        clock.advance(60)
        done = await complete(db, clock, code)

        assert done.return_url == RETURN_URL
        [transaction] = await rows(db, Transaction)
        assert (transaction.kind, transaction.amount, transaction.currency,
                transaction.quantity, transaction.test_mode) == ("purchase", 2250, "JPY", 3, True)
        assert transaction.created_at == clock.now()
        assert transaction.product["displayName"] == "500 credits"
        assert transaction.product["prices"][0]["amounts"]["JPY"] == 750
        assert transaction.payment_reference.startswith("test_ch_")
        [invoice] = await rows(db, Invoice)
        assert (invoice.status, invoice.amount_total, invoice.currency) == ("PAID", 2250, "JPY")
        assert invoice.paid_at == clock.now() and invoice.purchase_id == done.purchase.id
        assert invoice.lines == [{"kind": "plan", "description": "500 credits", "priceId": "once",
                                  "quantity": 3, "unitAmount": 750, "amount": 2250}]
        assert len(invoice.public_id) >= 32
        [checkout] = await rows(db, CheckoutSession)
        assert (checkout.status, checkout.purchase_id) == ("COMPLETED", done.purchase.id)

    async def test_each_invoice_has_its_own_public_id(self, db, clock) -> None:
        for _ in range(3):
            await complete(db, clock, await open_checkout(db, clock, "credit-pack"))
        assert len({i.public_id for i in await rows(db, Invoice)}) == 3

    async def test_a_trial_start_records_no_charge(self, db, clock) -> None:
        done = await complete(db, clock, await open_checkout(db, clock, "enterprise"))

        assert done.purchase.status == "TRIALING"
        assert done.purchase.trial_ends_at == clock.now() + timedelta(days=14)
        assert await rows(db, Transaction) == [] and await rows(db, Invoice) == []
        assert await credits(db, clock) == 10_000

    async def test_a_declined_card_writes_nothing(self, db, clock) -> None:
        await owned(db, clock)
        code = await open_checkout(db, clock, "pro", price_id="pro-monthly")
        before = (await count(db, Purchase), await count(db, ItemChange))

        with pytest.raises(BillgateError) as raised:
            await complete(db, clock, code, test_mode=False, payment_method=DECLINED_CARD)

        assert raised.value.code == "PAYMENT_FAILED"
        assert (await count(db, Purchase), await count(db, ItemChange)) == before
        assert await rows(db, Transaction) == [] and await rows(db, Invoice) == []
        assert (await rows(db, CheckoutSession))[0].status == "OPEN"
        await complete(db, clock, code, test_mode=False, payment_method="pm_card_4242424242424242")
        assert set(await owned(db, clock)) == {"pro"}

    async def test_the_link_expires_after_24_hours_to_the_second(self, db, clock) -> None:
        code = await open_checkout(db, clock, "credit-pack")
        clock.advance(24 * 3600)
        with pytest.raises(BillgateError):
            await complete(db, clock, code)
        assert await count(db, Purchase) == 1  # free only

    async def test_a_link_just_inside_24_hours_completes(self, db, clock) -> None:
        code = await open_checkout(db, clock, "credit-pack")
        clock.advance(24 * 3600 - 1)
        await complete(db, clock, code)
        assert "credit-pack" in await owned(db, clock)

    async def test_get_checkout_refuses_used_links(self, db, clock) -> None:
        code = await open_checkout(db, clock, "credit-pack")
        checkout, customer = await service.get_checkout(db, code, clock=clock)
        assert (checkout.product_id, customer.customer_id) == ("credit-pack", "u1")
        await complete(db, clock, code)
        with pytest.raises(BillgateError):
            await service.get_checkout(db, code, clock=clock)

    async def test_purchases_blocked_after_the_link_was_made(self, db, clock) -> None:
        code = await open_checkout(db, clock, "credit-pack")
        async with db.session() as session, session.begin():
            await payment_settings.update(session, block_new_purchases=True)

        with pytest.raises(BillgateError) as raised:
            await complete(db, clock, code)
        assert raised.value.code == "NEW_PURCHASES_BLOCKED"
        assert await rows(db, Transaction) == []


class TestGrantProduct:
    async def test_records_a_free_grant_and_no_invoice(self, db, clock) -> None:
        purchase = await grant(db, clock, "credit-pack", quantity=2)

        assert (purchase.origin, purchase.kind, purchase.quantity) == ("grant", "ONE_TIME", 2)
        [transaction] = await rows(db, Transaction)
        assert (transaction.kind, transaction.amount, transaction.quantity) == ("grant", 0, 2)
        assert transaction.purchase_id == purchase.id
        assert await rows(db, Invoice) == []

    async def test_a_granted_subscription_has_a_period(self, db, clock) -> None:
        purchase = await grant(db, clock, "pro", price_id="pro-monthly")
        assert (purchase.kind, purchase.status) == ("SUBSCRIPTION", "ACTIVE")
        assert purchase.current_period_start == clock.now()
        assert purchase.current_period_end == clock.now().replace(month=2, day=28)


class TestEnd:
    async def test_a_refund_expires_what_expires_with_the_purchase(self, db, clock) -> None:
        await add_product(db, {
            "productId": "bundle", "displayName": "Bundle", "customerType": "USER",
            "prices": [{"priceId": "once", "amounts": {"USD": "9.00"}}],
            "includedItems": [{"itemId": "credits", "quantity": 40, "expires": "NEVER"}]})
        await add_product(db, {
            "productId": "pass", "displayName": "Pass", "customerType": "USER",
            "prices": [{"priceId": "once", "amounts": {"USD": "9.00"}}],
            "includedItems": [{"itemId": "credits", "quantity": 60,
                               "expires": "WHEN_PURCHASE_EXPIRES"}]})
        await grant(db, clock, "bundle")
        await grant(db, clock, "pass")
        assert await credits(db, clock) == 200

        await end(db, clock, "pass", "REFUNDED")
        await end(db, clock, "bundle", "REFUNDED")

        assert await credits(db, clock) == 100 + 40, "NEVER grants stay"
        assert set(await owned(db, clock)) == {"free"}

    async def test_free_steps_aside_and_returns_with_fresh_credits(self, db, clock) -> None:
        await owned(db, clock)
        clock.advance(3600)
        await grant(db, clock, "pro", price_id="pro-monthly")
        assert await owned(db, clock) == {"pro": "ACTIVE"}
        async with db.read_session() as session:
            free = await session.scalar(select(Purchase).where(Purchase.product_id == "free"))
        assert free is not None and free.status == "SUSPENDED" and free.ended_at is None

        clock.advance(10 * 24 * 3600)
        await end(db, clock, "pro", "CANCELED")

        assert await owned(db, clock) == {"free": "ACTIVE"}
        assert await credits(db, clock) == 100
        async with db.read_session() as session:
            active = (await session.scalars(
                select(ItemSchedule).where(ItemSchedule.active.is_(True)))).all()
        assert [(s.item_id, s.anchor_at) for s in active] == [("credits", clock.now())]

    async def test_free_waits_while_another_plan_of_the_line_is_live(self, db, clock) -> None:
        await grant(db, clock, "pro", price_id="pro-monthly")
        await grant(db, clock, "enterprise")  # replaces pro: free does not come back between
        assert set(await owned(db, clock)) == {"enterprise"}
        assert await credits(db, clock) == 10_000

        await end(db, clock, "enterprise", "CANCELED")
        assert set(await owned(db, clock)) == {"free"}
        assert await credits(db, clock) == 100

    async def test_free_returns_after_a_refunded_one_time_plan(self, db, clock) -> None:
        await add_product(db, {
            "productId": "lifetime", "displayName": "Lifetime", "customerType": "USER",
            "productLineId": "user-plans",
            "prices": [{"priceId": "once", "amounts": {"USD": "299.00"}}]})
        await complete(db, clock, await open_checkout(db, clock, "lifetime"))
        assert set(await owned(db, clock)) == {"lifetime"}

        await end(db, clock, "lifetime", "REFUNDED")
        assert set(await owned(db, clock)) == {"free"}

    async def test_an_included_plan_added_later_starts_aside(self, db, clock) -> None:
        await add_product(db, {"productId": "free", "displayName": "Free", "customerType": "USER",
                               "includedByDefault": False, "productLineId": "user-plans",
                               "includedItems": [{"itemId": "credits", "quantity": 100,
                                                  "repeat": {"unit": "MONTH", "count": 1},
                                                  "expires": "WHEN_REPEATED"}]})
        await grant(db, clock, "pro", price_id="pro-monthly")
        await add_product(db, {"productId": "free", "displayName": "Free", "customerType": "USER",
                               "includedByDefault": True, "productLineId": "user-plans",
                               "includedItems": [{"itemId": "credits", "quantity": 100,
                                                  "repeat": {"unit": "MONTH", "count": 1},
                                                  "expires": "WHEN_REPEATED"}]})

        assert await owned(db, clock) == {"pro": "ACTIVE"}
        assert await credits(db, clock) == 1000
        await end(db, clock, "pro", "CANCELED")
        assert await owned(db, clock) == {"free": "ACTIVE"}
        assert await credits(db, clock) == 100


class TestSnapshots:
    async def test_catalog_edits_leave_what_was_sold(self, db, clock) -> None:
        purchase = await grant(db, clock, "pro", price_id="pro-monthly")
        await add_product(db, {
            "productId": "pro", "displayName": "Pro (new)", "customerType": "USER",
            "productLineId": "user-plans",
            "prices": [{"priceId": "pro-monthly", "amounts": {"USD": "29.00"},
                        "interval": {"unit": "MONTH", "count": 1}}]})

        [owned_pro] = await service.owned_purchases(db, USER, clock=clock)
        assert owned_pro.id == purchase.id
        assert owned_pro.product["displayName"] == "Pro"
        assert owned_pro.price is not None and owned_pro.price["amounts"]["USD"] == 1900
        assert owned_pro.unit_amount == 1900

    async def test_a_checkout_charges_in_the_currency_it_was_opened_with(
            self, db, clock) -> None:
        code = await open_checkout(db, clock, "pro", price_id="pro-monthly", currency="GBP")
        await complete(db, clock, code)
        [transaction] = await rows(db, Transaction)
        assert (transaction.amount, transaction.currency) == (1600, "GBP")

    async def test_an_inline_checkout_charges_what_it_showed(self, db, clock) -> None:
        inline = {"displayName": "Custom deal", "customerType": "USER",
                  "prices": [{"priceId": "deal", "amounts": {"USD": "12.34", "JPY": "1500"}}],
                  "includedItems": [{"itemId": "credits", "quantity": 5, "expires": "NEVER"}]}
        for currency, amount in (("USD", 1234), ("JPY", 1500)):
            code = await open_checkout(db, clock, None, inline=inline, by_server=True,
                                       currency=currency)
            done = await complete(db, clock, code)
            assert done.purchase.unit_amount == amount
        assert [(t.amount, t.currency) for t in await rows(db, Transaction)] == [
            (1234, "USD"), (1500, "JPY")]
