"""REST purchase, product, switch, invoice and billing endpoints through the ASGI app:
each answers what its GraphQL twin answers, with the same rules and error codes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from rest_testing import RETURN_URL, Rest, counts, error

from billgate.billing.purchases import service

pytestmark = [pytest.mark.usefixtures("example_catalog"),
              pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")]

GRANT = """mutation ($input: GrantProductInput!) { grantProduct(input: $input) { userErrors { code } } }"""
SET_CARD = """mutation ($input: SetTestPaymentMethodInput!) {
  setTestPaymentMethod(input: $input) { userErrors { code } } }"""
INLINE = {"display_name": "Bonus Credits", "customer_type": "user", "server_only": True,
          "prices": {"once": {"USD": "5.00"}}, "included_items": {"credits": {"quantity": 100}}}


async def purchase_url(rest: Rest, **body: Any) -> Any:
    return await rest.post("/purchases/create-purchase-url",
                           {"customer_type": "user", "customer_id": "u1", **body})


async def buy(rest: Rest, runtime: Any, product_id: str, **body: Any) -> str:
    response = await purchase_url(rest, product_id=product_id, return_url=RETURN_URL, **body)
    assert response.status_code == 200, response.text
    code = response.json()["url"].rsplit("/", 1)[-1]
    await service.complete_checkout(runtime.db, code, rails=runtime.test_rails,
                                    clock=runtime.clock, test_mode=True, bus=runtime.bus)
    return code


async def grant(api: Any, product_id: str, customer_id: str = "u1", kind: str = "USER") -> None:
    data = await api.data(GRANT, {"input": {"customer": {"type": kind, "customerId": customer_id},
                                            "productId": product_id}})
    assert data["grantProduct"]["userErrors"] == []


async def test_a_user_buys_through_a_purchase_url(rest: Rest, runtime) -> None:  # noqa: ANN001
    user = rest.as_user("u1")
    await buy(user, runtime, "pro", price_id="pro-monthly")
    products = (await user.get("/products/user/u1")).json()["items"]
    pro = next(p for p in products if p["id"] == "pro")
    assert pro["type"] == "subscription" and pro["quantity"] == 1
    assert pro["subscription"]["status"] == "active" and pro["subscription"]["has_access"]
    assert [o["id"] for o in pro["switch_options"]] == ["enterprise"]
    assert await user.quantity() == 1000


async def test_without_a_return_url_the_page_ends_on_payment_complete(rest: Rest) -> None:
    response = await purchase_url(rest.as_user("u1"), product_id="credit-pack")
    assert response.status_code == 200, response.text
    url = response.json()["url"]
    code = url.rsplit("/", 1)[-1]
    assert url == f"http://127.0.0.1:8000/checkout/{code}"
    done = await rest.client.post(f"/checkout/{code}/complete")
    assert done.status_code == 303 and done.headers["location"] == f"/checkout/{code}/done"
    page = await rest.client.get(done.headers["location"])
    assert page.status_code == 200 and "Payment complete" in page.text
    assert await rest.quantity() == 100 + 500  # Free's credits and the pack's


async def test_purchase_url_refusals(rest: Rest, db) -> None:  # noqa: ANN001
    user = rest.as_user("u1", teams={"t1": "member", "t2": "admin"})
    await user.quantity()
    before = await counts(db)
    message = error(await purchase_url(user), 400, "INVALID_INPUT", "product_id")
    assert message == "Must specify either product_id or product_inline"
    error(await purchase_url(user, product_id="nope"), 404, "PRODUCT_NOT_FOUND", "product_id")
    error(await purchase_url(user, product_id="pro", return_url="https://evil.example/"),
          400, "RETURN_URL_NOT_ALLOWED", "return_url")
    error(await purchase_url(user, product_id="pro", customer_type="org"),
          400, "INVALID_INPUT", "customer_type")
    error(await purchase_url(user, product_id="pro", customer_id="u2"), 403, "FORBIDDEN")
    error(await purchase_url(user, product_id="team", customer_type="team", customer_id="t1"),
          403, "FORBIDDEN")
    error(await purchase_url(user, product_inline=INLINE), 403, "FORBIDDEN", "product_inline")
    error(await purchase_url(user, product_id="pro", price_id="pro-monthly", quantity=2), 400,
          "INVALID_INPUT",
          "quantity")  # Pro's recurring prices have quantityMax 1
    assert await counts(db) == before
    team = await purchase_url(user, product_id="team", customer_type="team", customer_id="t2",
                              return_url=RETURN_URL)
    assert team.status_code == 200, team.text


async def test_inline_products_in_the_stack_auth_shape(rest: Rest, runtime, db) -> None:  # noqa: ANN001
    response = await purchase_url(rest, product_inline=INLINE, return_url=RETURN_URL)
    assert response.status_code == 200, response.text
    code = response.json()["url"].rsplit("/", 1)[-1]
    await service.complete_checkout(runtime.db, code, rails=runtime.test_rails,
                                    clock=runtime.clock, test_mode=True, bus=runtime.bus)
    assert await rest.quantity() == 200
    before = await counts(db)
    bad = {**INLINE, "prices": {"once": {"USD": "5.001"}}}
    error(await purchase_url(rest, product_inline=bad), 400, "INVALID_INPUT")
    unknown = {**INLINE, "prices": {"once": {"XYZ": "5"}}}
    error(await purchase_url(rest, product_inline=unknown), 400, "INVALID_INPUT",
          "product_inline.prices.once.XYZ")
    assert await counts(db) == before


async def test_products_hide_server_only_ones_from_clients(rest: Rest, api, runtime) -> None:  # noqa: ANN001
    await grant(api, "internal-grant")
    await buy(rest, runtime, "credit-pack")
    await buy(rest, runtime, "credit-pack")
    server = {p["id"]: p for p in (await rest.get("/products/user/u1")).json()["items"]}
    client = {p["id"]: p for p in (await rest.as_user("u1").get("/products/user/u1")).json()["items"]}
    assert set(server) == {"free", "credit-pack", "internal-grant"}
    assert set(client) == {"free", "credit-pack"}
    assert client["credit-pack"] == {"id": "credit-pack", "display_name": "500 credits",
                                     "quantity": 2, "type": "one_time",
                                     "included_by_default": False, "subscription": None,
                                     "switch_options": []}
    assert client["free"]["type"] == "one_time" and client["free"]["included_by_default"]
    error(await rest.as_user("u2").get("/products/user/u1"), 403, "FORBIDDEN")


async def test_switch_a_plan(rest: Rest, runtime) -> None:  # noqa: ANN001
    user = rest.as_user("u1")
    await buy(user, runtime, "pro", price_id="pro-monthly")
    response = await user.post("/products/user/u1/switch",
                               {"from_product_id": "pro", "to_product_id": "enterprise"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["subscription"]["product_id"] == "enterprise"
    owned = {p["id"] for p in (await user.get("/products/user/u1")).json()["items"]}
    assert "enterprise" in owned and "pro" not in owned
    error(await user.post("/products/user/u1/switch",
                          {"from_product_id": "pro", "to_product_id": "enterprise"}),
          400, "SUBSCRIPTION_NOT_FOUND")
    error(await user.post("/products/user/u1/switch",
                          {"from_product_id": "enterprise", "to_product_id": "nope"}),
          404, "PRODUCT_NOT_FOUND")
    error(await user.post("/products/user/u1/switch", {"from_product_id": "enterprise"}),
          400, "INVALID_INPUT", "to_product_id")
    member = rest.as_user("u9", teams={"t1": "member"})
    error(await member.post("/products/team/t1/switch",
                            {"from_product_id": "team", "to_product_id": "team"}), 403, "FORBIDDEN")


async def test_invoices_page_newest_first(rest: Rest, runtime) -> None:  # noqa: ANN001
    user = rest.as_user("u1")
    await buy(user, runtime, "pro", price_id="pro-monthly")
    await buy(user, runtime, "credit-pack")
    first = (await user.get("/invoices/user/u1", limit=1)).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    invoice = first["items"][0]
    assert invoice["status"] == "paid" and invoice["amount_total"] == 500
    assert invoice["currency"] == "USD"
    assert invoice["hosted_invoice_url"].startswith("http://127.0.0.1:8000/invoices/")
    assert invoice["pdf_url"] == invoice["hosted_invoice_url"] + "/pdf"
    assert re.fullmatch(r"INV-\d{4}-000002", invoice["number"]), "the second invoice issued"
    second = (await user.get("/invoices/user/u1", limit=1, cursor=first["next_cursor"])).json()
    assert [i["amount_total"] for i in second["items"]] == [1900] and second["next_cursor"] is None
    assert (await user.get("/invoices/user/u2-never-seen")).status_code == 403
    assert (await rest.get("/invoices/user/never-seen")).json() == {"items": [], "next_cursor": None}
    error(await user.get("/invoices/user/u1", cursor="abc"), 400, "INVALID_INPUT", "cursor")
    error(await user.get("/invoices/user/u1", limit=0), 400, "INVALID_INPUT", "limit")
    error(await user.get("/invoices/user/u1", limit="ten"), 400, "INVALID_INPUT", "limit")


async def test_billing(rest: Rest, api) -> None:  # noqa: ANN001
    user = rest.as_user("u1", teams={"t1": "member"})
    assert (await user.get("/billing/user/u1")).json() == {"has_customer": False,
                                                           "default_payment_method": None}
    data = await api.data(SET_CARD, {"input": {"customer": {"type": "USER", "customerId": "u1"},
                                               "cardNumber": "4242424242424242"}})
    assert data["setTestPaymentMethod"]["userErrors"] == []
    billing = (await user.get("/billing/user/u1")).json()
    assert billing["default_payment_method"]["last4"] == "4242"
    error(await user.get("/billing/team/t1"), 403, "FORBIDDEN")


async def test_custom_customers_get_invoices_and_billing_a_superset_of_the_guide(
        rest: Rest, runtime) -> None:  # noqa: ANN001
    """The Stack Auth guide: custom customers "do not support billing or invoices". billgate
    keeps the superset (README, customer types): a secret key may sell to them, and their
    invoices and billing read like anyone's; customer tokens never reach them."""
    product = {"display_name": "Integration", "customer_type": "custom",
               "prices": {"once": {"USD": "5.00"}}}
    response = await rest.post("/purchases/create-purchase-url", {
        "customer_type": "custom", "customer_id": "c1", "product_inline": product})
    assert response.status_code == 200, response.text
    await service.complete_checkout(runtime.db, response.json()["url"].rsplit("/", 1)[-1],
                                    rails=runtime.test_rails, clock=runtime.clock,
                                    test_mode=True, bus=runtime.bus)
    invoices = (await rest.get("/invoices/custom/c1")).json()["items"]
    assert [(i["status"], i["amount_total"]) for i in invoices] == [("paid", 500)]
    assert (await rest.get("/billing/custom/c1")).status_code == 200
    client = rest.as_user("c1")
    error(await client.get("/invoices/custom/c1"), 403, "FORBIDDEN")
    error(await client.get("/billing/custom/c1"), 403, "FORBIDDEN")


async def test_a_declined_switch_is_402_and_changes_nothing(rest: Rest, api, runtime) -> None:  # noqa: ANN001
    user = rest.as_user("u1")
    await buy(user, runtime, "pro", price_id="pro-monthly")
    data = await api.data(SET_CARD, {"input": {"customer": {"type": "USER", "customerId": "u1"},
                                               "cardNumber": "4000000000000002"}})
    assert data["setTestPaymentMethod"]["userErrors"] == []
    response = await user.post("/products/user/u1/switch",
                               {"from_product_id": "pro", "to_product_id": "enterprise"})
    error(response, 402, "PAYMENT_FAILED")
    owned = {p["id"] for p in (await user.get("/products/user/u1")).json()["items"]}
    assert "pro" in owned and "enterprise" not in owned
