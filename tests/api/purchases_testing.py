"""Operations and helpers shared by the purchase and grant API tests.

Checkouts are completed through the billing service (the hosted page that calls it is
tested in tests/web/), with the runtime's test rails, clock and event publisher.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from billgate.billing.purchases import fulfil, service
from billgate.db.engine import Database
from billgate.db.models import (
    CheckoutSession,
    Customer,
    Invoice,
    ItemBalance,
    ItemChange,
    ItemGrant,
    ItemSchedule,
    Purchase,
    Transaction,
)

USER = {"type": "USER", "customerId": "u1"}
OTHER_USER = {"type": "USER", "customerId": "u2"}
TEAM = {"type": "TEAM", "customerId": "t1"}
RETURN_URL = "https://app.example.com/billing/done"

USER_ERRORS = "userErrors { code message field }"

CREATE_CHECKOUT = f"""
mutation ($input: CreateCheckoutUrlInput!) {{
  createCheckoutUrl(input: $input) {{ url {USER_ERRORS} }}
}}
"""

SUBSCRIPTION_FIELDS = """
  id status productId priceId quantity cancelAtPeriodEnd hasAccess
  currentPeriodStart currentPeriodEnd canceledAt endedAt trialEndsAt createdAt
  product { productId displayName }
  price { priceId amounts { currency minorUnits } interval { unit count } }
"""

OWNED_FIELDS = f"""
  productId displayName quantity type
  subscription {{ {SUBSCRIPTION_FIELDS} }}
  switchOptions {{ productId }}
"""

GRANT_PRODUCT = f"""
mutation ($input: GrantProductInput!) {{
  grantProduct(input: $input) {{
    ownedProduct {{ {OWNED_FIELDS} }}
    subscription {{ {SUBSCRIPTION_FIELDS} }}
    {USER_ERRORS}
  }}
}}
"""

OWNED_PRODUCTS = f"""
query ($customer: CustomerRef!) {{
  customer(customer: $customer) {{
    products(first: 100) {{ edges {{ node {{ {OWNED_FIELDS} }} }} }}
  }}
}}
"""

SUBSCRIPTIONS = f"""
query ($customer: CustomerRef!, $status: [SubscriptionStatus!]) {{
  customer(customer: $customer) {{
    subscriptions(first: 100, status: $status) {{ edges {{ node {{ {SUBSCRIPTION_FIELDS} }} }} }}
  }}
}}
"""

ITEM = """
query ($customer: CustomerRef!, $itemId: String!) {
  customer(customer: $customer) {
    item(itemId: $itemId) {
      quantity
      changes(first: 100) { edges { node { delta quantityAfter reason expiresAt createdAt } } }
    }
  }
}
"""

HAS_ACCESS = """
query ($customer: CustomerRef!, $productId: String!) {
  customer(customer: $customer) { hasAccess(productId: $productId) }
}
"""

UPDATE_PAYMENT_SETTINGS = f"""
mutation ($input: UpdatePaymentSettingsInput!) {{
  updatePaymentSettings(input: $input) {{ settings {{ blockNewPurchases }} {USER_ERRORS} }}
}}
"""

UPSERT_PRODUCT = f"""
mutation ($input: UpsertProductInput!) {{
  upsertProduct(input: $input) {{ product {{ productId }} {USER_ERRORS} }}
}}
"""


# Calls -----------------------------------------------------------------------------------------


async def create_checkout(api: Any, product_id: str | None = None, *,
                          customer: dict[str, str] = USER, **fields: Any) -> dict[str, Any]:
    """The createCheckoutUrl payload (``url`` and ``userErrors``)."""
    payload = {"customer": customer, "returnUrl": RETURN_URL, **fields}
    if product_id is not None:
        payload["productId"] = product_id
    data = await api.data(CREATE_CHECKOUT, {"input": payload})
    return data["createCheckoutUrl"]


async def checkout_code(api: Any, product_id: str | None = None, **fields: Any) -> str:
    """The code of a new checkout link (its last path segment); the link must be created."""
    payload = await create_checkout(api, product_id, **fields)
    assert payload["userErrors"] == [], payload
    return payload["url"].rsplit("/", 1)[-1]


async def complete(runtime: Any, code: str) -> service.Completed:
    return await service.complete_checkout(runtime.db, code, rails=runtime.test_rails,
                                           clock=runtime.clock, test_mode=True,
                                           bus=runtime.bus)


async def buy(api: Any, runtime: Any, product_id: str, **fields: Any) -> service.Completed:
    """Create a checkout and complete it; both must succeed."""
    return await complete(runtime, await checkout_code(api, product_id, **fields))


async def grant(api: Any, product_id: str | None = None, *, customer: dict[str, str] = USER,
                **fields: Any) -> dict[str, Any]:
    """The grantProduct payload."""
    payload = {"customer": customer, **fields}
    if product_id is not None:
        payload["productId"] = product_id
    return (await api.data(GRANT_PRODUCT, {"input": payload}))["grantProduct"]


async def owned(api: Any, customer: dict[str, str] = USER) -> dict[str | None, dict[str, Any]]:
    """customer.products by productId (an inline product under None)."""
    data = await api.data(OWNED_PRODUCTS, {"customer": customer})
    nodes = [edge["node"] for edge in data["customer"]["products"]["edges"]]
    by_id = {node["productId"]: node for node in nodes}
    assert len(by_id) == len(nodes), nodes
    return by_id


async def subscriptions(api: Any, customer: dict[str, str] = USER,
                        status: list[str] | None = None) -> list[dict[str, Any]]:
    data = await api.data(SUBSCRIPTIONS, {"customer": customer, "status": status})
    return [edge["node"] for edge in data["customer"]["subscriptions"]["edges"]]


async def item(api: Any, item_id: str = "credits",
               customer: dict[str, str] = USER) -> dict[str, Any]:
    """The balance and its ledger (``changes`` newest first)."""
    data = await api.data(ITEM, {"customer": customer, "itemId": item_id})
    balance = data["customer"]["item"]
    return {"quantity": balance["quantity"],
            "changes": [edge["node"] for edge in balance["changes"]["edges"]]}


async def balance(api: Any, item_id: str = "credits", customer: dict[str, str] = USER) -> int:
    return (await item(api, item_id, customer))["quantity"]


async def has_access(api: Any, product_id: str, customer: dict[str, str] = USER) -> bool:
    data = await api.data(HAS_ACCESS, {"customer": customer, "productId": product_id})
    return data["customer"]["hasAccess"]


async def block_new_purchases(api: Any, blocked: bool = True) -> None:
    data = await api.data(UPDATE_PAYMENT_SETTINGS, {"input": {"blockNewPurchases": blocked}})
    assert data["updatePaymentSettings"]["userErrors"] == []


async def upsert_product(api: Any, product_id: str, **product: Any) -> None:
    data = await api.data(UPSERT_PRODUCT, {"input": {"productId": product_id, "product": product}})
    assert data["upsertProduct"]["userErrors"] == [], data


async def end_plan(runtime: Any, product_id: str, status: str = "CANCELED") -> None:
    """End the customer's live purchase of ``product_id`` now, as a cancellation or refund
    would (``fulfil.end``), and publish what it changed."""
    from billgate.billing import unit_of_work

    async with runtime.db.read_session() as session:
        purchase = await session.scalar(select(Purchase).where(
            Purchase.product_id == product_id, Purchase.ended_at.is_(None)))
    assert purchase is not None, product_id

    async def work(uow: Any) -> None:
        fresh = await uow.session.get(Purchase, purchase.id, populate_existing=True)
        uow.events += await fulfil.end(uow.session, uow.customer, fresh, now=uow.now,
                                       status=status)

    await unit_of_work.run(runtime.scope(), purchase.customer_pk, work)


def codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["userErrors"]]


# The database, read directly ---------------------------------------------------------------------

TABLES = (Customer, Purchase, Transaction, Invoice, CheckoutSession, ItemChange, ItemGrant,
          ItemSchedule, ItemBalance)


async def footprint(db: Database) -> dict[str, Any]:
    """Every row count, plus the states that an update (not only an insert) would change:
    purchase and checkout statuses, balances, schedules. Equal footprints: nothing written."""
    async with db.read_session() as session:
        counts = {model.__tablename__: await session.scalar(select(func.count()).select_from(model))
                  for model in TABLES}
        purchases = (await session.execute(
            select(Purchase.id, Purchase.status, Purchase.ended_at).order_by(Purchase.id))).all()
        checkouts = (await session.execute(
            select(CheckoutSession.id, CheckoutSession.status, CheckoutSession.purchase_id)
            .order_by(CheckoutSession.id))).all()
        balances = (await session.execute(
            select(ItemBalance.id, ItemBalance.quantity).order_by(ItemBalance.id))).all()
        schedules = (await session.execute(
            select(ItemSchedule.id, ItemSchedule.active, ItemSchedule.next_at)
            .order_by(ItemSchedule.id))).all()
    return {"counts": counts, "purchases": [tuple(r) for r in purchases],
            "checkouts": [tuple(r) for r in checkouts], "balances": [tuple(r) for r in balances],
            "schedules": [tuple(r) for r in schedules]}


async def transactions(db: Database) -> list[Transaction]:
    async with db.read_session() as session:
        return list((await session.scalars(select(Transaction).order_by(Transaction.id))).all())


async def invoices(db: Database) -> list[Invoice]:
    async with db.read_session() as session:
        return list((await session.scalars(select(Invoice).order_by(Invoice.id))).all())
