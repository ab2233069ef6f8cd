"""Every paid invoice queues a receipt: checkout purchases and plan switches too."""

from __future__ import annotations

from sqlalchemy import select

from billgate.billing.purchases import service
from billgate.db.models import EmailOutbox

USER = {"type": "USER", "customerId": "receipt-user"}
EMAIL = ("mutation($c: CustomerRef!) { updateCustomer(input: {customer: $c, "
         "email: \"ada@example.com\"}) { userErrors { code } } }")
CHECKOUT = """mutation($c: CustomerRef!) { createCheckoutUrl(input: {customer: $c, productId: "pro",
  priceId: "pro-monthly", returnUrl: "https://app.example.com/done"}) { url userErrors { code } } }"""
SWITCH = """mutation($c: CustomerRef!) { switchSubscription(input: {customer: $c, fromProductId: "pro",
  toProductId: "enterprise"}) { subscription { productId } userErrors { code message } } }"""


async def _emails(db) -> list[EmailOutbox]:  # noqa: ANN001
    async with db.read_session() as session:
        return list(await session.scalars(select(EmailOutbox).order_by(EmailOutbox.id)))


async def test_a_checkout_purchase_and_an_upgrade_each_queue_a_receipt(api, runtime, db, example_catalog):
    await api.data(EMAIL, {"c": USER})
    url = (await api.data(CHECKOUT, {"c": USER}))["createCheckoutUrl"]["url"]
    await service.complete_checkout(runtime.db, url.rsplit("/", 1)[1], rails=runtime.test_rails,
                                    clock=runtime.clock, test_mode=True, bus=runtime.bus)

    [receipt] = await _emails(db)
    assert (receipt.template, receipt.to_address) == ("payment_receipt", "ada@example.com")
    assert (receipt.context["amount"], receipt.context["currency"]) == ("19.00", "USD")

    assert (await api.data(SWITCH, {"c": USER}))["switchSubscription"]["subscription"] == {
        "productId": "enterprise"}
    emails = await _emails(db)
    assert [e.template for e in emails] == ["payment_receipt", "payment_receipt"]
    assert emails[1].context["amount"] != "0.00"
