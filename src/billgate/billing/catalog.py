"""Catalog service: apply a catalog file, upsert single entries, and read the catalog.

Applying is idempotent: entries equal to what is stored are left untouched (no write, no
``updated_at`` change). Entries missing from the file are kept unless the caller prunes
(``catalog apply --prune``): a file applied at every start must not archive products made
through the API since. Pruned entries are archived, never deleted, so what customers
already own keeps pointing at a real row; an archived entry that reappears in a file is
restored.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, func, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import writes
from billgate.billing.catalog_spec import (
    CatalogSpec,
    CatalogView,
    ItemSpec,
    ProductLineSpec,
    ProductSpec,
    check_references,
)
from billgate.db.engine import Database
from billgate.db.models import AppSetting, ItemDefinition, Product, ProductLine
from billgate.db.upsert import insert_ignore
from billgate.errors import CatalogError, raise_all
from billgate.types import CustomerType


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # Live entries missing from the file, left as they are (no prune).
    kept: list[str] = field(default_factory=list)
    # label -> "field: old -> new" lines, for a dry run's diff.
    changes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.archived)

    def summary(self) -> str:
        text = (f"{len(self.created)} created, {len(self.updated)} updated, "
                f"{len(self.archived)} archived, {len(self.unchanged)} unchanged")
        if self.kept:
            text += f"; {len(self.kept)} not in the file, kept (--prune archives them)"
        return text


def product_spec(row: Product) -> ProductSpec:
    return ProductSpec(
        product_id=row.product_id,
        display_name=row.display_name,
        customer_type=CustomerType(row.customer_type),
        product_line_id=row.product_line_id,
        prices=list(row.prices or []),
        included_items=list(row.included_items or []),
        free_trial=row.free_trial,
        is_add_on_to=list(row.is_add_on_to or []),
        server_only=row.server_only,
        stackable=row.stackable,
        included_by_default=row.included_by_default,
        overage=list(row.overage or []),
    )


def _product_values(spec: ProductSpec) -> dict[str, object]:
    return {
        "display_name": spec.display_name,
        "customer_type": spec.customer_type.value,
        "product_line_id": spec.product_line_id,
        "prices": spec.prices,
        "included_items": spec.included_items,
        "free_trial": spec.free_trial,
        "is_add_on_to": spec.is_add_on_to,
        "server_only": spec.server_only,
        "stackable": spec.stackable,
        "included_by_default": spec.included_by_default,
        "overage": spec.overage or None,
    }


def _named_values(spec: ItemSpec | ProductLineSpec) -> dict[str, object]:
    values: dict[str, object] = {"display_name": spec.display_name,
                                 "customer_type": spec.customer_type.value}
    if isinstance(spec, ItemSpec):
        values["low_balance_thresholds"] = list(spec.low_balance_thresholds)
    return values


CatalogRow = ItemDefinition | ProductLine | Product


def _sync(row: CatalogRow, values: dict[str, object], archived_at: datetime | None) -> list[str]:
    """Copy ``values`` onto ``row``; what differed, as "field: old -> new" lines."""
    changes = []
    for name, value in values.items():
        old = getattr(row, name)
        if old != value:
            setattr(row, name, value)
            changes.append(f"{_camel(name)}: {old!r} -> {value!r}")
    if row.archived_at is not None and archived_at is None:
        row.archived_at = None
        changes.append("restored (was archived)")
    return changes


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


async def apply_catalog(session: AsyncSession, spec: CatalogSpec, *, now: datetime,
                        prune: bool = False) -> ApplyReport:
    """Make the stored catalog match ``spec`` (already validated by ``parse_catalog``):
    create and update its entries; archive live entries missing from it only if ``prune``."""
    report = ApplyReport()
    items = {r.item_id: r for r in (await session.scalars(select(ItemDefinition))).all()}
    lines = {r.product_line_id: r for r in (await session.scalars(select(ProductLine))).all()}
    products = {r.product_id: r for r in (await session.scalars(select(Product))).all()}

    _check_type_changes(spec, items, lines, products)
    for item in spec.items:
        _upsert_row(session, report, f"item {item.item_id}", items.get(item.item_id),
                    lambda i=item: ItemDefinition(item_id=i.item_id), _named_values(item))
    for line in spec.product_lines:
        _upsert_row(session, report, f"product line {line.product_line_id}",
                    lines.get(line.product_line_id),
                    lambda pl=line: ProductLine(product_line_id=pl.product_line_id),
                    _named_values(line))
    await session.flush()  # lines must exist before products point at them
    for product in spec.products:
        _upsert_row(session, report, f"product {product.product_id}",
                    products.get(product.product_id),
                    lambda p=product: Product(product_id=p.product_id), _product_values(product))

    for kind, rows, keep in (("product", products, {p.product_id for p in spec.products}),
                             ("product line", lines, {p.product_line_id for p in spec.product_lines}),
                             ("item", items, {i.item_id for i in spec.items})):
        _archive_missing(report, kind, rows, keep, now, prune=prune)
    await session.flush()
    if report.changed:
        await bump_version(session)
    return report


def _upsert_row(session: AsyncSession, report: ApplyReport, label: str, row: CatalogRow | None,
                make: object, values: dict[str, object]) -> None:
    if row is None:
        new_row = make()  # type: ignore[operator]
        for name, value in values.items():
            setattr(new_row, name, value)
        session.add(new_row)
        report.created.append(label)
    elif changes := _sync(row, values, archived_at=None):
        report.updated.append(label)
        report.changes[label] = changes
    else:
        report.unchanged.append(label)


def _archive_missing(report: ApplyReport, kind: str, rows: Mapping[str, CatalogRow], keep: set[str],
                     now: datetime, *, prune: bool) -> None:
    for key, row in rows.items():
        if key not in keep and row.archived_at is None:
            if prune:
                row.archived_at = now
                report.archived.append(f"{kind} {key}")
            else:
                report.kept.append(f"{kind} {key}")


def _check_type_changes(spec: CatalogSpec, items: dict[str, ItemDefinition],
                        lines: dict[str, ProductLine], products: dict[str, Product]) -> None:
    """Changing an entry's customer type would strand what customers already own. Every
    such change is reported at once."""
    errors: list[CatalogError] = []
    for kind, new, old in (
        ("item", {i.item_id: i.customer_type for i in spec.items}, items),
        ("product line", {p.product_line_id: p.customer_type for p in spec.product_lines}, lines),
        ("product", {p.product_id: p.customer_type for p in spec.products}, products),
    ):
        for key, customer_type in new.items():
            row = old.get(key)
            if row is not None and row.customer_type != customer_type.value:
                errors.append(CatalogError(
                    f"{kind} {key!r}: customerType: cannot change from "
                    f"{row.customer_type} to {customer_type.value} "
                    "(customers may already own it); use a new id",
                    field=["customerType"],
                ))
    raise_all(errors)


async def catalog_size(session: AsyncSession) -> int:
    """How many catalog entries exist, archived ones included (0: a new database)."""
    total = 0
    for model in (ItemDefinition, ProductLine, Product):
        total += await session.scalar(select(func.count()).select_from(model)) or 0
    return total


async def catalog_view(session: AsyncSession) -> CatalogView:
    """The live (unarchived) catalog, for checking references of a single upsert."""
    items = await session.scalars(select(ItemDefinition).where(ItemDefinition.archived_at.is_(None)))
    lines = await session.scalars(select(ProductLine).where(ProductLine.archived_at.is_(None)))
    products = await session.scalars(select(Product).where(Product.archived_at.is_(None)))
    return CatalogView(
        items={r.item_id: CustomerType(r.customer_type) for r in items},
        product_lines={r.product_line_id: CustomerType(r.customer_type) for r in lines},
        products={r.product_id: product_spec(r) for r in products},
    )


async def upsert_item(session: AsyncSession, spec: ItemSpec) -> ItemDefinition:
    row = await session.scalar(select(ItemDefinition).where(ItemDefinition.item_id == spec.item_id))
    _check_type_changes(CatalogSpec(items=[spec]), {spec.item_id: row} if row else {}, {}, {})
    if row is None:
        row = ItemDefinition(item_id=spec.item_id)
        session.add(row)
    _sync(row, _named_values(spec), archived_at=None)
    await session.flush()
    await bump_version(session)
    return row


async def upsert_product_line(session: AsyncSession, spec: ProductLineSpec) -> ProductLine:
    row = await session.scalar(
        select(ProductLine).where(ProductLine.product_line_id == spec.product_line_id)
    )
    _check_type_changes(CatalogSpec(product_lines=[spec]), {},
                        {spec.product_line_id: row} if row else {}, {})
    if row is None:
        row = ProductLine(product_line_id=spec.product_line_id)
        session.add(row)
    _sync(row, _named_values(spec), archived_at=None)
    await session.flush()
    await bump_version(session)
    return row


async def upsert_product(session: AsyncSession, spec: ProductSpec) -> Product:
    """Create or replace one product after checking it against the live catalog."""
    view = await catalog_view(session)
    check_references(spec, CatalogView(view.items, view.product_lines,
                                       {**view.products, spec.product_id: spec}))
    row = await session.scalar(select(Product).where(Product.product_id == spec.product_id))
    _check_type_changes(CatalogSpec(products=[spec]), {}, {},
                        {spec.product_id: row} if row else {})
    if row is None:
        row = Product(product_id=spec.product_id)
        session.add(row)
    _sync(row, _product_values(spec), archived_at=None)
    await session.flush()
    await bump_version(session)
    return row


# The catalog version ------------------------------------------------------------------------

VERSION_KEY = "catalog.version"


async def bump_version(session: AsyncSession) -> None:
    """Every catalog write (item, product line, product, ``catalog apply``) gives the
    catalog a new version (a random token, not a counter, so two concurrent writers never
    agree on one), in the writer's transaction. Customers whose ``included_version`` differs
    get their include-by-default products checked again on their next reference
    (``purchases/fulfil.ensure_included``), and cached catalog responses are stale
    (``graphql/catalog_cache.py``)."""
    token = uuid.uuid4().hex
    table: Any = AppSetting.__table__
    await insert_ignore(session, table, {"key": VERSION_KEY, "value": token}, ["key"])
    await session.execute(update(AppSetting).where(AppSetting.key == VERSION_KEY)
                          .values(value=token))


async def catalog_version(session: AsyncSession) -> str | None:
    value = await session.scalar(select(AppSetting.value).where(AppSetting.key == VERSION_KEY))
    return None if value is None else str(value)


def version_statement() -> Any:
    """The catalog version as a scalar subquery (joined into the customer read)."""
    return select(AppSetting.value).where(AppSetting.key == VERSION_KEY).scalar_subquery()


def version_text_statement() -> Any:
    """PostgreSQL: the catalog version as text (the JSON string's value), to compare with a
    customer's ``included_version`` inside a statement."""
    return (select(AppSetting.value.op("#>>")(literal_column("'{}'")))
            .where(AppSetting.key == VERSION_KEY).scalar_subquery())


# Reads -------------------------------------------------------------------------------------


def products_statement(*, customer_type: CustomerType | None = None,
                       include_server_only: bool = False) -> Select[Product]:
    """Live products, ordered by ``product_id`` (the keyset key)."""
    stmt = select(Product).where(Product.archived_at.is_(None)).order_by(Product.product_id)
    if customer_type is not None:
        stmt = stmt.where(Product.customer_type == customer_type.value)
    if not include_server_only:
        stmt = stmt.where(Product.server_only.is_(False))
    return stmt


async def list_products_page(session: AsyncSession, *, after: str | None, limit: int,
                             customer_type: CustomerType | None = None,
                             include_server_only: bool = False) -> Sequence[Product]:
    """One keyset page: products whose id sorts after ``after``; ``limit`` rows at most."""
    stmt = products_statement(customer_type=customer_type, include_server_only=include_server_only)
    if after is not None:
        stmt = stmt.where(Product.product_id > after)
    return (await session.scalars(stmt.limit(limit))).all()


def visible_to(row: Product | None, *, by_server: bool) -> bool:
    """Whether a caller sees this catalog product: never once archived; a server-only one
    only by server callers (the seed's "hide the product from client SDK responses")."""
    if row is None or row.archived_at is not None:
        return False
    return by_server or not row.server_only


def visible_prices(prices: Sequence[dict[str, Any]] | None, *,
                   by_server: bool) -> list[dict[str, Any]]:
    """The prices of a product a caller sees: server-only prices only by server callers."""
    return [p for p in prices or [] if by_server or not p.get("serverOnly")]


async def get_product(session: AsyncSession, product_id: str, *,
                      include_archived: bool = False) -> Product | None:
    stmt = select(Product).where(Product.product_id == product_id)
    if not include_archived:
        stmt = stmt.where(Product.archived_at.is_(None))
    return await session.scalar(stmt)


async def list_products_in_lines(session: AsyncSession, line_ids: Sequence[str]) -> Sequence[Product]:
    stmt = products_statement(include_server_only=True).where(Product.product_line_id.in_(line_ids))
    return (await session.scalars(stmt)).all()


async def list_products_by_ids(session: AsyncSession, product_ids: Sequence[str]) -> Sequence[Product]:
    stmt = select(Product).where(Product.product_id.in_(product_ids))
    return (await session.scalars(stmt)).all()


async def list_product_lines(session: AsyncSession) -> Sequence[ProductLine]:
    stmt = (select(ProductLine).where(ProductLine.archived_at.is_(None))
            .order_by(ProductLine.product_line_id))
    return (await session.scalars(stmt)).all()


async def list_item_definitions(session: AsyncSession, *, customer_type: CustomerType | None = None,
                                include_archived: bool = False) -> Sequence[ItemDefinition]:
    stmt = select(ItemDefinition).order_by(ItemDefinition.item_id)
    if not include_archived:
        stmt = stmt.where(ItemDefinition.archived_at.is_(None))
    if customer_type is not None:
        stmt = stmt.where(ItemDefinition.customer_type == customer_type.value)
    return (await session.scalars(stmt)).all()


async def get_item_definition(session: AsyncSession, item_id: str) -> ItemDefinition | None:
    return await session.scalar(
        select(ItemDefinition).where(ItemDefinition.item_id == item_id,
                                     ItemDefinition.archived_at.is_(None))
    )


async def export_catalog(session: AsyncSession) -> dict[str, object]:
    """The live catalog in the catalog-file format (amounts back as decimal strings)."""
    from billgate.money import from_minor

    def price_doc(price: dict[str, object]) -> dict[str, object]:
        amounts = price["amounts"]
        assert isinstance(amounts, dict)
        doc = {**price, "amounts": {c: from_minor(m, c) for c, m in amounts.items()}}
        return {k: v for k, v in doc.items() if v not in (None, False)}

    products = (await session.scalars(products_statement(include_server_only=True))).all()
    return {
        "items": [{"itemId": i.item_id, "displayName": i.display_name,
                   "customerType": i.customer_type,
                   **({"lowBalanceThresholds": list(i.low_balance_thresholds)}
                      if i.low_balance_thresholds else {})}
                  for i in await list_item_definitions(session)],
        "productLines": [{"productLineId": p.product_line_id, "displayName": p.display_name,
                          "customerType": p.customer_type}
                         for p in await list_product_lines(session)],
        "products": [
            {k: v for k, v in {**product_spec(p).as_document(),
                               "prices": [price_doc(x) for x in p.prices],
                               "overage": [{**o, "unitAmounts": {
                                   c: from_minor(m, c) for c, m in o["unitAmounts"].items()}}
                                   for o in p.overage or []]}.items()
             if v not in (None, False, [])}
            for p in products
        ],
    }


S = TypeVar("S")
R = TypeVar("R")


async def save(db: Database, upsert: Callable[[AsyncSession, S], Awaitable[R]], spec: S) -> R:
    """One catalog write (``upsert_item``, ``upsert_product_line``, ``upsert_product``) in
    its own transaction: what the GraphQL catalog mutations call."""
    return await writes.apart(db, lambda session: upsert(session, spec))


def upsert_for(spec: ItemSpec | ProductLineSpec | ProductSpec) -> Callable[[AsyncSession, Any],
                                                                            Awaitable[CatalogRow]]:
    """The upsert that stores ``spec``'s kind of entry."""
    if isinstance(spec, ItemSpec):
        return upsert_item
    if isinstance(spec, ProductLineSpec):
        return upsert_product_line
    return upsert_product


async def preview(db: Database, upsert: Callable[[AsyncSession, S], Awaitable[R]], spec: S) -> None:
    """Run the upsert with every check it makes, then roll it back: what saving would
    refuse, refused the same way, and nothing written (the console's preview)."""
    await writes.rolled_back(db, lambda session: upsert(session, spec))
