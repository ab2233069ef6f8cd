"""What a customer owns, as every API edge lists it (GraphQL ``customer.products``, REST
``GET /api/v1/payments/products/...``): one entry per product, the live subscription of
it, and the plans that subscription may switch to.

Server-only products a customer owns are left out for client callers ("hide the product
from client SDK responses"); ``hasAccess`` still answers for them, so an app can gate a
feature on a product its users cannot see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billgate.billing import catalog
from billgate.billing.purchases import repository, service
from billgate.billing.subscriptions import operations
from billgate.clock import Clock
from billgate.db.engine import Database
from billgate.db.models import Product, Purchase
from billgate.types import CustomerRef


@dataclass
class ProductGroup:
    """The purchases of one product (stackable ones add up); an inline product stands alone."""

    key: str
    purchases: list[Purchase]

    @property
    def quantity(self) -> int:
        return sum(p.quantity for p in self.purchases)

    @property
    def live_subscription(self) -> Purchase | None:
        return next((p for p in self.purchases if p.kind == repository.SUBSCRIPTION), None)


def shown_to(purchase: Purchase, *, by_server: bool) -> bool:
    """Whether a caller sees an owned purchase: server-only products (as sold) only by
    server callers."""
    return by_server or not purchase.product.get("serverOnly")


def group_purchases(owned: Sequence[Purchase]) -> list[ProductGroup]:
    """One entry per product; inline products each stand alone. Sorted by key (the cursor)."""
    groups: dict[str, ProductGroup] = {}
    for purchase in owned:
        key = purchase.product_id or f"~inline-{purchase.id:012d}"
        groups.setdefault(key, ProductGroup(key, [])).purchases.append(purchase)
    return sorted(groups.values(), key=lambda g: g.key)


async def owned_products(db: Database, ref: CustomerRef, *, by_server: bool, clock: Clock,
                         bus: Any = None) -> list[ProductGroup]:
    """What the customer owns now (include-by-default products included; the customer is
    created on this first reference), grouped per product, as this caller may see it."""
    owned = await service.owned_purchases(db, ref, clock=clock, bus=bus)
    return group_purchases([p for p in owned if shown_to(p, by_server=by_server)])


async def switch_options(db: Database, ref: CustomerRef, groups: Sequence[ProductGroup], *,
                         by_server: bool, now: datetime) -> dict[str, list[Product]]:
    """Per product group, exactly the products ``switchSubscription`` accepts from the
    group's live subscription (``operations.switch_targets``) that the caller may see. An
    included, one-time or line-less product has none: a plan is left for another through
    checkout."""
    subs = {g.key: sub for g in groups
            if (sub := g.live_subscription) is not None and sub.product_line_id}
    if not subs:
        return {}
    options: dict[str, list[Product]] = {}
    async with db.read_session() as session:
        rows = await catalog.list_products_in_lines(
            session, sorted({s.product_line_id for s in subs.values() if s.product_line_id}))
        for key, sub in subs.items():
            candidates = [row for row in rows if row.product_line_id == sub.product_line_id]
            accepted = set(await operations.switch_targets(
                session, ref, sub, candidates, by_server=by_server, now=now))
            options[key] = [row for row in candidates if row.product_id in accepted
                            and catalog.visible_to(row, by_server=by_server)]
    return options
