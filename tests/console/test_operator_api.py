"""The operator reads of the GraphQL API (secret key only): ``transactions`` and ``invoices``
across customers with filters and keyset paging, ``Transaction.customer``, ``revenue``,
``payouts`` in test mode, ``operatorActions`` (every secret-key write recorded, customer
tokens' writes not), and the seller and payment method types of ``PaymentSettings``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billgate.billing.purchases import service

pytestmark = pytest.mark.usefixtures("example_catalog")

ERRORS = "userErrors { code message field }"
CHECKOUT = f"""mutation ($input: CreateCheckoutUrlInput!) {{
  createCheckoutUrl(input: $input) {{ url {ERRORS} }} }}"""
INCREASE = f"""mutation ($input: ChangeItemQuantityInput!) {{
  increaseItemQuantity(input: $input) {{ item {{ quantity }} {ERRORS} }} }}"""
REFUND = f"""mutation ($input: RefundTransactionInput!) {{
  refundTransaction(input: $input) {{ refund {{ id amount }} {ERRORS} }} }}"""
TRANSACTIONS = """query ($first: Int, $after: String, $filter: TransactionFilter) {
  transactions(first: $first, after: $after, filter: $filter) {
    edges { cursor node { id kind amount currency productId customer { type customerId } } }
    pageInfo { hasNextPage endCursor } } }"""
INVOICES = """query ($filter: InvoiceFilter) {
  invoices(first: 50, filter: $filter) { edges { node { status amountTotal currency } } } }"""
ACTIONS = """{ operatorActions(first: 50) { edges { node {
  action target outcome keyFingerprint via at } } } }"""
REVENUE = """query ($from: DateTime!, $to: DateTime!) {
  revenue(currency: USD, from: $from, to: $to) {
    currency paid refunded net mrr activeSubscriptions trialing pastDue newSubscriptions
    canceledSubscriptions days { day net } } }"""
RETURN_URL = "https://app.example.com/done"


async def buy(api: Any, runtime: Any, customer_id: str, product_id: str, **extra: Any) -> None:
    customer = {"type": "USER", "customerId": customer_id}
    data = await api.data(CHECKOUT, {"input": {"customer": customer, "productId": product_id,
                                               "returnUrl": RETURN_URL, **extra}})
    code = data["createCheckoutUrl"]["url"].rsplit("/", 1)[1]
    await service.complete_checkout(runtime.db, code, rails=runtime.test_rails,
                                    clock=runtime.clock, test_mode=True, bus=runtime.bus)


async def test_transactions_of_every_customer_newest_first_with_filters_and_paging(
        api: Any, runtime: Any) -> None:
    await buy(api, runtime, "u1", "credit-pack")
    await buy(api, runtime, "u2", "pro", priceId="pro-monthly")
    await buy(api, runtime, "u3", "credit-pack")

    page = (await api.data(TRANSACTIONS, {"first": 2}))["transactions"]
    nodes = [e["node"] for e in page["edges"]]
    assert [(n["customer"]["customerId"], n["productId"]) for n in nodes] == [
        ("u3", "credit-pack"), ("u2", "pro")]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = (await api.data(TRANSACTIONS, {"first": 2, "after": page["pageInfo"]["endCursor"]}))
    assert [e["node"]["customer"]["customerId"] for e in rest["transactions"]["edges"]] == ["u1"]

    only_u2 = await api.data(TRANSACTIONS, {"filter": {
        "customer": {"type": "USER", "customerId": "u2"}}})
    assert [e["node"]["amount"] for e in only_u2["transactions"]["edges"]] == [1900]
    none = await api.data(TRANSACTIONS, {"filter": {"kinds": ["refund"]}})
    assert none["transactions"]["edges"] == []
    future = (datetime.now(UTC) + timedelta(days=400)).isoformat()
    assert (await api.data(TRANSACTIONS, {"filter": {"from": future}}))["transactions"]["edges"] == []


async def test_a_bad_filter_is_invalid_input_not_a_crash(api: Any) -> None:
    body = await api(TRANSACTIONS, {"filter": {"kinds": ["gift"]}})
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert "gift" in body["errors"][0]["message"]
    body = await api(TRANSACTIONS, {"filter": {"from": "2026-02-01T00:00:00Z",
                                               "to": "2026-01-01T00:00:00Z"}})
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_invoices_of_every_customer_filtered_by_status(api: Any, runtime: Any) -> None:
    await buy(api, runtime, "u1", "pro", priceId="pro-monthly")
    await buy(api, runtime, "u2", "pro", priceId="pro-yearly")
    paid = await api.data(INVOICES, {"filter": {"status": ["PAID"]}})
    assert sorted(e["node"]["amountTotal"] for e in paid["invoices"]["edges"]) == [1900, 19000]
    open_ = await api.data(INVOICES, {"filter": {"status": ["OPEN"]}})
    assert open_["invoices"]["edges"] == []


async def test_revenue_counts_paid_refunded_and_mrr(api: Any, runtime: Any) -> None:
    await buy(api, runtime, "u1", "pro", priceId="pro-monthly")  # $19 a month
    await buy(api, runtime, "u2", "pro", priceId="pro-yearly")  # $190 a year: $15.83 a month
    await buy(api, runtime, "u3", "credit-pack")  # $5 once
    charges = (await api.data(TRANSACTIONS, {"filter": {"customer": {
        "type": "USER", "customerId": "u3"}}}))["transactions"]["edges"]
    refund = await api.data(REFUND, {"input": {"transactionId": charges[0]["node"]["id"],
                                               "amount": 200}})
    assert refund["refundTransaction"]["userErrors"] == []

    now = runtime.clock.now()
    report = (await api.data(REVENUE, {"from": (now - timedelta(days=29)).isoformat(),
                                       "to": (now + timedelta(hours=1)).isoformat()}))["revenue"]
    assert (report["paid"], report["refunded"], report["net"]) == (1900 + 19000 + 500, 200, 21200)
    assert report["mrr"] == 1900 + 1583  # 19000 / 12 = 1583.33, rounded once over the sum
    assert (report["activeSubscriptions"], report["newSubscriptions"]) == (2, 2)
    assert len(report["days"]) == 30 and report["days"][-1]["net"] == 21200
    assert all(day["net"] == 0 for day in report["days"][:-1])

    body = await api(REVENUE, {"from": now.isoformat(), "to": (now - timedelta(days=1)).isoformat()})
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_payouts_are_empty_in_test_mode(api: Any) -> None:
    data = await api.data("{ payouts(first: 5) { edges { node { id } } pageInfo { hasNextPage } } }")
    assert data["payouts"] == {"edges": [], "pageInfo": {"hasNextPage": False}}


async def test_every_secret_key_write_is_an_operator_action(api: Any) -> None:
    user = {"type": "USER", "customerId": "u-logged"}
    await api.data(INCREASE, {"input": {"customer": user, "itemId": "credits", "amount": 5}})
    await api.data(INCREASE, {"input": {"customer": user, "itemId": "nope", "amount": 5}})
    await api.data(REFUND, {"input": {"transactionId": "999999"}})
    actions = [e["node"] for e in (await api.data(ACTIONS))["operatorActions"]["edges"]]
    assert [(a["action"], a["target"], a["outcome"]) for a in actions] == [
        ("refundTransaction", "999999", "INVALID_INPUT"),
        ("increaseItemQuantity", "USER:u-logged", "ITEM_NOT_FOUND"),
        ("increaseItemQuantity", "USER:u-logged", "ok"),
    ]
    assert {a["keyFingerprint"] for a in actions} == {"…_key"}  # sk_test_server_key
    assert {a["via"] for a in actions} == {"graphql"}


async def test_customer_tokens_writes_and_reads_are_not_operator_actions(api: Any) -> None:
    client = api.as_user("u1")
    body = await client(CHECKOUT, {"input": {"customer": {"type": "USER", "customerId": "u1"},
                                             "productId": "credit-pack", "returnUrl": RETURN_URL}})
    assert body["data"]["createCheckoutUrl"]["userErrors"] == []
    assert (await api.data(ACTIONS))["operatorActions"]["edges"] == []
    for query in (ACTIONS, TRANSACTIONS, "{ payouts { edges { node { id } } } }"):
        denied = await client(query)
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


SETTINGS = f"""mutation ($input: UpdatePaymentSettingsInput!) {{
  updatePaymentSettings(input: $input) {{
    settings {{ paymentMethodTypes seller {{ name email taxId
      address {{ line1 city postalCode country }} }} }}
    {ERRORS} }} }}"""


async def test_seller_details_and_payment_method_types(api: Any) -> None:
    data = await api.data(SETTINGS, {"input": {
        "sellerName": "Acme GmbH", "sellerEmail": "billing@acme.example",
        "sellerAddress": {"line1": "Hauptstr. 1", "city": "Berlin", "postalCode": "10115",
                          "country": "de"},
        "sellerTaxId": "DE123456789", "paymentMethodTypes": ["card", "sepa_debit"]}})
    settings = data["updatePaymentSettings"]["settings"]
    assert settings["seller"] == {"name": "Acme GmbH", "email": "billing@acme.example",
                                  "taxId": "DE123456789",
                                  "address": {"line1": "Hauptstr. 1", "city": "Berlin",
                                              "postalCode": "10115", "country": "DE"}}
    assert settings["paymentMethodTypes"] == ["card", "sepa_debit"]

    # Only what is given changes; "" clears a part.
    data = await api.data(SETTINGS, {"input": {"sellerTaxId": ""}})
    seller = data["updatePaymentSettings"]["settings"]["seller"]
    assert (seller["name"], seller["taxId"]) == ("Acme GmbH", None)

    for bad, field in (({"sellerEmail": "not an email"}, ["sellerEmail"]),
                       ({"sellerAddress": {"country": "Germany"}}, ["sellerAddress", "country"]),
                       ({"paymentMethodTypes": ["sepa_debit"]}, ["paymentMethodTypes"])):
        errors = (await api.data(SETTINGS, {"input": bad}))["updatePaymentSettings"]["userErrors"]
        assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", field)]
    unchanged = (await api.data(SETTINGS, {"input": {}}))["updatePaymentSettings"]["settings"]
    assert unchanged["paymentMethodTypes"] == ["card", "sepa_debit"]
