"""``Billgate`` against a real server: items, checkout, plans, invoices, billing, grants and
errors, as a backend (secret key) and as a customer (tokens)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from conftest import RETURN_URL
from helpers import complete_checkout
from server import BillgateServer

from billgate_client import Billgate, BillgateError, Item, mint_customer_token


@pytest.fixture
def as_user(server: BillgateServer) -> Iterator[Callable[..., Billgate]]:
    """A client holding a customer token for a user (and teams), closed after the test."""
    clients: list[Billgate] = []

    def make(user_id: str, **teams: str) -> Billgate:
        token = mint_customer_token(server.token_secret, "USER", user_id, teams=teams)
        clients.append(Billgate(server.url, token=token))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


class TestItems:
    def test_try_decrease_true_while_it_lasts_then_false_and_nothing_changes(self, backend: Billgate) -> None:
        credits = backend.customer("USER", "py-items").item("credits")
        assert credits.get() == Item("credits", "AI credits", 100, 100, 1, reserved=0, available=100)
        assert credits.try_decrease_quantity(60) is True
        assert credits.try_decrease_quantity(60) is False
        assert backend.customer("USER", "py-items").get_item("credits").quantity == 40

    def test_reserve_holds_commit_uses_part_release_lets_go(self, backend: Billgate) -> None:
        credits = backend.customer("USER", "py-holds").item("credits")
        held = credits.reserve(70, ttl_seconds=60)
        assert held is not None and (held.amount, held.status) == (70, "HELD")
        assert (credits.get().reserved, credits.get().available) == (70, 30)
        assert credits.reserve(31) is None
        assert credits.try_decrease_quantity(31) is False
        item = credits.commit(held.id, 20)
        assert (item.quantity, item.reserved, item.available) == (80, 0, 80)
        again = credits.reserve(10, idempotency_key="hold-1")
        assert again is not None and credits.reserve(10, idempotency_key="hold-1") == again
        assert credits.release(again.id).available == 80
        with pytest.raises(BillgateError) as ended:
            credits.commit(again.id)
        assert ended.value.code == "RESERVATION_NOT_FOUND"

    def test_an_idempotency_key_makes_a_retry_change_nothing(self, backend: Billgate) -> None:
        credits = backend.customer("USER", "py-idem").item("credits")
        assert credits.try_decrease_quantity(5, idempotency_key="req-1") is True
        assert credits.try_decrease_quantity(5, idempotency_key="req-1") is True
        assert credits.get().quantity == 95
        with pytest.raises(BillgateError) as error:
            credits.try_decrease_quantity(6, idempotency_key="req-1")
        assert error.value.code == "IDEMPOTENCY_KEY_REUSED"

    def test_increase_and_decrease_which_may_go_negative(self, backend: Billgate) -> None:
        customer = backend.customer("USER", "py-adjust")
        assert customer.item("credits").increase_quantity(50, description="gift").quantity == 150
        item = customer.item("credits").decrease_quantity(200)
        assert (item.quantity, item.non_negative_quantity) == (-50, 0)
        assert [(i.item_id, i.quantity) for i in customer.list_items()] == [("credits", -50)]

    def test_errors_carry_the_servers_code(self, backend: Billgate, as_user: Callable[..., Billgate]) -> None:
        with pytest.raises(BillgateError) as unknown:
            backend.customer("USER", "py-err").get_item("no-such-item")
        assert unknown.value.code == "ITEM_NOT_FOUND"
        with pytest.raises(BillgateError) as forbidden:
            as_user("py-err").customer("USER", "py-err").item("credits").try_decrease_quantity(1)
        assert forbidden.value.code == "FORBIDDEN"
        with pytest.raises(BillgateError) as negative:
            backend.customer("USER", "py-err").item("credits").try_decrease_quantity(-1)
        assert (negative.value.code, negative.value.field) == ("INVALID_INPUT", ["amount"])
        with pytest.raises(ValueError, match="customer type"):
            backend.customer("user", "py-err")


class TestCatalogAndGrants:
    def test_list_products_pages_through_the_catalog(
        self, server: BillgateServer, backend: Billgate, as_user: Callable[..., Billgate]
    ) -> None:
        first = backend.list_products(customer_type="USER", limit=2)
        assert len(first.items) == 2 and first.next_cursor
        rest = backend.list_products(customer_type="USER", cursor=first.next_cursor)
        assert rest.next_cursor is None
        ids = sorted(p.product_id for p in first.items + rest.items)
        assert ids == ["credit-pack", "enterprise", "free", "internal-grant", "pro"]
        seen_by_user = [p.product_id for p in as_user("py-cat").list_products(customer_type="USER").items]
        assert "internal-grant" not in seen_by_user
        with Billgate(server.url) as anonymous:
            pro = anonymous.get_product("pro")
        assert pro is not None and pro.prices[0].interval == ("MONTH", 1)
        assert (pro.prices[0].amounts[0].amount, pro.prices[0].amounts[0].minor_units) == ("19.00", 1900)

    def test_grant_product_then_list_products_and_has_access(
        self, backend: Billgate, as_user: Callable[..., Billgate]
    ) -> None:
        granted = backend.customer("USER", "py-grant").grant_product(product_id="credit-pack")
        assert granted.owned_product is not None and granted.owned_product.product_id == "credit-pack"
        assert granted.subscription is None
        user = as_user("py-grant").customer("USER", "py-grant")
        owned = user.list_products()
        assert sorted(p.product_id or "" for p in owned.items) == ["credit-pack", "free"]
        assert owned.next_cursor is None
        assert user.has_access("credit-pack") is True and user.has_access("pro") is False
        assert user.get_item("credits").quantity == 600
        with pytest.raises(BillgateError) as error:
            backend.customer("USER", "py-grant").grant_product(product_id="nope")
        assert error.value.code == "PRODUCT_NOT_FOUND"


class TestPlans:
    def test_checkout_switch_invoices_cancel_billing(
        self, backend: Billgate, as_user: Callable[..., Billgate]
    ) -> None:
        user = as_user("py-plans").customer("USER", "py-plans")
        with pytest.raises(BillgateError) as refused:
            user.create_checkout_url(
                product_id="pro", price_id="pro-monthly", return_url="https://evil.test/"
            )
        assert refused.value.code == "RETURN_URL_NOT_ALLOWED"
        url = user.create_checkout_url(product_id="pro", price_id="pro-monthly", return_url=RETURN_URL)
        assert complete_checkout(url).startswith(f"{RETURN_URL}?checkout_status=complete&checkout_id=")
        [pro] = user.list_products().items
        assert pro.product_id == "pro" and pro.subscription and pro.subscription.status == "ACTIVE"
        assert [o.product_id for o in pro.switch_options] == ["enterprise"]

        preview = user.preview_switch_subscription(from_product_id="pro", to_product_id="enterprise")
        assert [line.kind for line in preview.lines] == ["proration_credit", "proration_debit"]
        assert preview.amount_due_now == sum(line.amount for line in preview.lines) > 0
        assert "/portal/enter?token=" in user.create_customer_portal_url(return_url=RETURN_URL)
        switched = user.switch_subscription(from_product_id="pro", to_product_id="enterprise")
        assert (switched.product_id, switched.status) == ("enterprise", "ACTIVE")
        first = user.list_invoices(limit=1)
        assert len(first.items) == 1 and first.next_cursor
        second = user.list_invoices(limit=1, cursor=first.next_cursor)
        assert second.next_cursor is None
        assert [i.status for i in first.items + second.items] == ["PAID", "PAID"]
        assert second.items[0].amount_total == 1900 and second.items[0].currency == "USD"
        assert (second.items[0].number or "").startswith("INV-")
        assert second.items[0].pdf_url == second.items[0].hosted_invoice_url + "/pdf"

        assert user.cancel_subscription(product_id="enterprise").cancel_at_period_end is True
        assert user.uncancel_subscription(product_id="enterprise").cancel_at_period_end is False
        assert [s.product_id for s in user.list_subscriptions(status=["ACTIVE"]).items] == ["enterprise"]
        current = user.get_current_subscription(product_line_id="user-plans")
        assert current is not None and current.product_id == "enterprise"
        assert user.has_access() is True  # any subscription with access now

        assert user.get_billing().has_customer is False  # a test-mode checkout saves no card
        backend.request(
            """mutation ($c: CustomerRef!) { setTestPaymentMethod(input: {customer: $c,
            cardNumber: "4242424242424242"}) { userErrors { code } } }""",
            {"c": {"type": "USER", "customerId": "py-plans"}},
        )
        card = user.get_billing().default_payment_method
        assert card is not None and (card.brand, card.last4) == ("visa", "4242")
        ended = backend.customer("USER", "py-plans").cancel_subscription(
            product_id="enterprise", immediately=True
        )
        assert ended.status == "CANCELED" and ended.ended_at is not None
        assert user.get_current_subscription() is None
        assert user.has_access() is False

    def test_team_members_read_only_admins_buy(self, as_user: Callable[..., Billgate]) -> None:
        member = as_user("py-member", acme="member").customer("TEAM", "acme")
        admin = as_user("py-admin", acme="admin").customer("TEAM", "acme")
        assert member.list_products().items == []
        with pytest.raises(BillgateError) as error:
            member.create_checkout_url(product_id="team", return_url=RETURN_URL)
        assert error.value.code == "FORBIDDEN"
        assert "/checkout/" in admin.create_checkout_url(product_id="team", return_url=RETURN_URL)


class TestCredentials:
    @pytest.mark.timeout(30)
    def test_a_3_second_token_is_minted_again_when_it_expires(self, server: BillgateServer) -> None:
        minted: list[float] = []

        def get_token() -> str:
            minted.append(time.time())
            return mint_customer_token(server.token_secret, "USER", "py-ttl", ttl_seconds=3)

        with Billgate(server.url, get_token=get_token) as app:
            user = app.customer("USER", "py-ttl")
            assert user.get_item("credits").quantity == 100
            time.sleep(3.2)  # the first token has expired
            server.request("""mutation { tryDecreaseItemQuantity(input: {customer: {type: USER,
                customerId: "py-ttl"}, itemId: "credits", amount: 4}) { success } }""")
            assert user.get_item("credits").quantity == 96
        assert len(minted) >= 2

    def test_a_refused_token_is_asked_for_again_once(self, server: BillgateServer) -> None:
        tokens = iter(
            [
                mint_customer_token("not-the-server-secret-but-32-bytes-long", "USER", "py-401"),
                mint_customer_token(server.token_secret, "USER", "py-401"),
            ]
        )
        with Billgate(server.url, get_token=lambda: next(tokens)) as app:
            assert app.customer("USER", "py-401").get_item("credits").quantity == 100

    def test_a_fixed_expired_token_is_unauthenticated(self, server: BillgateServer) -> None:
        token = mint_customer_token(server.token_secret, "USER", "py-exp", ttl_seconds=1)
        time.sleep(1.1)
        with Billgate(server.url, token=token) as app, pytest.raises(BillgateError) as error:
            app.customer("USER", "py-exp").get_item("credits")
        assert (error.value.code, error.value.status) == ("UNAUTHENTICATED", 401)

    def test_an_unreachable_server_is_a_network_error(self) -> None:
        with (
            Billgate("http://127.0.0.1:9/graphql", secret_key="k") as app,
            pytest.raises(BillgateError) as error,
        ):
            app.list_products()
        assert error.value.code == "NETWORK_ERROR"


@pytest.mark.timeout(120)
def test_the_client_keeps_working_across_a_server_restart(server: BillgateServer, backend: Billgate) -> None:
    """Pooled keep-alive connections die with the old process; the next call still works."""
    credits = backend.customer("USER", "py-restart").item("credits")
    assert credits.try_decrease_quantity(10, idempotency_key="before") is True
    server.restart()
    assert credits.try_decrease_quantity(10, idempotency_key="after") is True
    assert credits.get().quantity == 80
