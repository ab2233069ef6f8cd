"""``set_auto_top_up`` / ``get_auto_top_up`` against a real server, sync and async: the
settings round-trip, bad input raises with the server's code, and a spend that crosses the
threshold is topped up by the server's scheduler."""

from __future__ import annotations

import time

import pytest
from server import BillgateServer

from billgate_client import AsyncBillgate, AutoTopUp, Billgate, BillgateError


def test_set_and_get_round_trip_and_errors_carry_the_code(backend: Billgate) -> None:
    credits = backend.customer("USER", "py-topup").item("credits")
    assert credits.get_auto_top_up() is None
    done = credits.set_auto_top_up(threshold=20, product_id="credit-pack", price_id="once")
    assert done == AutoTopUp(20, "credit-pack", "once", 1, 10, True, None, None)
    assert credits.get_auto_top_up() == done
    assert credits.set_auto_top_up(threshold=20, product_id="credit-pack", enabled=False).enabled is False
    with pytest.raises(BillgateError) as error:
        credits.set_auto_top_up(threshold=-1, product_id="credit-pack")
    assert error.value.code == "INVALID_INPUT"


def test_a_crossing_is_topped_up_by_the_server(backend: Billgate) -> None:
    credits = backend.customer("USER", "py-crossing").item("credits")
    credits.set_auto_top_up(threshold=50, product_id="credit-pack", price_id="once")
    assert credits.try_decrease_quantity(60)
    deadline = time.monotonic() + 30
    while credits.get().quantity != 540 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert credits.get().quantity == 540
    top_up = credits.get_auto_top_up()
    assert top_up is not None and top_up.last_triggered_at is not None


async def test_the_async_client_sets_it_too(server: BillgateServer) -> None:
    async with AsyncBillgate(server.url, secret_key=server.secret_key) as client:
        credits = client.customer("USER", "py-async-topup").item("credits")
        done = await credits.set_auto_top_up(threshold=5, product_id="credit-pack", quantity=2)
        assert (done.threshold, done.quantity, done.max_per_month) == (5, 2, 10)
        assert await credits.get_auto_top_up() == done
