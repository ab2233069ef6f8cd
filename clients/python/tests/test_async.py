"""``AsyncBillgate`` against a real server: the same calls as the sync client, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from conftest import RETURN_URL
from helpers import complete_checkout
from server import BillgateServer

from billgate_client import AsyncBillgate, BillgateError, mint_customer_token


@pytest.fixture
async def backend(server: BillgateServer) -> AsyncIterator[AsyncBillgate]:
    async with AsyncBillgate(server.url, secret_key=server.secret_key) as client:
        yield client


async def test_concurrent_spends_never_oversell(backend: AsyncBillgate) -> None:
    credits = backend.customer("USER", "apy-race").item("credits")
    results = await asyncio.gather(
        *(credits.try_decrease_quantity(30, idempotency_key=f"k{i}") for i in range(5))
    )
    assert sorted(results) == [False, False, True, True, True]
    assert (await credits.get()).quantity == 10


async def test_a_customer_token_buys_and_reads_its_invoices(
    server: BillgateServer, backend: AsyncBillgate
) -> None:
    token = mint_customer_token(server.token_secret, "USER", "apy-buy")
    async with AsyncBillgate(server.url, token=token) as app:
        user = app.customer("USER", "apy-buy")
        url = await user.create_checkout_url(product_id="pro", price_id="pro-monthly", return_url=RETURN_URL)
        await asyncio.to_thread(complete_checkout, url)
        assert await user.has_access("pro") is True
        invoices = await user.list_invoices()
        assert [(i.status, i.amount_total) for i in invoices.items] == [("PAID", 1900)]
        assert invoices.next_cursor is None
        assert (await user.get_billing()).default_payment_method is None
        subscription = await user.pause_subscription(product_id="pro")
        assert subscription.status == "PAUSED"
        assert (await user.resume_subscription(product_id="pro")).status == "ACTIVE"
        with pytest.raises(BillgateError) as error:
            await user.item("credits").increase_quantity(1)
        assert error.value.code == "FORBIDDEN"
    granted = await backend.customer("USER", "apy-buy").grant_product(product_id="credit-pack", quantity=2)
    assert granted.owned_product is not None and granted.owned_product.quantity == 2
    owned = await backend.customer("USER", "apy-buy").list_products()
    assert sorted(p.product_id or "" for p in owned.items) == ["credit-pack", "pro"]


async def test_get_token_is_asked_again_after_a_refusal(server: BillgateServer) -> None:
    tokens = iter(
        [
            mint_customer_token("not-the-server-secret-but-32-bytes-long", "USER", "apy-401"),
            mint_customer_token(server.token_secret, "USER", "apy-401"),
        ]
    )
    async with AsyncBillgate(server.url, get_token=lambda: next(tokens)) as app:
        assert (await app.customer("USER", "apy-401").get_item("credits")).quantity == 100
