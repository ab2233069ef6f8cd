"""The catalog as data: parsing and validating item definitions, product lines and products.

Pure functions, no database. A catalog file, an admin mutation and an inline product all
pass through here, so every rule is checked the same way and every message names the entry
and field it is about: ``product 'pro': prices[0].amounts.JPY: JPY amounts take no decimals``.

Canonical shapes (stored as JSON on the product and copied into purchase snapshots):

- price: ``{"priceId", "amounts": {"USD": 999}, "interval", "freeTrial", "serverOnly"}``
  with amounts in minor units, and ``"quantityMax"`` only when given (recurring prices: the
  most seats a subscription on it may have; absent, any quantity from 1 up);
- included item: ``{"itemId", "quantity", "repeat", "expires"}``;
- overage (plans only): ``{"itemId", "unitAmounts": {"USD": 2}, "limit"}`` per unit of debt
  in minor units, one amount for each currency of the product's prices;
- interval: ``{"unit": "MONTH", "count": 1}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from billgate.errors import CatalogError, raise_all
from billgate.money import CURRENCY_EXPONENTS, MoneyError, to_minor
from billgate.types import CustomerType, IntervalUnit, ItemExpiry

# fullmatch, not match: "$" would also accept an id ending in a newline.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
T = TypeVar("T")
MAX_INTERVAL_COUNT = 1000
MAX_ITEM_QUANTITY = 2**31 - 1  # what a balance can hold (items.ledger.BALANCE_MAX)


@dataclass(frozen=True)
class ItemSpec:
    item_id: str
    display_name: str
    customer_type: CustomerType
    # ``item.balance_low`` fires when a change takes the balance from above one of these to
    # at or below it. Kept sorted, highest first, without repeats.
    low_balance_thresholds: tuple[int, ...] = ()


@dataclass(frozen=True)
class ProductLineSpec:
    product_line_id: str
    display_name: str
    customer_type: CustomerType


@dataclass(frozen=True)
class ProductSpec:
    product_id: str
    display_name: str
    customer_type: CustomerType
    product_line_id: str | None = None
    prices: list[dict[str, Any]] = field(default_factory=list)
    included_items: list[dict[str, Any]] = field(default_factory=list)
    free_trial: dict[str, Any] | None = None
    is_add_on_to: list[str] = field(default_factory=list)
    server_only: bool = False
    stackable: bool = False
    included_by_default: bool = False
    overage: list[dict[str, Any]] = field(default_factory=list)

    def as_document(self) -> dict[str, Any]:
        """The product as a JSON document: what a purchase snapshots."""
        return {
            "productId": self.product_id,
            "displayName": self.display_name,
            "customerType": self.customer_type.value,
            "productLineId": self.product_line_id,
            "prices": self.prices,
            "includedItems": self.included_items,
            "freeTrial": self.free_trial,
            "isAddOnTo": self.is_add_on_to,
            "serverOnly": self.server_only,
            "stackable": self.stackable,
            "includedByDefault": self.included_by_default,
            # Only when set, so snapshots of products without it keep their form.
            **({"overage": self.overage} if self.overage else {}),
        }


@dataclass
class CatalogSpec:
    items: list[ItemSpec] = field(default_factory=list)
    product_lines: list[ProductLineSpec] = field(default_factory=list)
    products: list[ProductSpec] = field(default_factory=list)


class _Where:
    """Builds error messages that name the entry and the field path."""

    def __init__(self, kind: str, key: str) -> None:
        self.kind, self.key = kind, key

    def error(self, path: str, problem: str) -> CatalogError:
        where = f"{self.kind} {self.key!r}"
        return CatalogError(f"{where}: {path}: {problem}" if path else f"{where}: {problem}",
                            field=[p for p in re.split(r"[.\[\]]+", path) if p] or None)


def _require_id(value: Any, kind: str, name: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise CatalogError(
            f"{kind} {name} {value!r} must be 1-100 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit",
            field=[name],
        )
    return value


def _text(where: _Where, raw: Mapping[str, Any], name: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value.strip():
        raise where.error(name, "is required and must be a non-empty string")
    if len(value) > 200:
        raise where.error(name, "must be at most 200 characters")
    return value


def _bool(where: _Where, raw: Mapping[str, Any], name: str) -> bool:
    value = raw.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise where.error(name, f"must be true or false, got {value!r}")
    return value


def _customer_type(where: _Where, raw: Mapping[str, Any]) -> CustomerType:
    value = raw.get("customerType")
    if isinstance(value, str) and value in CustomerType.__members__:
        return CustomerType(value)
    raise where.error("customerType", f"must be one of USER, TEAM, CUSTOM; got {value!r}")


def _check_keys(where: _Where, raw: Any, allowed: Iterable[str], path: str = "") -> None:
    if not isinstance(raw, Mapping):
        raise where.error(path, "must be an object")
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise where.error(path, f"unknown field(s) {', '.join(map(repr, unknown))}")


def parse_interval(where: _Where, raw: Any, path: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    _check_keys(where, raw, {"unit", "count"}, path)
    unit = raw.get("unit")
    if not isinstance(unit, str) or unit not in IntervalUnit.__members__:
        raise where.error(f"{path}.unit", f"must be one of DAY, WEEK, MONTH, YEAR; got {unit!r}")
    count = raw.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_INTERVAL_COUNT:
        raise where.error(f"{path}.count", f"must be a whole number from 1 to {MAX_INTERVAL_COUNT}")
    return {"unit": unit, "count": count}


def _amounts(where: _Where, raw: Any, path: str) -> dict[str, int]:
    # A file may write {USD: "9.99"}; GraphQL input sends [{currency, amount}].
    pairs: list[tuple[Any, Any]]
    if isinstance(raw, Mapping):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        pairs = []
        for n, entry in enumerate(raw):
            _check_keys(where, entry, {"currency", "amount"}, f"{path}[{n}]")
            pairs.append((entry.get("currency"), entry.get("amount")))
    else:
        raise where.error(path, "must list at least one currency amount")
    if not pairs:
        raise where.error(path, "must list at least one currency amount")
    amounts: dict[str, int] = {}
    for currency, amount in pairs:
        if not isinstance(currency, str) or currency not in CURRENCY_EXPONENTS:
            raise where.error(
                f"{path}.{currency}",
                f"unsupported currency; use one of {', '.join(CURRENCY_EXPONENTS)}",
            )
        if currency in amounts:
            raise where.error(f"{path}.{currency}", "is listed twice; one amount per currency")
        if isinstance(amount, float):
            raise where.error(f"{path}.{currency}", 'write amounts as strings ("9.99"), not numbers')
        try:
            amounts[currency] = to_minor(str(amount), currency)
        except MoneyError as exc:
            raise where.error(f"{path}.{currency}", str(exc)) from None
    return amounts


def _price(where: _Where, raw: Any, n: int) -> dict[str, Any]:
    path = f"prices[{n}]"
    _check_keys(where, raw, {"priceId", "amounts", "interval", "freeTrial", "serverOnly",
                             "quantityMax"}, path)
    price_id = raw.get("priceId")
    if not isinstance(price_id, str) or not _ID.fullmatch(price_id):
        raise where.error(f"{path}.priceId", "must be 1-100 letters, digits, '_', '.' or '-'")
    interval = parse_interval(where, raw.get("interval"), f"{path}.interval")
    trial = parse_interval(where, raw.get("freeTrial"), f"{path}.freeTrial")
    if trial and not interval:
        raise where.error(f"{path}.freeTrial", "a free trial needs a recurring price (set interval)")
    server_only = raw.get("serverOnly", False) or False
    if not isinstance(server_only, bool):
        raise where.error(f"{path}.serverOnly", "must be true or false")
    price: dict[str, Any] = {
        "priceId": price_id,
        "amounts": _amounts(where, raw.get("amounts"), f"{path}.amounts"),
        "interval": interval,
        "freeTrial": trial,
        "serverOnly": server_only,
    }
    quantity_max = _quantity_max(where, raw.get("quantityMax"), path, recurring=bool(interval))
    if quantity_max is not None:
        # Stored only when given, so prices without it keep their stored form.
        price["quantityMax"] = quantity_max
    return price


MAX_SEATS = 10_000  # the most of anything one purchase holds (``purchases.request``)


def _quantity_max(where: _Where, raw: Any, path: str, *, recurring: bool) -> int | None:
    """A recurring price's seat limit. One-time prices take none: their quantity follows
    the product's ``stackable`` as before, so a second rule for them is refused."""
    if raw is None:
        return None
    if not isinstance(raw, int) or isinstance(raw, bool) or not 1 <= raw <= MAX_SEATS:
        raise where.error(f"{path}.quantityMax", f"must be a whole number from 1 to {MAX_SEATS}")
    if not recurring:
        raise where.error(f"{path}.quantityMax", "only a recurring price (with an interval) "
                          "has seats; a one-time price's quantity follows stackable")
    return raw


def _included_item(where: _Where, raw: Any, n: int) -> dict[str, Any]:
    path = f"includedItems[{n}]"
    _check_keys(where, raw, {"itemId", "quantity", "repeat", "expires", "rollover"}, path)
    item_id = raw.get("itemId")
    if not isinstance(item_id, str) or not item_id:
        raise where.error(f"{path}.itemId", "is required")
    quantity = raw.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_ITEM_QUANTITY:
        raise where.error(f"{path}.quantity", f"must be a whole number from 1 to {MAX_ITEM_QUANTITY}")
    repeat = parse_interval(where, raw.get("repeat"), f"{path}.repeat")
    expires = raw.get("expires") or ItemExpiry.NEVER.value
    if not isinstance(expires, str) or expires not in ItemExpiry.__members__:
        raise where.error(
            f"{path}.expires", "must be one of NEVER, WHEN_REPEATED, WHEN_PURCHASE_EXPIRES"
        )
    if expires == ItemExpiry.WHEN_REPEATED and repeat is None:
        raise where.error(f"{path}.expires", "WHEN_REPEATED needs a repeat interval")
    included = {"itemId": item_id, "quantity": quantity, "repeat": repeat, "expires": expires}
    rollover = raw.get("rollover")
    if rollover is not None:
        # Stored only when given, so products without it keep their stored form.
        if not isinstance(rollover, int) or isinstance(rollover, bool) or not (
                0 <= rollover <= MAX_ITEM_QUANTITY):
            raise where.error(f"{path}.rollover",
                              f"must be a whole number from 0 to {MAX_ITEM_QUANTITY}")
        if expires != ItemExpiry.WHEN_REPEATED:
            raise where.error(f"{path}.rollover",
                              "only a WHEN_REPEATED item carries its remainder over")
        included["rollover"] = rollover
    return included


def _overage(where: _Where, raw: Any, n: int) -> dict[str, Any]:
    path = f"overage[{n}]"
    _check_keys(where, raw, {"itemId", "unitAmounts", "limit"}, path)
    item_id = raw.get("itemId")
    if not isinstance(item_id, str) or not item_id:
        raise where.error(f"{path}.itemId", "is required")
    limit = raw.get("limit")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_ITEM_QUANTITY:
        raise where.error(f"{path}.limit", f"must be a whole number from 1 to {MAX_ITEM_QUANTITY}")
    amounts = _amounts(where, raw.get("unitAmounts"), f"{path}.unitAmounts")
    for currency, amount in amounts.items():
        if amount <= 0:
            raise where.error(f"{path}.unitAmounts.{currency}", "must be more than 0")
    return {"itemId": item_id, "unitAmounts": amounts, "limit": limit}


PRODUCT_FIELDS = {
    "productId", "displayName", "customerType", "productLineId", "prices", "includedItems",
    "freeTrial", "isAddOnTo", "serverOnly", "stackable", "includedByDefault", "overage",
}


def parse_item(raw: Any) -> ItemSpec:
    item_id = _require_id(raw.get("itemId") if isinstance(raw, Mapping) else None, "item", "itemId")
    where = _Where("item", item_id)
    _check_keys(where, raw, {"itemId", "displayName", "customerType", "lowBalanceThresholds"})
    return ItemSpec(item_id, _text(where, raw, "displayName"), _customer_type(where, raw),
                    _thresholds(where, raw.get("lowBalanceThresholds")))


MAX_THRESHOLDS = 20


def _thresholds(where: _Where, raw: Any) -> tuple[int, ...]:
    """Whole numbers a balance can hold (negative ones too: debt alerts), up to 20."""
    if raw is None:
        return ()
    ok = isinstance(raw, list) and len(raw) <= MAX_THRESHOLDS and all(
        type(t) is int and -MAX_ITEM_QUANTITY <= t <= MAX_ITEM_QUANTITY for t in raw)
    if not ok:
        raise where.error("lowBalanceThresholds",
                          f"must be a list of up to {MAX_THRESHOLDS} whole numbers")
    return tuple(sorted(set(raw), reverse=True))


def parse_product_line(raw: Any) -> ProductLineSpec:
    line_id = _require_id(
        raw.get("productLineId") if isinstance(raw, Mapping) else None, "product line", "productLineId"
    )
    where = _Where("product line", line_id)
    _check_keys(where, raw, {"productLineId", "displayName", "customerType"})
    return ProductLineSpec(line_id, _text(where, raw, "displayName"), _customer_type(where, raw))


def parse_product(raw: Any) -> ProductSpec:
    """Check one product on its own (shape, money, intervals). References to items, lines
    and base products are checked against the whole catalog by ``check_references``."""
    product_id = _require_id(
        raw.get("productId") if isinstance(raw, Mapping) else None, "product", "productId"
    )
    where = _Where("product", product_id)
    _check_keys(where, raw, PRODUCT_FIELDS)
    prices_raw = raw.get("prices") or []
    items_raw = raw.get("includedItems") or []
    overage_raw = raw.get("overage") or []
    if not isinstance(overage_raw, list):
        raise where.error("overage", "must be a list")
    if not isinstance(prices_raw, list):
        raise where.error("prices", "must be a list")
    if not isinstance(items_raw, list):
        raise where.error("includedItems", "must be a list")
    prices = [_price(where, p, n) for n, p in enumerate(prices_raw)]
    seen: set[str] = set()
    for n, price in enumerate(prices):
        if price["priceId"] in seen:
            raise where.error(f"prices[{n}].priceId", f"{price['priceId']!r} is used twice")
        seen.add(price["priceId"])
    add_on_to = raw.get("isAddOnTo") or []
    if not isinstance(add_on_to, list) or not all(isinstance(b, str) for b in add_on_to):
        raise where.error("isAddOnTo", "must be a list of product ids")
    line_id = raw.get("productLineId")
    if line_id is not None and not isinstance(line_id, str):
        raise where.error("productLineId", "must be a product line id")
    spec = ProductSpec(
        product_id=product_id,
        display_name=_text(where, raw, "displayName"),
        customer_type=_customer_type(where, raw),
        product_line_id=line_id or None,
        prices=prices,
        included_items=[_included_item(where, i, n) for n, i in enumerate(items_raw)],
        free_trial=parse_interval(where, raw.get("freeTrial"), "freeTrial"),
        is_add_on_to=list(dict.fromkeys(add_on_to)),
        server_only=_bool(where, raw, "serverOnly"),
        stackable=_bool(where, raw, "stackable"),
        included_by_default=_bool(where, raw, "includedByDefault"),
        overage=[_overage(where, o, n) for n, o in enumerate(overage_raw)],
    )
    _check_product_rules(where, spec)
    return spec


def _check_product_rules(where: _Where, spec: ProductSpec) -> None:
    if spec.included_by_default:
        if spec.prices:
            raise where.error("includedByDefault", "an include-by-default product has no prices")
        if spec.is_add_on_to:
            raise where.error("includedByDefault", "an include-by-default product cannot be an add-on")
        if spec.stackable:
            raise where.error("includedByDefault", "an include-by-default product cannot be stackable")
    if spec.free_trial and not any(p["interval"] for p in spec.prices):
        raise where.error("freeTrial", "a free trial needs at least one recurring price")
    if spec.product_id in spec.is_add_on_to:
        raise where.error("isAddOnTo", "a product cannot be an add-on to itself")
    item_ids = [i["itemId"] for i in spec.included_items]
    for n, item_id in enumerate(item_ids):
        if item_id in item_ids[:n]:
            raise where.error(f"includedItems[{n}].itemId", f"{item_id!r} is included twice")
    _check_overage(where, spec)


def _check_overage(where: _Where, spec: ProductSpec) -> None:
    """Overage is billed at renewal, so only a plan (a recurring price) has it, and its
    unit amounts name exactly the currencies the plan is sold in (an invoice is in the
    price's currency)."""
    if not spec.overage:
        return
    if not any(p["interval"] for p in spec.prices):
        raise where.error("overage", "overage is billed at renewal: it needs a recurring price")
    currencies = {c for p in spec.prices for c in p["amounts"]}
    seen: list[str] = []
    for n, terms in enumerate(spec.overage):
        if terms["itemId"] in seen:
            raise where.error(f"overage[{n}].itemId", f"{terms['itemId']!r} is listed twice")
        seen.append(terms["itemId"])
        missing = sorted(currencies - set(terms["unitAmounts"]))
        if missing:
            raise where.error(f"overage[{n}].unitAmounts",
                              f"needs an amount in {', '.join(missing)} (the prices' currencies)")
        extra = sorted(set(terms["unitAmounts"]) - currencies)
        if extra:
            raise where.error(f"overage[{n}].unitAmounts.{extra[0]}",
                              "the product has no price in this currency")


@dataclass(frozen=True)
class CatalogView:
    """What references are checked against: the catalog as it will be after a change."""

    items: Mapping[str, CustomerType]
    product_lines: Mapping[str, CustomerType]
    products: Mapping[str, ProductSpec]


def check_references(spec: ProductSpec, view: CatalogView) -> None:
    """Cross-entry rules: items, line and base products exist and match the customer type."""
    where = _Where("product", spec.product_id)
    if spec.product_line_id is not None:
        line_type = view.product_lines.get(spec.product_line_id)
        if line_type is None:
            raise where.error("productLineId", f"product line {spec.product_line_id!r} does not exist")
        if line_type != spec.customer_type:
            raise where.error(
                "productLineId",
                f"product line {spec.product_line_id!r} is for {line_type.value} customers, "
                f"the product for {spec.customer_type.value}",
            )
        if spec.included_by_default:
            for other in view.products.values():
                if (other.product_id != spec.product_id and other.included_by_default
                        and other.product_line_id == spec.product_line_id):
                    raise where.error(
                        "includedByDefault",
                        f"product line {spec.product_line_id!r} already has the include-by-default "
                        f"product {other.product_id!r}; a line has at most one",
                    )
    for n, included in enumerate(spec.included_items):
        item_type = view.items.get(included["itemId"])
        if item_type is None:
            raise where.error(f"includedItems[{n}].itemId", f"item {included['itemId']!r} does not exist")
        if item_type != spec.customer_type:
            raise where.error(
                f"includedItems[{n}].itemId",
                f"item {included['itemId']!r} is for {item_type.value} customers, "
                f"the product for {spec.customer_type.value}",
            )
    for n, terms in enumerate(spec.overage):
        item_type = view.items.get(terms["itemId"])
        if item_type is None:
            raise where.error(f"overage[{n}].itemId", f"item {terms['itemId']!r} does not exist")
        if item_type != spec.customer_type:
            raise where.error(f"overage[{n}].itemId",
                              f"item {terms['itemId']!r} is for {item_type.value} customers, "
                              f"the product for {spec.customer_type.value}")
    for n, base_id in enumerate(spec.is_add_on_to):
        base = view.products.get(base_id)
        if base is None:
            raise where.error(f"isAddOnTo[{n}]", f"base product {base_id!r} does not exist")
        if base.customer_type != spec.customer_type:
            raise where.error(
                f"isAddOnTo[{n}]",
                f"base product {base_id!r} is for {base.customer_type.value} customers, "
                f"the add-on for {spec.customer_type.value}",
            )


def parse_catalog(document: Any) -> CatalogSpec:
    """Parse and fully validate a catalog document (the YAML/JSON file's content).

    Every broken entry is reported (``CatalogErrors``), not only the first, so a file is
    fixed in one pass; an entry that does not parse is left out of the reference checks."""
    if not isinstance(document, Mapping):
        raise CatalogError("a catalog file holds an object with items, productLines and products")
    unknown = sorted(set(document) - {"items", "productLines", "products"})
    if unknown:
        raise CatalogError(f"catalog: unknown section(s) {', '.join(map(repr, unknown))}")
    errors: list[CatalogError] = []
    spec = CatalogSpec(
        items=_parse_all(_section(document, "items"), parse_item, errors),
        product_lines=_parse_all(_section(document, "productLines"), parse_product_line, errors),
        products=_parse_all(_section(document, "products"), parse_product, errors),
    )
    for kind, ids in (
        ("item", [i.item_id for i in spec.items]),
        ("product line", [p.product_line_id for p in spec.product_lines]),
        ("product", [p.product_id for p in spec.products]),
    ):
        for duplicate in sorted({x for x in ids if ids.count(x) > 1}):
            errors.append(CatalogError(f"{kind} {duplicate!r} is defined twice"))
    view = CatalogView(
        items={i.item_id: i.customer_type for i in spec.items},
        product_lines={p.product_line_id: p.customer_type for p in spec.product_lines},
        products={p.product_id: p for p in spec.products},
    )
    for product in spec.products:
        try:
            check_references(product, view)
        except CatalogError as exc:
            errors.append(exc)
    raise_all(errors)
    return spec


def _parse_all(raws: list[Any], parse: Callable[[Any], T], errors: list[CatalogError]) -> list[T]:
    parsed = []
    for raw in raws:
        try:
            parsed.append(parse(raw))
        except CatalogError as exc:
            errors.append(exc)
    return parsed


def _section(document: Mapping[str, Any], name: str) -> list[Any]:
    section = document.get(name) or []
    if not isinstance(section, list):
        raise CatalogError(f"catalog: {name} must be a list")
    return section
