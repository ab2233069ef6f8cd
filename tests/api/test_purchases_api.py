"""Buying through GraphQL: createCheckoutUrl, its rules on creation and again on completion,
what a customer then owns (customer.products, subscriptions, hasAccess), plans replacing each
other in a product line, include-by-default products, and concurrent completion."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from purchases_testing import (
    OTHER_USER,
    RETURN_URL,
    TEAM,
    USER,
    balance,
    block_new_purchases,
    buy,
    checkout_code,
    codes,
    complete,
    create_checkout,
    end_plan,
    footprint,
    grant,
    has_access,
    invoices,
    item,
    owned,
    subscriptions,
    transactions,
    upsert_product,
)

from billgate.billing.catalog import apply_catalog
from billgate.billing.catalog_spec import parse_catalog
from billgate.billing.purchases import fulfil
from billgate.cli import load_catalog_file
from billgate.errors import BillgateError
from billgate.scheduler.runner import run_due

pytestmark = [
    pytest.mark.usefixtures("example_catalog"),
    pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
]

DAY = 24 * 3600
EXAMPLE_CATALOG = Path(__file__).parents[2] / "examples" / "catalog.yaml"
MONTHLY = {"unit": "MONTH", "count": 1}


@pytest.fixture
async def more_products(api) -> None:  # noqa: ANN001
    """Beside the example catalog: a one-time plan of the user line, an add-on inside the
    line, a server-only plan of the line, and a plan with a public and a server-only price."""
    await upsert_product(
        api, "lifetime", displayName="Lifetime", customerType="USER", productLineId="user-plans",
        prices=[{"priceId": "lifetime-once", "amounts": [{"currency": "USD", "amount": "299.00"}]}],
        includedItems=[{"itemId": "credits", "quantity": 5000, "expires": "NEVER"}])
    await upsert_product(
        api, "pro-boost", displayName="Pro boost", customerType="USER", productLineId="user-plans",
        isAddOnTo=["pro"],
        prices=[{"priceId": "boost-monthly", "amounts": [{"currency": "USD", "amount": "5.00"}],
                 "interval": MONTHLY}])
    await upsert_product(
        api, "vip", displayName="VIP", customerType="USER", productLineId="user-plans",
        serverOnly=True,
        prices=[{"priceId": "vip-monthly", "amounts": [{"currency": "USD", "amount": "999.00"}],
                 "interval": MONTHLY}])
    await upsert_product(
        api, "starter", displayName="Starter", customerType="USER",
        prices=[{"priceId": "starter-public", "amounts": [{"currency": "USD", "amount": "3.00"}]},
                {"priceId": "starter-staff", "serverOnly": True,
                 "amounts": [{"currency": "USD", "amount": "0.50"}]}])


async def apply_example_catalog(db: Any, *, drop: str = "",
                                change: dict[str, dict[str, Any]] | None = None) -> None:
    """Re-apply the example catalog without product ``drop`` (archived) and with fields of
    some products replaced."""
    document = load_catalog_file(EXAMPLE_CATALOG)
    document["products"] = [{**p, **(change or {}).get(p["productId"], {})}
                            for p in document["products"] if p["productId"] != drop]
    async with db.session() as session, session.begin():
        await apply_catalog(session, parse_catalog(document), now=datetime.now(UTC), prune=True)


async def refused_at_completion(runtime: Any, code: str) -> str:
    """Complete ``code`` expecting a domain error; return its error code."""
    with pytest.raises(BillgateError) as raised:
        await complete(runtime, code)
    return raised.value.code


def expired(changes: list[dict[str, Any]]) -> list[int]:
    return [c["delta"] for c in changes if c["reason"] == "expire"]


class TestCreateCheckoutUrl:
    async def test_a_user_gets_a_single_use_link_to_the_hosted_page(self, api, runtime) -> None:
        payload = await create_checkout(api.as_user("u1"), "pro", priceId="pro-monthly")

        assert payload["userErrors"] == []
        base, code = payload["url"].rsplit("/checkout/", 1)
        assert base == runtime.settings.base_url
        assert len(code) >= 32
        assert "pro" not in await owned(api), "nothing is owned before the checkout completes"

    async def test_completing_it_gives_the_product_and_its_items(self, api, runtime) -> None:
        code = await checkout_code(api.as_user("u1"), "pro", priceId="pro-monthly")
        done = await complete(runtime, code)

        assert done.return_url == RETURN_URL
        pro = (await owned(api))["pro"]
        assert pro["type"] == "SUBSCRIPTION" and pro["quantity"] == 1
        assert pro["subscription"]["status"] == "ACTIVE"
        assert pro["subscription"]["priceId"] == "pro-monthly"
        assert await balance(api) == 1000

    async def test_a_link_is_single_use(self, api, runtime) -> None:
        code = await checkout_code(api, "credit-pack")
        await complete(runtime, code)
        before = await footprint(runtime.db)

        assert await refused_at_completion(runtime, code) == "INVALID_INPUT"
        assert await footprint(runtime.db) == before
        assert (await owned(api))["credit-pack"]["quantity"] == 1

    async def test_a_link_expires_after_24_hours(self, api, runtime) -> None:
        code = await checkout_code(api, "credit-pack")
        await owned(api)
        before = await footprint(runtime.db)
        runtime.clock.advance(DAY + 1)

        assert await refused_at_completion(runtime, code) == "INVALID_INPUT"
        assert await footprint(runtime.db) == before

    async def test_quantity_of_a_stackable_product(self, api, runtime) -> None:
        await buy(api, runtime, "credit-pack", quantity=3)
        assert (await owned(api))["credit-pack"]["quantity"] == 3
        assert await balance(api) == 100 + 3 * 500


class TestRulesOnCreation:
    """Each refusal names its code and writes nothing (no link, no customer change)."""

    async def refused(self, api: Any, runtime: Any, product_id: str | None, *,
                      customer: dict[str, str] = USER, **fields: Any) -> list[dict[str, Any]]:
        await owned(api, customer)  # the customer and its included products exist already
        before = await footprint(runtime.db)
        payload = await create_checkout(api, product_id, customer=customer, **fields)
        assert payload["url"] is None
        assert await footprint(runtime.db) == before
        return payload["userErrors"]

    async def test_new_purchases_blocked(self, api, runtime) -> None:
        await block_new_purchases(api)
        errors = await self.refused(api.as_user("u1"), runtime, "credit-pack")
        assert [e["code"] for e in errors] == ["NEW_PURCHASES_BLOCKED"]
        await block_new_purchases(api, False)
        assert (await create_checkout(api.as_user("u1"), "credit-pack"))["userErrors"] == []

    async def test_unknown_product(self, api, runtime) -> None:
        errors = await self.refused(api, runtime, "platinum")
        assert errors == [{"code": "PRODUCT_NOT_FOUND", "field": ["productId"],
                           "message": "product 'platinum' does not exist"}]

    async def test_archived_product(self, api, runtime, db) -> None:
        await apply_example_catalog(db, drop="credit-pack")
        errors = await self.refused(api, runtime, "credit-pack")
        assert [e["code"] for e in errors] == ["PRODUCT_NOT_FOUND"]

    async def test_unknown_price(self, api, runtime) -> None:
        errors = await self.refused(api, runtime, "pro", priceId="pro-weekly")
        assert [(e["code"], e["field"]) for e in errors] == [("PRICE_NOT_FOUND", ["priceId"])]

    async def test_a_product_without_a_price_cannot_be_bought(self, api, runtime) -> None:
        errors = await self.refused(api, runtime, "internal-grant")
        assert [e["code"] for e in errors] == ["PRICE_NOT_FOUND"]

    async def test_a_server_only_product_does_not_exist_for_clients(self, api, runtime,
                                                                    more_products) -> None:
        errors = await self.refused(api.as_user("u1"), runtime, "vip")
        assert errors == [{"code": "PRODUCT_NOT_FOUND", "field": ["productId"],
                           "message": "product 'vip' does not exist"}]
        assert (await create_checkout(api, "vip"))["userErrors"] == []

    async def test_a_server_only_price_does_not_exist_for_clients(self, api, runtime,
                                                                  more_products) -> None:
        errors = await self.refused(api.as_user("u1"), runtime, "starter", priceId="starter-staff")
        assert [e["code"] for e in errors] == ["PRICE_NOT_FOUND"]
        assert (await create_checkout(api, "starter", priceId="starter-staff"))["userErrors"] == []

    async def test_the_one_public_price_needs_no_price_id_for_a_client(self, api, runtime,
                                                                       more_products) -> None:
        await buy(api.as_user("u1"), runtime, "starter")
        assert [t.amount for t in await transactions(runtime.db)] == [300]

    async def test_a_price_id_is_required_when_there_are_several(self, api, runtime) -> None:
        errors = await self.refused(api, runtime, "pro")
        assert [(e["code"], e["field"]) for e in errors] == [("PRICE_NOT_FOUND", ["priceId"])]
        assert "pro-monthly" in errors[0]["message"] and "pro-yearly" in errors[0]["message"]

    async def test_a_team_product_for_a_user(self, api, runtime) -> None:
        errors = await self.refused(api, runtime, "team")
        assert [(e["code"], e["field"]) for e in errors] == [("CUSTOMER_TYPE_MISMATCH", ["customer"])]

    async def test_a_user_product_for_a_team(self, api, runtime) -> None:
        errors = await self.refused(api, runtime, "credit-pack", customer=TEAM)
        assert [e["code"] for e in errors] == ["CUSTOMER_TYPE_MISMATCH"]

    async def test_quantity_above_the_prices_quantity_max(self, api, runtime) -> None:
        # Recurring prices sell seats unless capped; Pro's prices are capped at 1.
        errors = await self.refused(api, runtime, "pro", priceId="pro-monthly", quantity=2)
        assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", ["quantity"])]

    @pytest.mark.parametrize("quantity", [0, -1, 10_001])
    async def test_quantity_out_of_range(self, api, runtime, quantity: int) -> None:
        errors = await self.refused(api, runtime, "credit-pack", quantity=quantity)
        assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", ["quantity"])]

    async def test_a_non_stackable_product_already_owned(self, api, runtime) -> None:
        await buy(api, runtime, "pro", priceId="pro-yearly")
        errors = await self.refused(api, runtime, "pro", priceId="pro-monthly")
        assert [(e["code"], e["field"]) for e in errors] == [("PRODUCT_ALREADY_OWNED", ["productId"])]

    async def test_a_stackable_product_already_owned_can_be_bought_again(self, api,
                                                                         runtime) -> None:
        await buy(api, runtime, "credit-pack")
        await buy(api, runtime, "credit-pack", quantity=2)
        assert (await owned(api))["credit-pack"]["quantity"] == 3

    async def test_an_add_on_whose_base_is_not_owned(self, api, runtime) -> None:
        errors = await self.refused(api, runtime, "extra-seats", customer=TEAM)
        assert [(e["code"], e["field"]) for e in errors] == [("ADD_ON_BASE_NOT_OWNED", ["productId"])]

    async def test_a_one_time_plan_in_the_line_is_replaced(self, api, runtime,
                                                           more_products) -> None:
        await buy(api, runtime, "lifetime")
        await buy(api, runtime, "pro", priceId="pro-monthly")
        assert set(await owned(api)) == {"pro"}, "when they upgrade, the old plan is replaced"

    async def test_an_include_by_default_product(self, api, runtime) -> None:
        errors = await self.refused(api, runtime, "free")
        assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", ["productId"])]

    @pytest.mark.parametrize("return_url", [
        "https://app.example.com.evil.io/",
        "https://evil.example.org/billing",
        "javascript:alert(1)",
        "/billing/done",
    ])
    async def test_a_return_url_outside_the_allow_list(self, api, runtime,
                                                      return_url: str) -> None:
        for caller in (api, api.as_user("u1")):
            errors = await self.refused(caller, runtime, "credit-pack", returnUrl=return_url)
            assert [(e["code"], e["field"]) for e in errors] == [
                ("RETURN_URL_NOT_ALLOWED", ["returnUrl"])]

    async def test_an_unsupported_currency(self, api, runtime) -> None:
        errors = await self.refused(api, runtime, "enterprise", currency="JPY")
        assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", ["currency"])]
        assert "USD" in errors[0]["message"]

    async def test_neither_a_product_id_nor_an_inline_product(self, api, runtime) -> None:
        errors = await self.refused(api, runtime, None)
        assert [e["code"] for e in errors] == ["INVALID_INPUT"]

    async def test_both_a_product_id_and_an_inline_product(self, api, runtime) -> None:
        errors = await self.refused(api, runtime, "credit-pack", product={
            "displayName": "Both", "customerType": "USER",
            "prices": [{"priceId": "p", "amounts": [{"currency": "USD", "amount": "1.00"}]}]})
        assert [e["code"] for e in errors] == ["INVALID_INPUT"]


class TestRulesOnCompletion:
    """The catalog, the settings and what the customer owns may change between creating a
    link and paying: every rule is checked again, and a refused completion writes nothing
    and charges nothing."""

    async def refused(self, runtime: Any, code: str) -> str:
        before = await footprint(runtime.db)
        error = await refused_at_completion(runtime, code)
        assert await footprint(runtime.db) == before
        return error

    async def test_purchases_blocked_after_the_link_was_made(self, api, runtime) -> None:
        code = await checkout_code(api.as_user("u1"), "credit-pack")
        await block_new_purchases(api)

        assert await self.refused(runtime, code) == "NEW_PURCHASES_BLOCKED"
        await block_new_purchases(api, False)
        await complete(runtime, code)  # the link is still good once purchases are allowed
        assert (await owned(api))["credit-pack"]["quantity"] == 1

    async def test_the_second_of_two_links_for_a_non_stackable_product(self, api,
                                                                       runtime) -> None:
        client = api.as_user("u1")
        first = await checkout_code(client, "pro", priceId="pro-monthly")
        second = await checkout_code(client, "pro", priceId="pro-yearly")
        await complete(runtime, first)

        assert await self.refused(runtime, second) == "PRODUCT_ALREADY_OWNED"
        assert await balance(api) == 1000
        assert len(await transactions(runtime.db)) == 1
        assert [s["priceId"] for s in await subscriptions(api)] == ["pro-monthly"]

    async def test_the_product_was_archived(self, api, runtime, db) -> None:
        code = await checkout_code(api, "credit-pack")
        await apply_example_catalog(db, drop="credit-pack")
        assert await self.refused(runtime, code) == "PRODUCT_NOT_FOUND"

    async def test_the_product_became_server_only_for_a_client_link(self, api, runtime,
                                                                    db) -> None:
        code = await checkout_code(api.as_user("u1"), "credit-pack")
        await apply_example_catalog(db, change={"credit-pack": {"serverOnly": True}})
        assert await self.refused(runtime, code) == "PRODUCT_NOT_FOUND"

    async def test_a_server_made_link_for_a_server_only_product_completes(self, api, runtime,
                                                                          more_products) -> None:
        await buy(api, runtime, "vip")
        assert (await owned(api))["vip"]["type"] == "SUBSCRIPTION"

    async def test_the_price_was_removed(self, api, runtime, db) -> None:
        code = await checkout_code(api, "pro", priceId="pro-yearly")
        pro = next(p for p in load_catalog_file(EXAMPLE_CATALOG)["products"]
                   if p["productId"] == "pro")
        await apply_example_catalog(db, change={"pro": {"prices": pro["prices"][:1]}})
        assert await self.refused(runtime, code) == "PRICE_NOT_FOUND"

    async def test_the_price_became_server_only_for_a_client_link(self, api, runtime,
                                                                  more_products) -> None:
        code = await checkout_code(api.as_user("u1"), "starter", priceId="starter-public")
        await upsert_product(
            api, "starter", displayName="Starter", customerType="USER",
            prices=[{"priceId": "starter-public", "serverOnly": True,
                     "amounts": [{"currency": "USD", "amount": "3.00"}]}])
        assert await self.refused(runtime, code) == "PRICE_NOT_FOUND"

    async def test_the_currency_was_dropped_from_the_price(self, api, runtime, db) -> None:
        code = await checkout_code(api, "credit-pack", currency="JPY")
        await apply_example_catalog(db, change={"credit-pack": {"prices": [
            {"priceId": "once", "amounts": {"USD": "5.00"}}]}})
        assert await self.refused(runtime, code) == "INVALID_INPUT"

    async def test_the_product_stopped_being_stackable(self, api, runtime, db) -> None:
        code = await checkout_code(api, "credit-pack", quantity=3)
        await apply_example_catalog(db, change={"credit-pack": {"stackable": False}})
        assert await self.refused(runtime, code) == "PRODUCT_NOT_STACKABLE"

    async def test_the_add_on_base_ended(self, api, runtime, db) -> None:
        await buy(api, runtime, "team", customer=TEAM)
        code = await checkout_code(api, "extra-seats", customer=TEAM)
        await end_plan(runtime, "team")

        assert await self.refused(runtime, code) == "ADD_ON_BASE_NOT_OWNED"
        assert await balance(api, "seats", TEAM) == 0

    async def test_a_one_time_plan_of_the_line_bought_meanwhile_is_replaced(self, api, runtime,
                                                                    more_products) -> None:
        pro = await checkout_code(api, "pro", priceId="pro-monthly")
        await buy(api, runtime, "lifetime")

        await complete(runtime, pro)
        assert set(await owned(api)) == {"pro"}, "the one-time plan is replaced"


class TestSubscriptionReplacement:
    """Buying a plan of a line where the customer has another live subscription replaces it
    at once, as a switch (no second trial): the old one ends, its expiring items expire, the
    new one's items arrive."""

    async def test_pro_to_enterprise(self, api, runtime) -> None:
        await buy(api, runtime, "pro", priceId="pro-monthly")
        await buy(api, runtime, "enterprise")

        products = await owned(api)
        assert set(products) == {"enterprise"}
        assert products["enterprise"]["subscription"]["status"] == "ACTIVE", "a switch: no trial"
        old = await subscriptions(api, status=["CANCELED"])
        assert [s["productId"] for s in old] == ["pro"]
        assert old[0]["endedAt"] is not None and old[0]["hasAccess"] is False
        assert old[0]["endedAt"] == products["enterprise"]["subscription"]["createdAt"]

        credits = await item(api)
        assert credits["quantity"] == 10_000
        assert expired(credits["changes"]) == [-1000, -100]  # pro's, then free's

    async def test_only_the_unused_remainder_expires(self, api, runtime) -> None:
        await buy(api, runtime, "pro", priceId="pro-monthly")
        spent = await api.data(
            "mutation ($input: ChangeItemQuantityInput!) { tryDecreaseItemQuantity(input: $input)"
            " { success } }",
            {"input": {"customer": USER, "itemId": "credits", "amount": 300}})
        assert spent["tryDecreaseItemQuantity"]["success"] is True
        await buy(api, runtime, "enterprise")

        credits = await item(api)
        assert expired(credits["changes"])[0] == -700
        assert credits["quantity"] == 10_000

    async def test_enterprise_to_pro_expires_the_purchase_bound_credits(self, api,
                                                                        runtime) -> None:
        await buy(api, runtime, "enterprise")
        await buy(api, runtime, "pro", priceId="pro-yearly")

        credits = await item(api)
        assert credits["quantity"] == 1000
        assert expired(credits["changes"])[0] == -10_000
        statuses = {s["productId"]: s["status"] for s in await subscriptions(api)}
        assert statuses == {"enterprise": "CANCELED", "pro": "ACTIVE"}

    async def test_a_one_time_plan_of_the_line_replaces_the_subscription(
            self, api, runtime, more_products) -> None:
        await buy(api, runtime, "pro", priceId="pro-monthly")
        await buy(api, runtime, "lifetime")

        assert {k: v["type"] for k, v in (await owned(api)).items()} == {"lifetime": "ONE_TIME"}
        assert [s["status"] for s in await subscriptions(api)] == ["CANCELED"]
        assert await balance(api) == 5000

    async def test_never_expiring_credits_survive(self, api, runtime) -> None:
        await buy(api, runtime, "credit-pack", quantity=2)
        await buy(api, runtime, "pro", priceId="pro-monthly")
        await buy(api, runtime, "enterprise")

        assert await balance(api) == 2 * 500 + 10_000
        assert set(await owned(api)) == {"credit-pack", "enterprise"}

    async def test_a_plan_of_another_line_is_not_replaced(self, api, runtime) -> None:
        await buy(api, runtime, "team", customer=TEAM)
        await buy(api, runtime, "pro", priceId="pro-monthly")
        assert set(await owned(api, TEAM)) == {"team"}
        assert await balance(api, "seats", TEAM) == 5

    async def test_the_replaced_repeats_stop(self, api, runtime, db) -> None:
        await buy(api, runtime, "pro", priceId="pro-monthly")
        await buy(api, runtime, "enterprise")
        runtime.clock.advance(32 * DAY)
        # The scheduler's billing work: the trial's first charge, then the repeats it paid.
        await run_due(await runtime.billing(), runtime.clock.now())

        # only enterprise repeats (its credits last until the purchase ends)
        assert await balance(api) == 2 * 10_000

    async def test_a_failed_replacement_changes_nothing(self, api, runtime) -> None:
        await buy(api, runtime, "pro", priceId="pro-monthly")
        code = await checkout_code(api, "enterprise")
        await block_new_purchases(api)
        before = await footprint(runtime.db)

        assert await refused_at_completion(runtime, code) == "NEW_PURCHASES_BLOCKED"
        assert await footprint(runtime.db) == before
        assert (await owned(api))["pro"]["subscription"]["status"] == "ACTIVE"
        assert await balance(api) == 1000


class TestIncludedByDefault:
    async def test_a_new_user_owns_free_with_its_credits(self, api) -> None:
        products = await owned(api.as_user("u1"))
        assert list(products) == ["free"]
        free = products["free"]
        assert (free["type"], free["quantity"], free["subscription"]) == ("INCLUDED", 1, None)
        assert await balance(api) == 100

    async def test_reading_twice_grants_once(self, api) -> None:
        await owned(api)
        await owned(api)
        assert await balance(api) == 100
        assert len((await item(api))["changes"]) == 1

    async def test_teams_have_no_included_product(self, api) -> None:
        assert await owned(api, TEAM) == {}

    async def test_free_steps_aside_when_pro_is_bought(self, api, runtime) -> None:
        await owned(api)
        await buy(api, runtime, "pro", priceId="pro-monthly")

        assert set(await owned(api)) == {"pro"}
        assert await has_access(api, "free") is False
        credits = await item(api)
        assert credits["quantity"] == 1000
        assert expired(credits["changes"]) == [-100]

    async def test_free_steps_aside_for_a_customer_first_seen_at_checkout(self, api,
                                                                           runtime) -> None:
        await buy(api, runtime, "pro", priceId="pro-monthly",
                  customer={"type": "USER", "customerId": "fresh"})
        fresh = {"type": "USER", "customerId": "fresh"}
        assert set(await owned(api, fresh)) == {"pro"}
        assert await balance(api, customer=fresh) == 1000

    async def test_free_stays_beside_a_product_of_no_line(self, api, runtime) -> None:
        await buy(api, runtime, "credit-pack")
        assert set(await owned(api)) == {"free", "credit-pack"}
        assert await balance(api) == 600

    async def test_free_returns_when_the_paid_plan_ends(self, api, runtime, db) -> None:
        await buy(api, runtime, "pro", priceId="pro-monthly")
        await end_plan(runtime, "pro")

        products = await owned(api)
        assert set(products) == {"free"}
        assert await has_access(api, "free") is True
        assert await has_access(api, "pro") is False
        assert await balance(api) == 100
        assert [s["status"] for s in await subscriptions(api)] == ["CANCELED"]

    async def test_its_credits_repeat_monthly(self, api, runtime, db) -> None:
        await owned(api)
        runtime.clock.advance(31 * DAY)
        async with db.session() as session, session.begin():
            await fulfil.run_due_repeats(session, now=runtime.clock.now())

        credits = await item(api)
        assert credits["quantity"] == 100
        changes = {c["reason"]: c for c in credits["changes"]}
        assert sorted((c["reason"], c["delta"]) for c in credits["changes"]) == [
            ("expire", -100), ("purchase", 100), ("repeat", 100)]
        assert changes["expire"]["createdAt"] == changes["repeat"]["createdAt"]
        assert max(c["quantityAfter"] for c in credits["changes"]) == 100


class TestOwnedProducts:
    async def test_types_and_subscription_details(self, api, runtime) -> None:
        await buy(api, runtime, "credit-pack")
        await buy(api, runtime, "pro", priceId="pro-yearly", currency="EUR")

        products = await owned(api)
        assert {k: v["type"] for k, v in products.items()} == {
            "credit-pack": "ONE_TIME", "pro": "SUBSCRIPTION"}
        assert products["credit-pack"]["subscription"] is None
        sub = products["pro"]["subscription"]
        assert sub["productId"] == "pro" and sub["priceId"] == "pro-yearly"
        assert sub["product"] == {"productId": "pro", "displayName": "Pro"}
        assert sub["price"]["interval"] == {"unit": "YEAR", "count": 1}
        start = datetime.fromisoformat(sub["currentPeriodStart"])
        end = datetime.fromisoformat(sub["currentPeriodEnd"])
        assert (end.year - start.year, end.month, end.day) == (1, start.month, start.day)
        assert sub["cancelAtPeriodEnd"] is False and sub["endedAt"] is None

    async def test_a_trial_shows_its_end(self, api, runtime) -> None:
        await buy(api, runtime, "enterprise")
        sub = (await owned(api))["enterprise"]["subscription"]
        assert sub["status"] == "TRIALING" and sub["hasAccess"] is True
        start = datetime.fromisoformat(sub["createdAt"])
        assert (datetime.fromisoformat(sub["trialEndsAt"]) - start).days == 14
        assert sub["currentPeriodEnd"] == sub["trialEndsAt"]

    async def test_stackable_quantities_are_summed(self, api, runtime) -> None:
        await buy(api, runtime, "credit-pack", quantity=2)
        await buy(api, runtime, "credit-pack", quantity=3)
        await grant(api, "credit-pack", quantity=4)

        products = await owned(api)
        assert products["credit-pack"]["quantity"] == 9
        assert await balance(api) == 100 + 9 * 500

    async def test_stackable_add_on_quantities_for_a_team(self, api, runtime) -> None:
        admin = api.as_user("u1", teams={"t1": "admin"})
        await buy(admin, runtime, "team", customer=TEAM)
        await buy(admin, runtime, "extra-seats", customer=TEAM, quantity=2)
        await buy(admin, runtime, "extra-seats", customer=TEAM)

        products = await owned(admin, TEAM)
        assert {k: (v["type"], v["quantity"]) for k, v in products.items()} == {
            "team": ("SUBSCRIPTION", 1), "extra-seats": ("SUBSCRIPTION", 3)}
        assert await balance(admin, "seats", TEAM) == 5 + 3 * 5

    async def test_switch_options(self, api, runtime, more_products) -> None:
        await buy(api, runtime, "pro", priceId="pro-monthly")

        client_view = await owned(api.as_user("u1"))
        # exactly what switchSubscription accepts: not free (included by default), pro-boost
        # (add-on), lifetime (one-time), vip (server-only, for clients), pro itself
        assert [p["productId"] for p in client_view["pro"]["switchOptions"]] == ["enterprise"]
        server_view = await owned(api)
        assert [p["productId"] for p in server_view["pro"]["switchOptions"]] == [
            "enterprise", "vip"]

    async def test_switch_options_of_free_and_of_a_product_without_a_line(self, api,
                                                                          runtime) -> None:
        await buy(api, runtime, "credit-pack")
        products = await owned(api.as_user("u1"))
        # Free is no subscription: switchSubscription refuses to leave it (a checkout does)
        assert products["free"]["switchOptions"] == []
        assert products["credit-pack"]["switchOptions"] == []

    async def test_what_was_sold_not_todays_catalog(self, api, runtime, db) -> None:
        await buy(api, runtime, "pro", priceId="pro-monthly")
        await apply_example_catalog(db, change={"pro": {"displayName": "Pro 2027"}})

        pro = (await owned(api))["pro"]
        assert pro["displayName"] == "Pro"
        assert pro["subscription"]["product"]["displayName"] == "Pro"

    async def test_a_client_reads_only_its_own_products(self, api) -> None:
        body = await api.as_user("u1")(
            "query ($c: CustomerRef!) { customer(customer: $c) { products { edges { node { "
            "productId } } } } }", {"c": OTHER_USER})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


class TestHasAccess:
    async def test_owned_one_time_product(self, api, runtime) -> None:
        assert await has_access(api, "credit-pack") is False
        await buy(api, runtime, "credit-pack")
        assert await has_access(api, "credit-pack") is True

    async def test_active_and_trialing_subscriptions(self, api, runtime) -> None:
        await buy(api, runtime, "enterprise")
        assert await has_access(api, "enterprise") is True
        await buy(api, runtime, "pro", priceId="pro-monthly")
        assert await has_access(api, "pro") is True
        assert await has_access(api, "enterprise") is False, "replaced"

    async def test_included_product(self, api) -> None:
        assert await has_access(api.as_user("u1"), "free") is True

    async def test_unknown_product(self, api) -> None:
        assert await has_access(api, "nope") is False

    async def test_a_team_members_view(self, api, runtime) -> None:
        await buy(api, runtime, "team", customer=TEAM)
        assert await has_access(api.as_user("u9", teams={"t1": "member"}), "team", TEAM) is True


class TestPermissions:
    """Clients buy for their own user, or for a team where their token says admin."""

    async def test_own_user(self, api) -> None:
        assert (await create_checkout(api.as_user("u1"), "credit-pack"))["userErrors"] == []

    async def test_team_admin(self, api, runtime) -> None:
        admin = api.as_user("u1", teams={"t1": "admin"})
        await buy(admin, runtime, "team", customer=TEAM)
        assert set(await owned(admin, TEAM)) == {"team"}

    @pytest.mark.parametrize(("user", "teams", "customer"), [
        ("u1", None, OTHER_USER),
        ("u1", {"t1": "member"}, TEAM),
        ("u1", {"t2": "admin"}, TEAM),
        ("u1", None, {"type": "CUSTOM", "customerId": "u1"}),
    ], ids=["other-user", "team-member", "admin-of-another-team", "custom"])
    async def test_forbidden(self, api, runtime, user: str, teams: dict[str, str] | None,
                             customer: dict[str, str]) -> None:
        product = "team" if customer["type"] == "TEAM" else "credit-pack"
        before = await footprint(runtime.db)
        payload = await create_checkout(api.as_user(user, teams=teams), product,
                                        customer=customer)
        assert payload["url"] is None
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("FORBIDDEN", ["customer"])]
        assert await footprint(runtime.db) == before

    async def test_anonymous(self, api, runtime) -> None:
        payload = await create_checkout(api.as_(None), "credit-pack")
        assert codes(payload) == ["FORBIDDEN"]
        assert (await footprint(runtime.db))["counts"]["checkout_sessions"] == 0

    async def test_forbidden_comes_before_any_other_rule(self, api) -> None:
        payload = await create_checkout(api.as_user("u2"), "platinum", returnUrl="https://x.io/")
        assert codes(payload) == ["FORBIDDEN"]

    async def test_a_server_buys_for_anyone(self, api, runtime) -> None:
        await buy(api, runtime, "team", customer={"type": "TEAM", "customerId": "t9"})
        await buy(api, runtime, "credit-pack", customer={"type": "USER", "customerId": "u9"})
        assert set(await owned(api, {"type": "TEAM", "customerId": "t9"})) == {"team"}


class TestMoneyRecorded:
    """What a completed checkout charged: a transaction in minor units and a PAID invoice."""

    @pytest.mark.parametrize(("product", "fields", "currency", "amount"), [
        ("pro", {"priceId": "pro-monthly"}, "USD", 1900),
        ("pro", {"priceId": "pro-monthly", "currency": "JPY"}, "JPY", 2900),
        ("pro", {"priceId": "pro-monthly", "currency": "INR"}, "INR", 159_900),
        ("pro", {"priceId": "pro-yearly", "currency": "EUR"}, "EUR", 18_000),
        ("credit-pack", {"quantity": 3, "currency": "EUR"}, "EUR", 1350),
        ("credit-pack", {"quantity": 2, "currency": "JPY"}, "JPY", 1500),
    ])
    async def test_amount_and_currency(self, api, runtime, product: str,
                                       fields: dict[str, Any], currency: str,
                                       amount: int) -> None:
        done = await buy(api, runtime, product, **fields)

        [transaction] = await transactions(runtime.db)
        assert (transaction.kind, transaction.amount, transaction.currency) == (
            "purchase", amount, currency)
        assert transaction.quantity == fields.get("quantity", 1)
        assert transaction.purchase_id == done.purchase.id
        assert transaction.product["productId"] == product
        assert transaction.payment_reference
        [invoice] = await invoices(runtime.db)
        assert (invoice.status, invoice.amount_total, invoice.currency) == ("PAID", amount,
                                                                              currency)
        assert invoice.transaction_id == transaction.id and invoice.paid_at is not None

    async def test_usd_is_the_default_currency(self, api, runtime) -> None:
        await buy(api, runtime, "credit-pack")
        assert [(t.amount, t.currency) for t in await transactions(runtime.db)] == [(500, "USD")]

    async def test_the_first_currency_when_there_is_no_usd(self, api, runtime) -> None:
        await upsert_product(
            api, "euro-pack", displayName="Euro pack", customerType="USER",
            prices=[{"priceId": "once", "amounts": [{"currency": "EUR", "amount": "7.00"},
                                                    {"currency": "GBP", "amount": "6.00"}]}])
        await buy(api, runtime, "euro-pack")
        assert [(t.amount, t.currency) for t in await transactions(runtime.db)] == [(700, "EUR")]

    async def test_a_trial_start_writes_no_invoice(self, api, runtime) -> None:
        await buy(api, runtime, "enterprise", currency="CAD")
        assert await invoices(runtime.db) == []
        assert (await owned(api))["enterprise"]["subscription"]["price"]["amounts"][-1] == {
            "currency": "CAD", "minorUnits": 13_500}


class TestConcurrency:
    async def test_ten_completions_of_one_link_grant_once(self, api, runtime) -> None:
        code = await checkout_code(api, "pro", priceId="pro-monthly")
        await owned(api)

        results = await asyncio.gather(*(complete(runtime, code) for _ in range(10)),
                                       return_exceptions=True)

        done = [r for r in results if not isinstance(r, BaseException)]
        failed = [r for r in results if isinstance(r, BaseException)]
        assert len(done) == 1
        assert all(isinstance(e, BillgateError) and e.code == "INVALID_INPUT" for e in failed), failed
        assert len(await subscriptions(api)) == 1
        assert len(await transactions(runtime.db)) == 1
        assert len(await invoices(runtime.db)) == 1
        assert await balance(api) == 1000

    async def test_two_links_for_one_plan_completed_at_once(self, api, runtime) -> None:
        admin = api.as_user("u1", teams={"t1": "admin"})
        links = [await checkout_code(admin, "team", customer=TEAM) for _ in range(5)]

        results = await asyncio.gather(*(complete(runtime, c) for c in links),
                                       return_exceptions=True)

        refused = [r.code for r in results if isinstance(r, BillgateError)]
        assert refused == ["PRODUCT_ALREADY_OWNED"] * 4, results
        assert len(await subscriptions(api, TEAM)) == 1
        assert await balance(api, "seats", TEAM) == 5

    async def test_two_plans_of_one_line_completed_at_once(self, api, runtime) -> None:
        pro = await checkout_code(api, "pro", priceId="pro-monthly")
        enterprise = await checkout_code(api, "enterprise")
        await owned(api)

        await asyncio.gather(complete(runtime, pro), complete(runtime, enterprise))

        live = await subscriptions(api, status=["ACTIVE", "TRIALING"])
        assert len(live) == 1, live
        assert len(await subscriptions(api, status=["CANCELED"])) == 1
        expected = {"pro": 1000, "enterprise": 10_000}[live[0]["productId"]]
        assert await balance(api) == expected

    async def test_a_plan_added_to_the_catalog_later_is_included_once(self, api, runtime,
                                                                      db) -> None:
        await apply_example_catalog(db, drop="free")
        await owned(api)  # the customer exists, without free
        await apply_example_catalog(db)

        await asyncio.gather(*(owned(api) for _ in range(10)))

        assert set(await owned(api)) == {"free"}
        assert await balance(api) == 100


class TestAddOns:
    async def test_a_team_add_on_needs_the_team_plan(self, api, runtime) -> None:
        admin = api.as_user("u1", teams={"t1": "admin"})
        assert codes(await create_checkout(admin, "extra-seats", customer=TEAM)) == [
            "ADD_ON_BASE_NOT_OWNED"]
        await buy(admin, runtime, "team", customer=TEAM)
        await buy(admin, runtime, "extra-seats", customer=TEAM, quantity=2)

        assert await balance(admin, "seats", TEAM) == 5 + 2 * 5
        assert set(await owned(admin, TEAM)) == {"team", "extra-seats"}

    async def test_an_add_on_inside_its_base_line_is_bought_beside_the_base(
            self, api, runtime, more_products) -> None:
        await buy(api, runtime, "pro", priceId="pro-monthly")
        await buy(api, runtime, "pro-boost")

        products = await owned(api)
        assert set(products) == {"pro", "pro-boost"}
        assert products["pro"]["subscription"]["status"] == "ACTIVE"
        assert await balance(api) == 1000

    async def test_an_add_on_to_the_included_plan_for_a_new_user(self, api, runtime) -> None:
        await upsert_product(
            api, "free-boost", displayName="Free boost", customerType="USER", isAddOnTo=["free"],
            prices=[{"priceId": "once", "amounts": [{"currency": "USD", "amount": "1.00"}]}],
            includedItems=[{"itemId": "credits", "quantity": 50, "expires": "NEVER"}])
        newcomer = {"type": "USER", "customerId": "newcomer"}

        await buy(api.as_user("newcomer"), runtime, "free-boost", customer=newcomer)

        assert set(await owned(api, newcomer)) == {"free", "free-boost"}
        assert await balance(api, customer=newcomer) == 150
