"""The hosted checkout page through the ASGI app: what it shows, completing it, and every way
a link can no longer be used (410) or completion can be refused (409)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from billgate.billing import items, payment_settings
from billgate.billing.purchases import service
from billgate.types import CustomerRef, CustomerType
from billgate.web import pages

pytestmark = pytest.mark.usefixtures("example_catalog")

USER = CustomerRef(CustomerType.USER, "user-1")
RETURN_URL = "https://app.example.com/billing/done?from=checkout"
DAY = 24 * 3600


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # noqa: ANN001
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def open_checkout(runtime: Any, product_id: str | None = "credit-pack", *,
                        quantity: int = 1, price_id: str | None = None,
                        currency: str | None = None, inline: dict[str, Any] | None = None) -> str:
    checkout = await service.create_checkout(
        runtime.db, USER, product_id=product_id, inline=inline, price_id=price_id,
        currency=currency, quantity=quantity, return_url=RETURN_URL,
        allowed_return_urls=runtime.settings.allowed_return_urls, by_server=True,
        clock=runtime.clock)
    return checkout.code


async def credits(runtime: Any) -> int:
    return (await items.get_balance(runtime.db, USER, "credits", clock=runtime.clock)).quantity


async def baseline(runtime: Any) -> int:
    """Credits before the purchase, once the included-by-default Free plan has granted its own."""
    await owned(runtime)
    return await credits(runtime)


async def owned(runtime: Any) -> list[str]:
    purchases = await service.owned_purchases(runtime.db, USER, clock=runtime.clock)
    return sorted(p.product_id or "" for p in purchases)


async def set_payment_settings(runtime: Any, **changes: Any) -> None:
    async with runtime.db.session() as session, session.begin():
        await payment_settings.update(session, **changes)


def assert_security_headers(response: httpx.Response) -> None:
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "form-action 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


# What the page shows --------------------------------------------------------------------------


async def test_page_shows_product_price_items_and_test_button(runtime, client) -> None:  # noqa: ANN001
    code = await open_checkout(runtime, "pro", price_id="pro-monthly")
    response = await client.get(f"/checkout/{code}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "<h1>Pro</h1>" in html
    assert "$19.00 / month" in html
    assert "1,000 AI credits</strong>, every month" in html
    assert "unused ones expire at the next grant" in html
    assert "TEST MODE" in html
    assert f'<form method="post" action="/checkout/{code}/complete">' in html
    assert "Complete test purchase" in html
    assert "<script" not in html
    assert_security_headers(response)
    # The form posts here and the redirect after it goes to the return URL's origin.
    assert "form-action 'self' https://app.example.com" in response.headers["content-security-policy"]


async def test_page_formats_yen_without_decimals(runtime, client) -> None:  # noqa: ANN001
    code = await open_checkout(runtime, "pro", price_id="pro-monthly", currency="JPY")
    html = (await client.get(f"/checkout/{code}")).text
    assert "¥2,900 / month" in html


async def test_page_shows_free_trial_then_price(runtime, client) -> None:  # noqa: ANN001
    code = await open_checkout(runtime, "enterprise")
    html = (await client.get(f"/checkout/{code}")).text
    assert "14-day free trial, then $99.00 / month" in html
    assert "expire when the purchase ends" in html
    assert "<dd class=\"total\">$0.00</dd>" in html  # due today


async def test_page_shows_quantity_and_total(runtime, client) -> None:  # noqa: ANN001
    code = await open_checkout(runtime, quantity=3)
    html = (await client.get(f"/checkout/{code}")).text
    assert "<dt>Quantity</dt><dd>3</dd>" in html
    assert "<dt>Total</dt><dd>$15.00</dd>" in html
    assert "1,500 AI credits</strong> <span class=\"detail\">(never expire)" in html


async def test_page_shows_seats_of_a_subscription(runtime, client) -> None:  # noqa: ANN001
    """Recurring prices sell seats: quantity x price, each period, and the items x seats."""
    inline = {"productId": "crew", "displayName": "Crew", "customerType": "USER",
              "prices": [{"priceId": "monthly", "amounts": {"USD": "12.50"}, "quantityMax": 10,
                          "interval": {"unit": "MONTH", "count": 1}}],
              "includedItems": [{"itemId": "credits", "quantity": 30, "expires": "WHEN_PURCHASE_EXPIRES"}]}
    code = await open_checkout(runtime, None, inline=inline, quantity=4)
    html = (await client.get(f"/checkout/{code}")).text
    assert "<dt>Quantity</dt><dd>4</dd>" in html
    assert "<dt>Total</dt><dd>$50.00 / month</dd>" in html
    assert "<dd class=\"total\">$50.00</dd>" in html  # due today
    assert "120 AI credits</strong>" in html


async def test_page_escapes_catalog_text(runtime, client) -> None:  # noqa: ANN001
    inline = {"productId": "promo", "displayName": "<script>alert(1)</script> & more",
              "customerType": "USER", "prices": [{"priceId": "once", "amounts": {"USD": "1.00"}}]}
    code = await open_checkout(runtime, None, inline=inline)
    html = (await client.get(f"/checkout/{code}")).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert "<script>" not in html


async def test_checkout_url_from_graphql_opens_the_page(runtime, api, client) -> None:  # noqa: ANN001
    data = await api.data(
        """mutation($input: CreateCheckoutUrlInput!) {
             createCheckoutUrl(input: $input) { url userErrors { code message } } }""",
        {"input": {"customer": {"type": "USER", "customerId": USER.customer_id},
                   "productId": "credit-pack", "returnUrl": RETURN_URL}})
    url = data["createCheckoutUrl"]["url"]
    assert url.startswith(f"{runtime.settings.base_url}/checkout/")
    response = await client.get(url.removeprefix(runtime.settings.base_url))
    assert response.status_code == 200 and "500 credits" in response.text


# Completing --------------------------------------------------------------------------------


async def test_complete_grants_and_redirects_to_return_url(runtime, client) -> None:  # noqa: ANN001
    code = await open_checkout(runtime, quantity=2)
    before = await baseline(runtime)
    response = await client.post(f"/checkout/{code}/complete")
    assert response.status_code == 303
    assert response.headers["location"] == f"{RETURN_URL}&checkout_status=complete&checkout_id={code}"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "credit-pack" in await owned(runtime)
    assert await credits(runtime) == before + 1000


async def test_used_link_is_gone_and_grants_nothing_twice(runtime, client) -> None:  # noqa: ANN001
    code = await open_checkout(runtime)
    assert (await client.post(f"/checkout/{code}/complete")).status_code == 303
    after_first = await credits(runtime)
    again = await client.post(f"/checkout/{code}/complete")
    assert again.status_code == 410
    assert "This checkout link can't be used" in again.text
    assert_security_headers(again)
    assert (await client.get(f"/checkout/{code}")).status_code == 410
    assert await credits(runtime) == after_first
    assert (await owned(runtime)).count("credit-pack") == 1


async def test_unknown_code_is_gone(client) -> None:  # noqa: ANN001
    response = await client.get("/checkout/no-such-code")
    assert response.status_code == 410
    assert "never existed" in response.text
    assert (await client.post("/checkout/no-such-code/complete")).status_code == 410


async def test_expired_link_is_gone(runtime, client) -> None:  # noqa: ANN001
    code = await open_checkout(runtime)
    before = await baseline(runtime)
    runtime.clock.advance(DAY - 60)
    assert (await client.get(f"/checkout/{code}")).status_code == 200
    runtime.clock.advance(61)
    assert (await client.get(f"/checkout/{code}")).status_code == 410
    assert (await client.post(f"/checkout/{code}/complete")).status_code == 410
    assert await credits(runtime) == before
    assert "credit-pack" not in await owned(runtime)


async def test_rule_failure_at_completion_is_409_and_grants_nothing(runtime, client) -> None:  # noqa: ANN001
    code = await open_checkout(runtime, "pro", price_id="pro-monthly")
    # The customer gets Pro some other way between opening and completing the checkout.
    await service.grant_product(runtime.db, USER, product_id="pro", inline=None,
                                price_id="pro-monthly",
                                currency=None, quantity=1, clock=runtime.clock)
    before = await baseline(runtime)
    response = await client.post(f"/checkout/{code}/complete")
    assert response.status_code == 409
    assert 'class="error" role="alert"' in response.text and "already" in response.text
    assert "<h1>Pro</h1>" in response.text
    assert_security_headers(response)
    assert await credits(runtime) == before
    assert (await owned(runtime)).count("pro") == 1


async def test_blocked_purchases_are_409_and_link_stays_usable(runtime, client) -> None:  # noqa: ANN001
    code = await open_checkout(runtime)
    before = await baseline(runtime)
    await set_payment_settings(runtime, block_new_purchases=True)
    response = await client.post(f"/checkout/{code}/complete")
    assert response.status_code == 409 and "blocked" in response.text
    assert await credits(runtime) == before
    await set_payment_settings(runtime, block_new_purchases=False)
    assert (await client.post(f"/checkout/{code}/complete")).status_code == 303
    assert await credits(runtime) == before + 500


async def test_live_mode_shows_notice_and_refuses_completion(runtime, client) -> None:  # noqa: ANN001
    code = await open_checkout(runtime)
    before = await baseline(runtime)
    await set_payment_settings(runtime, test_mode=False)
    page = await client.get(f"/checkout/{code}")
    assert page.status_code == 200
    assert "Live card payments arrive with Stripe configuration" in page.text
    assert "TEST MODE" not in page.text and "<form" not in page.text
    response = await client.post(f"/checkout/{code}/complete")
    assert response.status_code == 409
    assert "Live card payments arrive with Stripe configuration" in response.text
    assert await credits(runtime) == before
    assert "credit-pack" not in await owned(runtime)


async def test_concurrent_completions_grant_once(runtime, client) -> None:  # noqa: ANN001
    code = await open_checkout(runtime)
    before = await baseline(runtime)
    responses = await asyncio.gather(
        *(client.post(f"/checkout/{code}/complete") for _ in range(10)))
    assert sorted(r.status_code for r in responses) == [303] + [410] * 9
    assert (await owned(runtime)).count("credit-pack") == 1
    assert await credits(runtime) == before + 500


async def test_get_method_only_and_post_method_only(runtime, client) -> None:  # noqa: ANN001
    code = await open_checkout(runtime)
    assert (await client.post(f"/checkout/{code}")).status_code == 405
    assert (await client.get(f"/checkout/{code}/complete")).status_code == 405


# Wording helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(("minor", "currency", "text"), [
    (1900, "USD", "$19.00"), (2900, "JPY", "¥2,900"), (159900, "INR", "₹1,599.00"),
    (1800, "EUR", "€18.00"), (14900, "AUD", "A$149.00"), (5, "GBP", "£0.05"),
    (123456789, "CAD", "CA$1,234,567.89"), (0, "USD", "$0.00"),
])
def test_money(minor: int, currency: str, text: str) -> None:
    assert pages.money(minor, currency) == text


def test_interval_wording() -> None:
    assert pages.period({"unit": "MONTH", "count": 1}) == "month"
    assert pages.period({"unit": "WEEK", "count": 2}) == "2 weeks"
    assert pages.trial_length({"unit": "DAY", "count": 14}) == "14-day"


@pytest.mark.parametrize(("url", "expected"), [
    ("https://app.example.com/x?y=1", "https://app.example.com"),
    ("http://127.0.0.1:8123/done", "http://127.0.0.1:8123"),
    ("https://user:pw@app.example.com/", "https://app.example.com"),
    ("https://app.example.com;script-src/", None),
    ("https://app.example.com%20data:/", None),
])
def test_origin_for_form_action(url: str, expected: str | None) -> None:
    assert pages.origin(url) == expected


# The page's snapshot is the deal -------------------------------------------------------------


async def change_credit_pack(runtime: Any, *, usd: str | None = None, credits: int | None = None,
                             archive: bool = False) -> None:
    """The server edits (or archives) the product after the link was made."""
    from billgate.billing import catalog
    from billgate.billing.catalog_spec import parse_product
    from billgate.billing.purchases import request

    async with runtime.db.session() as session, session.begin():
        row = await catalog.get_product(session, "credit-pack")
        assert row is not None
        if archive:
            row.archived_at = runtime.clock.now()
            return
        # A copy: the spec's lists are the row's own JSON values.
        document = copy.deepcopy(request.inline_input(catalog.product_spec(row).as_document()))
        if usd is not None:
            document["prices"][0]["amounts"]["USD"] = usd
        if credits is not None:
            document["includedItems"][0]["quantity"] = credits
        await catalog.upsert_product(session, parse_product(document))


async def paid_amounts(runtime: Any) -> list[int]:
    from sqlalchemy import select

    from billgate.db.models import Transaction

    async with runtime.db.read_session() as session:
        return list(await session.scalars(select(Transaction.amount).where(
            Transaction.kind == "purchase").order_by(Transaction.id)))


async def test_price_raised_after_link_charges_and_grants_what_the_page_showed(runtime, client) -> None:  # noqa: ANN001
    code = await open_checkout(runtime)
    before = await baseline(runtime)
    assert "$5.00" in (await client.get(f"/checkout/{code}")).text
    await change_credit_pack(runtime, usd="500.00", credits=5)
    response = await client.post(f"/checkout/{code}/complete")
    assert response.status_code == 303
    assert await paid_amounts(runtime) == [500]
    assert await credits(runtime) == before + 500
    # A link made now shows (and charges) the new price.
    fresh = await open_checkout(runtime)
    assert (await client.post(f"/checkout/{fresh}/complete")).status_code == 303
    assert await paid_amounts(runtime) == [500, 50000]
    assert await credits(runtime) == before + 505


async def test_product_archived_after_link_is_refused_and_changes_nothing(runtime, client) -> None:  # noqa: ANN001
    code = await open_checkout(runtime)
    before = await baseline(runtime)
    await change_credit_pack(runtime, archive=True)
    response = await client.post(f"/checkout/{code}/complete")
    assert response.status_code == 409
    assert "no longer sold" in response.text and "nothing was charged" in response.text
    assert await paid_amounts(runtime) == []
    assert await credits(runtime) == before
    assert "credit-pack" not in await owned(runtime)
