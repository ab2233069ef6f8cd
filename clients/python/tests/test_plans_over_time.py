"""Plans over time through both clients against a real server: a switch at the period end and
its cancel, seats (checkout ``quantity``, ``update_subscription_quantity``) and promo codes at
checkout. Customer tokens as in an app; the secret key only where the API requires it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest
from conftest import RETURN_URL
from helpers import complete_checkout
from server import BillgateServer

from billgate_client import AsyncBillgate, Billgate, BillgateError, mint_customer_token

DECLINED_CARD = "4000000000000002"


@pytest.fixture
def as_user(server: BillgateServer) -> Iterator[Callable[..., Billgate]]:
    clients: list[Billgate] = []

    def make(user_id: str, **teams: str) -> Billgate:
        token = mint_customer_token(server.token_secret, "USER", user_id, teams=teams)
        clients.append(Billgate(server.url, token=token))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def save_test_card(server: BillgateServer, customer_type: str, customer_id: str, card: str) -> None:
    data = server.request(
        """mutation ($customer: CustomerRef!, $card: String!) {
          setTestPaymentMethod(input: {customer: $customer, cardNumber: $card}) { userErrors { code } } }""",
        {"customer": {"type": customer_type, "customerId": customer_id}, "card": card},
    )
    assert data["setTestPaymentMethod"]["userErrors"] == []


def refused(code: str, call: Callable[[], object]) -> BillgateError:
    with pytest.raises(BillgateError) as error:
        call()
    assert error.value.code == code, error.value
    return error.value


class TestSwitchAtPeriodEnd:
    def test_nothing_charged_scheduled_change_shown_then_canceled(
        self, as_user: Callable[..., Billgate]
    ) -> None:
        user = as_user("py-later").customer("USER", "py-later")
        complete_checkout(
            user.create_checkout_url(product_id="pro", price_id="pro-monthly", return_url=RETURN_URL)
        )

        scheduled = user.switch_subscription(
            from_product_id="pro", to_product_id="enterprise", when="PERIOD_END"
        )
        assert (scheduled.product_id, scheduled.status) == ("pro", "ACTIVE")
        assert scheduled.scheduled_change is not None
        assert scheduled.scheduled_change.to_product_id == "enterprise"
        assert scheduled.scheduled_change.at == scheduled.current_period_end
        assert scheduled.migrated_at is None
        assert [i.amount_total for i in user.list_invoices().items] == [1900]  # only the checkout
        current = user.get_current_subscription()
        assert current is not None and current.scheduled_change == scheduled.scheduled_change

        kept = user.cancel_scheduled_change(subscription_id=scheduled.id)
        assert (kept.id, kept.product_id, kept.scheduled_change) == (scheduled.id, "pro", None)
        refused("INVALID_INPUT", lambda: user.cancel_scheduled_change(subscription_id=scheduled.id))
        assert len(user.list_invoices().items) == 1

    def test_an_immediate_switch_is_still_the_default(self, as_user: Callable[..., Billgate]) -> None:
        user = as_user("py-now").customer("USER", "py-now")
        complete_checkout(
            user.create_checkout_url(product_id="pro", price_id="pro-monthly", return_url=RETURN_URL)
        )
        switched = user.switch_subscription(from_product_id="pro", to_product_id="enterprise")
        assert (switched.product_id, switched.scheduled_change) == ("enterprise", None)

    def test_refused_to_another_customers_token(self, as_user: Callable[..., Billgate]) -> None:
        user = as_user("py-later-2").customer("USER", "py-later-2")
        complete_checkout(
            user.create_checkout_url(product_id="pro", price_id="pro-monthly", return_url=RETURN_URL)
        )
        subscription = user.switch_subscription(
            from_product_id="pro", to_product_id="enterprise", when="PERIOD_END"
        )
        outsider = as_user("py-outsider").customer("USER", "py-later-2")
        refused("FORBIDDEN", lambda: outsider.cancel_scheduled_change(subscription_id=subscription.id))
        current = user.get_current_subscription()
        assert current is not None and current.scheduled_change is not None


class TestSeats:
    def test_checkout_quantity_then_up_charged_down_credited_items_follow(
        self, server: BillgateServer, as_user: Callable[..., Billgate]
    ) -> None:
        admin = as_user("py-seats-admin", **{"py-seats": "admin"}).customer("TEAM", "py-seats")
        complete_checkout(admin.create_checkout_url(product_id="team", quantity=3, return_url=RETURN_URL))
        bought = admin.get_current_subscription()
        assert bought is not None and (bought.product_id, bought.quantity) == ("team", 3)
        assert admin.get_item("seats").quantity == 15
        assert [i.amount_total for i in admin.list_invoices().items] == [3 * 4900]

        save_test_card(server, "TEAM", "py-seats", DECLINED_CARD)
        refused(
            "PAYMENT_FAILED",
            lambda: admin.update_subscription_quantity(subscription_id=bought.id, quantity=5),
        )
        assert admin.get_item("seats").quantity == 15
        assert [i.amount_total for i in admin.list_invoices().items] == [3 * 4900]

        save_test_card(server, "TEAM", "py-seats", "4242424242424242")
        assert admin.update_subscription_quantity(subscription_id=bought.id, quantity=5).quantity == 5
        assert admin.get_item("seats").quantity == 25
        up = admin.list_invoices().items[0]
        assert up.status == "PAID" and 0 < up.amount_total <= 2 * 4900  # prorated: the period just began

        assert admin.update_subscription_quantity(subscription_id=bought.id, quantity=2).quantity == 2
        assert admin.get_item("seats").quantity == 10
        assert admin.list_invoices().items[0].amount_total == 0  # fewer seats: a credit, nothing charged

    def test_refused_zero_a_member_and_a_price_without_seats(self, as_user: Callable[..., Billgate]) -> None:
        admin = as_user("py-sr-admin", **{"py-sr": "admin"}).customer("TEAM", "py-sr")
        complete_checkout(admin.create_checkout_url(product_id="team", quantity=2, return_url=RETURN_URL))
        subscription = admin.get_current_subscription()
        assert subscription is not None
        refused(
            "INVALID_INPUT",
            lambda: admin.update_subscription_quantity(subscription_id=subscription.id, quantity=0),
        )
        member = as_user("py-sr-member", **{"py-sr": "member"}).customer("TEAM", "py-sr")
        refused(
            "FORBIDDEN",
            lambda: member.update_subscription_quantity(subscription_id=subscription.id, quantity=1),
        )
        current = admin.get_current_subscription()
        assert current is not None and current.quantity == 2

        user = as_user("py-solo").customer("USER", "py-solo")
        complete_checkout(
            user.create_checkout_url(product_id="pro", price_id="pro-monthly", return_url=RETURN_URL)
        )
        pro = user.get_current_subscription()
        assert pro is not None
        refused(
            "INVALID_INPUT", lambda: user.update_subscription_quantity(subscription_id=pro.id, quantity=2)
        )


class TestPromoCodes:
    def test_a_code_discounts_checkout_and_a_bad_one_says_why(
        self, server: BillgateServer, as_user: Callable[..., Billgate]
    ) -> None:
        created = server.request(
            """mutation { createPromoCode(input: {code: "PYTEN", percentOff: "10", duration: ONCE,
                 maxRedemptions: 1}) { promoCode { code } userErrors { code } } }"""
        )
        assert created["createPromoCode"]["userErrors"] == []
        user = as_user("py-promo").customer("USER", "py-promo")
        unknown = refused(
            "PROMO_CODE_INVALID",
            lambda: user.create_checkout_url(
                product_id="pro", price_id="pro-monthly", return_url=RETURN_URL, promo_code="NOPE"
            ),
        )
        assert "unknown" in str(unknown)
        complete_checkout(
            user.create_checkout_url(
                product_id="pro", price_id="pro-monthly", return_url=RETURN_URL, promo_code="pyten"
            )
        )
        assert [i.amount_total for i in user.list_invoices().items] == [1710]  # 19.00 - 10%
        other = as_user("py-promo-2").customer("USER", "py-promo-2")
        used_up = refused(
            "PROMO_CODE_INVALID",
            lambda: other.create_checkout_url(
                product_id="pro", price_id="pro-monthly", return_url=RETURN_URL, promo_code="PYTEN"
            ),
        )
        assert "used up" in str(used_up)


async def test_the_async_client_has_the_same_calls(server: BillgateServer) -> None:
    """Each new call once through AsyncBillgate (the sync tests above cover the rules)."""
    created = server.request(
        """mutation { createPromoCode(input: {code: "APYFIVE", amountOff: [{currency: USD, amount: "5.00"}],
             duration: ONCE}) { promoCode { code } userErrors { code } } }"""
    )
    assert created["createPromoCode"]["userErrors"] == []
    user_token = mint_customer_token(server.token_secret, "USER", "apy-plans")
    admin_token = mint_customer_token(server.token_secret, "USER", "apy-admin", teams={"apy-team": "admin"})
    async with (
        AsyncBillgate(server.url, token=user_token) as app,
        AsyncBillgate(server.url, token=admin_token) as admin_app,
    ):
        user = app.customer("USER", "apy-plans")
        url = await user.create_checkout_url(
            product_id="pro", price_id="pro-monthly", return_url=RETURN_URL, promo_code="apyfive"
        )
        await asyncio.to_thread(complete_checkout, url)
        assert [i.amount_total for i in (await user.list_invoices()).items] == [1400]
        scheduled = await user.switch_subscription(
            from_product_id="pro", to_product_id="enterprise", when="PERIOD_END"
        )
        assert scheduled.scheduled_change is not None
        assert (await user.cancel_scheduled_change(subscription_id=scheduled.id)).scheduled_change is None

        team = admin_app.customer("TEAM", "apy-team")
        url = await team.create_checkout_url(product_id="team", quantity=2, return_url=RETURN_URL)
        await asyncio.to_thread(complete_checkout, url)
        subscription = await team.get_current_subscription()
        assert subscription is not None and subscription.quantity == 2
        assert (
            await team.update_subscription_quantity(subscription_id=subscription.id, quantity=1)
        ).quantity == 1
        assert (await team.get_item("seats")).quantity == 5
        with pytest.raises(BillgateError) as error:
            await team.update_subscription_quantity(subscription_id=subscription.id, quantity=0)
        assert error.value.code == "INVALID_INPUT"
