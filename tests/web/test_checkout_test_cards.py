"""The hosted checkout's cancel link (``cancelUrl``, allow-listed like ``returnUrl``) and, in
test mode, the choice of a test card: 4242... succeeds, 4000...0002 is declined and
4000...9995 has insufficient funds, each decline shown on the page with nothing bought."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from billgate.billing.purchases import service
from billgate.types import CustomerRef, CustomerType

pytestmark = pytest.mark.usefixtures("example_catalog")

USER = CustomerRef(CustomerType.USER, "card-user")
RETURN_URL = "https://app.example.com/billing/done"
CANCEL_URL = "https://app.example.com/pricing"
CHECKOUT = """mutation ($input: CreateCheckoutUrlInput!) {
  createCheckoutUrl(input: $input) { url userErrors { code field message } } }"""


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # noqa: ANN001
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as c:
        yield c


async def create(api, **extra) -> dict:  # noqa: ANN001
    data = await api.data(CHECKOUT, {"input": {
        "customer": {"type": "USER", "customerId": USER.customer_id}, "productId": "credit-pack",
        "returnUrl": RETURN_URL, **extra}})
    return data["createCheckoutUrl"]


async def owned(runtime) -> list[str]:  # noqa: ANN001
    return sorted(p.product_id or "" for p in
                  await service.owned_purchases(runtime.db, USER, clock=runtime.clock))


class TestCancelUrl:
    async def test_the_page_links_to_it(self, api, client) -> None:  # noqa: ANN001
        payload = await create(api, cancelUrl=CANCEL_URL)
        assert payload["userErrors"] == []
        page = await client.get(payload["url"].removeprefix("http://127.0.0.1:8000"))
        assert f'<a href="{CANCEL_URL}">Cancel</a>' in page.text

    async def test_without_it_there_is_no_cancel_link(self, api, client) -> None:  # noqa: ANN001
        payload = await create(api)
        page = await client.get(payload["url"].removeprefix("http://127.0.0.1:8000"))
        assert ">Cancel</a>" not in page.text

    async def test_it_is_allow_listed_like_the_return_url(self, api) -> None:  # noqa: ANN001
        payload = await create(api, cancelUrl="https://evil.example/phish")
        assert payload["url"] is None
        [error] = payload["userErrors"]
        assert (error["code"], error["field"]) == ("RETURN_URL_NOT_ALLOWED", ["cancelUrl"])
        assert "BILLGATE_ALLOWED_RETURN_URLS" in error["message"]


class TestTestCards:
    async def test_the_page_offers_the_three_test_cards(self, api, client) -> None:  # noqa: ANN001
        page = await client.get((await create(api))["url"].removeprefix("http://127.0.0.1:8000"))
        for number in ("4242 4242 4242 4242", "4000 0000 0000 0002", "4000 0000 0000 9995"):
            assert number in page.text

    @pytest.mark.parametrize(("card", "message"), [
        ("4000000000000002", "Your card was declined."),
        ("4000000000009995", "Your card has insufficient funds."),
    ])
    async def test_a_declined_card_shows_why_and_buys_nothing(self, api, client, runtime, card,
                                                              message) -> None:  # noqa: ANN001
        path = (await create(api))["url"].removeprefix("http://127.0.0.1:8000")
        response = await client.post(f"{path}/complete", data={"test_card": card})
        assert response.status_code == 409
        assert message in response.text
        assert "credit-pack" not in await owned(runtime)
        # The link stays usable: the buyer picks another card and succeeds.
        retry = await client.post(f"{path}/complete", data={"test_card": "4242424242424242"})
        assert retry.status_code == 303
        assert retry.headers["location"].startswith(f"{RETURN_URL}?checkout_status=complete&checkout_id=")
        assert "credit-pack" in await owned(runtime)


class TestDeclineEmail:
    async def test_a_declined_test_card_sends_the_payment_failed_email(
            self, api, client, runtime, db) -> None:  # noqa: ANN001
        """As a declined live checkout does (tests/stripe): one email per declined attempt."""
        from sqlalchemy import select

        from billgate.db.models import EmailOutbox

        set_email = """mutation($c: CustomerRef!) { updateCustomer(input: {customer: $c,
            email: "card-user@example.com"}) { userErrors { code } } }"""
        await api.data(set_email, {"c": {"type": "USER", "customerId": USER.customer_id}})
        path = (await create(api))["url"].removeprefix("http://127.0.0.1:8000")
        for card in ("4000000000000002", "4000000000009995"):
            response = await client.post(f"{path}/complete", data={"test_card": card})
            assert response.status_code == 409
        async with db.read_session() as session:
            emails = (await session.scalars(select(EmailOutbox).order_by(EmailOutbox.id))).all()
        assert [(e.to_address, e.template) for e in emails] == [
            ("card-user@example.com", "checkout_payment_failed")] * 2
        assert [e.context["reason"] for e in emails] == [
            "Your card was declined.", "Your card has insufficient funds."]
        assert emails[0].context["url"].endswith(path)
