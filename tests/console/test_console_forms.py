"""Console forms: a refused value shows the error next to its field and keeps what was
typed, nothing changes; a good one changes exactly what the matching mutation would, shows
a message after the redirect, and is one ``OperatorAction`` (via "console")."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from console_testing import post_form

from billgate.billing import balances, items
from billgate.billing.purchases import service
from billgate.types import CustomerRef, CustomerType

pytestmark = pytest.mark.usefixtures("example_catalog")
USER = CustomerRef(CustomerType.USER, "u-form")
PAGE = "/admin/customers/USER/u-form"
WHO = {"type": "USER", "customer_id": "u-form", "back": PAGE}
ACTIONS = "{ operatorActions { edges { node { action target outcome via detail } } } }"


def error_next_to(html: str, form: str, field: str) -> str:
    """The error shown under the input ``form-field`` (its ``aria-describedby``)."""
    match = re.search(rf'id="{form}-{field}-error">([^<]+)<', html)
    assert match, f"no error next to {form}-{field}"
    return match.group(1)


def typed_value(html: str, input_id: str) -> str:
    match = re.search(rf'id="{input_id}" name="[^"]+" value="([^"]*)"', html)
    assert match, input_id
    return match.group(1)


async def credits(runtime: Any) -> int:
    return (await items.get_balance(runtime.db, USER, "credits", clock=runtime.clock)).quantity


async def test_adjusting_a_balance_with_bad_input_keeps_what_was_typed(
        operator: httpx.AsyncClient, runtime: Any, api: Any) -> None:
    await balances.increase(runtime.db, USER, "credits", amount=1, clock=runtime.clock)
    before = await credits(runtime)
    bad = await post_form(operator, PAGE, "/admin/customer/adjust-balance", {
        **WHO, "item": "credits", "amount": "ten", "reason": "goodwill"})
    assert bad.status_code == 400
    assert "whole number" in error_next_to(bad.text, "adjust", "amount")
    assert typed_value(bad.text, "adjust-amount") == "ten"
    assert typed_value(bad.text, "adjust-reason") == "goodwill"

    past = await post_form(operator, PAGE, "/admin/customer/adjust-balance", {
        **WHO, "item": "credits", "amount": "5", "expires_at": "2001-01-01T00:00"})
    assert past.status_code == 400 and error_next_to(past.text, "adjust", "expires_at")
    negative = await post_form(operator, PAGE, "/admin/customer/adjust-balance", {
        **WHO, "item": "credits", "amount": "-5", "expires_at": "2099-01-01T00:00"})
    assert "only an amount added can expire" in error_next_to(negative.text, "adjust", "expires_at")
    assert await credits(runtime) == before

    good = await post_form(operator, PAGE, "/admin/customer/adjust-balance", {
        **WHO, "item": "credits", "amount": "-30", "reason": "chargeback"})
    assert good.status_code == 303 and good.headers["location"] == PAGE
    shown = await operator.get(PAGE)
    assert f"Balance adjusted: credits is now {before - 30:,}." in shown.text
    assert "Balance adjusted" not in (await operator.get(PAGE)).text  # shown once
    assert await credits(runtime) == before - 30
    actions = [e["node"] for e in (await api.data(ACTIONS))["operatorActions"]["edges"]]
    assert [(a["action"], a["outcome"], a["via"]) for a in actions[:4]] == [
        ("decreaseItemQuantity", "ok", "console"),
        ("decreaseItemQuantity", "INVALID_INPUT", "console"),
        ("increaseItemQuantity", "INVALID_INPUT", "console"),
        ("increaseItemQuantity", "INVALID_INPUT", "console")]
    assert actions[0]["target"] == "USER:u-form" and "chargeback" in actions[0]["detail"]


async def test_granting_shows_the_rule_that_refused(operator: httpx.AsyncClient,
                                                    runtime: Any) -> None:
    await balances.increase(runtime.db, USER, "credits", amount=1, clock=runtime.clock)
    none = await post_form(operator, PAGE, "/admin/customer/grant-product", {**WHO, "product": ""})
    assert "choose a product" in error_next_to(none.text, "grant", "product")
    team_only = await post_form(operator, PAGE, "/admin/customer/grant-product",
                                {**WHO, "product": "team"})
    assert team_only.status_code == 409
    assert error_next_to(team_only.text, "grant", "product")
    ok = await post_form(operator, PAGE, "/admin/customer/grant-product",
                         {**WHO, "product": "pro|pro-yearly"})
    assert ok.status_code == 303
    owned = await service.owned_purchases(runtime.db, USER, clock=runtime.clock)
    assert "pro" in {p.product_id for p in owned}


async def test_refunding_more_than_is_left_is_refused_next_to_the_amount(
        operator: httpx.AsyncClient, api: Any, runtime: Any) -> None:
    data = await api.data("""mutation { createCheckoutUrl(input: {customer: {type: USER,
        customerId: "u-form"}, productId: "credit-pack", returnUrl: "https://app.example.com/x"})
        { url } }""")
    code = data["createCheckoutUrl"]["url"].rsplit("/", 1)[1]
    await service.complete_checkout(runtime.db, code, rails=runtime.test_rails,
                                    clock=runtime.clock, test_mode=True, bus=runtime.bus)
    page = await operator.get(PAGE)
    tx_id = re.search(r'name="transaction_id" value="(\d+)"', page.text).group(1)
    too_much = await post_form(operator, PAGE, "/admin/customer/refund",
                               {**WHO, "transaction_id": tx_id, "amount": "6.00"})
    assert too_much.status_code == 400
    assert "amount must be from 1 to 500" in error_next_to(too_much.text, f"refund-{tx_id}", "amount")
    ok = await post_form(operator, PAGE, "/admin/customer/refund",
                         {**WHO, "transaction_id": tx_id, "amount": "2.00", "revoke_grants": "on"})
    assert ok.status_code == 303
    assert "Refunded $2.00 and took back what it granted." in (await operator.get(PAGE)).text
    assert await credits(runtime) == 100  # the pack's 500 taken back, Free's 100 left


async def test_settings_refused_and_saved(operator: httpx.AsyncClient, runtime: Any) -> None:
    fields = {"test_mode": "on", "grace_period_days": "999", "dunning_retry_days": "3, 5",
              "seller_name": "Acme", "seller_country": "DE"}
    bad = await post_form(operator, "/admin/settings", "/admin/settings", fields)
    assert bad.status_code == 400
    assert "from 0 to 365" in error_next_to(bad.text, "settings", "grace_period_days")
    assert typed_value(bad.text, "settings-seller_name") == "Acme"
    ok = await post_form(operator, "/admin/settings", "/admin/settings",
                         {**fields, "grace_period_days": "10", "block_new_purchases": "on",
                          "method_link": "on"})
    assert ok.status_code == 303
    saved = await runtime.payment_settings()
    assert (saved.grace_period_days, saved.dunning_retry_days, saved.block_new_purchases) == (
        10, (3, 5), True)
    assert saved.payment_method_types == ("card", "link")
    assert (saved.seller.name, saved.seller.address.country) == ("Acme", "DE")


NEW_PRODUCT = {"kind": "products", "productId": "starter", "displayName": "Starter",
               "customerType": "USER", "productLineId": "", "rows-prices": "1",
               "rows-includedItems": "1", "prices-0-priceId": "starter-monthly",
               "prices-0-amounts": "USD 9.99, JPY 1.5", "prices-0-interval": "month",
               "includedItems-0-itemId": "credits", "includedItems-0-quantity": "200",
               "includedItems-0-repeat": "month", "includedItems-0-expires": "WHEN_REPEATED",
               "step": "preview"}


async def test_a_product_is_previewed_then_saved_with_the_catalog_rules(
        operator: httpx.AsyncClient, api: Any) -> None:
    new = "/admin/catalog/products/new"
    bad = await post_form(operator, new, "/admin/catalog/submit", NEW_PRODUCT)
    assert bad.status_code == 400
    assert "JPY amounts take no decimals" in error_next_to(bad.text, "products", "prices-0-amounts")
    assert typed_value(bad.text, "products-displayName") == "Starter"

    preview = await post_form(operator, new, "/admin/catalog/submit",
                              {**NEW_PRODUCT, "prices-0-amounts": "USD 9.99"})
    assert preview.status_code == 200 and "What will be created" in preview.text
    assert "price starter-monthly: amounts" in preview.text and "USD 9.99" in preview.text
    assert (await api.data('{ product(productId: "starter") { productId } }'))["product"] is None
    document = re.search(r'name="document" value="([^"]+)"', preview.text).group(1)
    digest = re.search(r'name="before_digest" value="([^"]+)"', preview.text).group(1)
    saved = await post_form(operator, new, "/admin/catalog/save", {
        "kind": "products", "document": document.replace("&#34;", '"'), "before_digest": digest})
    assert saved.status_code == 303
    product = await api.data('{ product(productId: "starter") { prices { priceId } } }')
    assert product["product"]["prices"] == [{"priceId": "starter-monthly"}]

    edit = await post_form(operator, "/admin/catalog/products/starter", "/admin/catalog/submit",
                           {**NEW_PRODUCT, "prices-0-amounts": "USD 12.00", "editing": "on"})
    assert "What will change" in edit.text
    assert re.search(r'class="old">USD 9.99<.*class="new">USD 12.00<', edit.text)


async def test_archiving_what_a_product_uses_is_refused(operator: httpx.AsyncClient,
                                                        api: Any) -> None:
    refused = await post_form(operator, "/admin/catalog", "/admin/catalog/archive",
                              {"kind": "items", "entry_id": "credits"})
    assert refused.status_code == 303
    assert "is included by product(s)" in (await operator.get("/admin/catalog")).text
    done = await post_form(operator, "/admin/catalog", "/admin/catalog/archive",
                           {"kind": "products", "entry_id": "credit-pack"})
    assert done.status_code == 303
    assert (await api.data('{ product(productId: "credit-pack") { productId } }'))["product"] is None
    export = await operator.get("/admin/catalog/export")
    assert export.headers["content-disposition"] == 'attachment; filename="catalog.yaml"'
    assert "productId: pro" in export.text and "credit-pack" not in export.text


async def test_an_item_and_a_product_line_through_the_same_forms(operator: httpx.AsyncClient,
                                                                 api: Any) -> None:
    item = {"kind": "items", "itemId": "tokens", "displayName": "API tokens",
            "customerType": "TEAM", "lowBalanceThresholds": "100, ten"}
    bad = await post_form(operator, "/admin/catalog/items/new", "/admin/catalog/submit", item)
    assert "whole numbers" in error_next_to(bad.text, "items", "lowBalanceThresholds")
    preview = await post_form(operator, "/admin/catalog/items/new", "/admin/catalog/submit",
                              {**item, "lowBalanceThresholds": "100, 10"})
    assert "What will be created" in preview.text
    document = re.search(r'name="document" value="([^"]+)"', preview.text).group(1)
    digest = re.search(r'name="before_digest" value="([^"]+)"', preview.text).group(1)
    saved = await post_form(operator, "/admin/catalog", "/admin/catalog/save", {
        "kind": "items", "document": document.replace("&#34;", '"'), "before_digest": digest})
    assert saved.status_code == 303
    items = await api.data("{ itemDefinitions { itemId lowBalanceThresholds } }")
    assert {"itemId": "tokens", "lowBalanceThresholds": [100, 10]} in items["itemDefinitions"]

    line = {"kind": "lines", "productLineId": "user-plans", "displayName": "Plans",
            "customerType": "TEAM", "editing": "on"}
    changed_type = await post_form(operator, "/admin/catalog/lines/user-plans",
                                   "/admin/catalog/submit", line)
    assert "cannot change from USER to TEAM" in error_next_to(changed_type.text, "lines",
                                                              "customerType")


async def test_a_plans_overage_through_the_product_form(operator: httpx.AsyncClient,
                                                        api: Any) -> None:
    """The product form edits ``overage`` (item, limit, per-unit amounts): refused with the
    error next to its field, previewed, saved, and shown again when the product is edited
    (so saving a product from the console keeps its overage)."""
    new = "/admin/catalog/products/new"
    fields = {**NEW_PRODUCT, "prices-0-amounts": "USD 9.99, JPY 1500", "rows-overage": "1",
              "overage-0-itemId": "credits", "overage-0-limit": "300",
              "overage-0-unitAmounts": "USD 0.02"}
    bad = await post_form(operator, new, "/admin/catalog/submit", fields)
    assert bad.status_code == 400
    assert "needs an amount in JPY" in error_next_to(bad.text, "products",
                                                     "overage-0-unitAmounts")
    fields["overage-0-unitAmounts"] = "USD 0.02, JPY 3"
    preview = await post_form(operator, new, "/admin/catalog/submit", fields)
    assert "overage credits: limit" in preview.text and "USD 0.02, JPY 3" in preview.text
    document = re.search(r'name="document" value="([^"]+)"', preview.text).group(1)
    digest = re.search(r'name="before_digest" value="([^"]+)"', preview.text).group(1)
    saved = await post_form(operator, new, "/admin/catalog/save", {
        "kind": "products", "document": document.replace("&#34;", '"'), "before_digest": digest})
    assert saved.status_code == 303
    product = await api.data('{ product(productId: "starter") { overage { itemId limit '
                             'unitAmounts { currency amount } } } }')
    assert product["product"]["overage"] == [{"itemId": "credits", "limit": 300, "unitAmounts": [
        {"currency": "USD", "amount": "0.02"}, {"currency": "JPY", "amount": "3"}]}]
    edit = await operator.get("/admin/catalog/products/starter")
    assert typed_value(edit.text, "products-overage-0-limit") == "300"
    assert typed_value(edit.text, "products-overage-0-unitAmounts") == "USD 0.02, JPY 3"


async def test_saving_a_product_from_the_console_keeps_its_seats_cap_and_rollover(
        operator: httpx.AsyncClient, api: Any) -> None:
    """A price's ``quantityMax`` and an included item's ``rollover`` are fields of the product
    form: shown when a product is edited, previewed and saved, so saving from the console
    never drops them."""
    new = "/admin/catalog/products/new"
    fields = {**NEW_PRODUCT, "prices-0-amounts": "USD 9.99", "prices-0-quantityMax": "25",
              "includedItems-0-rollover": "x"}
    bad = await post_form(operator, new, "/admin/catalog/submit", fields)
    assert bad.status_code == 400
    assert "rollover" in error_next_to(bad.text, "products", "includedItems-0-rollover")
    fields["includedItems-0-rollover"] = "150"
    preview = await post_form(operator, new, "/admin/catalog/submit", fields)
    assert 'seats at most</td><td class="new">25<' in preview.text
    assert 'rollover up to</td><td class="new">150<' in preview.text
    document = re.search(r'name="document" value="([^"]+)"', preview.text).group(1)
    digest = re.search(r'name="before_digest" value="([^"]+)"', preview.text).group(1)
    saved = await post_form(operator, new, "/admin/catalog/save", {
        "kind": "products", "document": document.replace("&#34;", '"'), "before_digest": digest})
    assert saved.status_code == 303
    product = (await api.data('{ product(productId: "starter") { prices { quantityMax } '
                              'includedItems { rollover } } }'))["product"]
    assert product == {"prices": [{"quantityMax": 25}], "includedItems": [{"rollover": 150}]}
    edit = await operator.get("/admin/catalog/products/starter")
    assert typed_value(edit.text, "products-prices-0-quantityMax") == "25"
    assert typed_value(edit.text, "products-includedItems-0-rollover") == "150"
