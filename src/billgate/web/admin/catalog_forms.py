"""Catalog entries as console forms: form fields to the catalog-file document that
``catalog_spec`` validates, a stored entry back to form fields, and the diff shown before
saving. Field names follow the document (``displayName``, ``prices-0-amounts``), so an
error's field path (``prices[0].amounts.USD``) finds its input.

Typed shapes: amounts ``USD 19.00, EUR 18.00``; intervals ``month``, ``3 months``,
``14 days``, ``year``; lists ``a, b``. A typed value that does not read is a
``CatalogError`` naming its field, shown like the catalog's own errors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData

from billgate.errors import CatalogError
from billgate.money import from_minor

_INTERVAL = re.compile(r"(?:(\d{1,4})\s*)?(day|week|month|year)s?", re.IGNORECASE)
_AMOUNT = re.compile(r"([A-Za-z]{3})\s*([0-9][0-9.,]*)")
MAX_ROWS = 30


def _text(form: FormData | Mapping[str, str], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _flag(form: FormData | Mapping[str, str], name: str) -> bool:
    return form.get(name) == "on"


def interval_of(text: str, field: list[str]) -> dict[str, Any] | None:
    if not text:
        return None
    match = _INTERVAL.fullmatch(text.strip())
    if match is None:
        raise CatalogError(f"{'.'.join(field)}: write a period like month, 3 months, 14 days or "
                           f"year; got {text[:30]!r}", field=field)
    return {"unit": match.group(2).upper(), "count": int(match.group(1) or 1)}


def interval_text(interval: Mapping[str, Any] | None) -> str:
    if not interval:
        return ""
    count, unit = int(interval.get("count", 1)), str(interval["unit"]).lower()
    return unit if count == 1 else f"{count} {unit}s"


def amounts_of(text: str, field: list[str]) -> list[dict[str, str]]:
    pairs = [p.strip() for p in re.split(r"[;,](?=\s*[A-Za-z])", text) if p.strip()]
    found = []
    for pair in pairs:
        match = _AMOUNT.fullmatch(pair)
        if match is None:
            raise CatalogError(f"{'.'.join(field)}: write amounts like USD 19.00, EUR 18.00; "
                               f"got {pair[:30]!r}", field=field)
        found.append({"currency": match.group(1).upper(), "amount": match.group(2).replace(",", "")})
    return found


def amounts_text(amounts: Mapping[str, int]) -> str:
    return ", ".join(f"{c} {from_minor(int(m), c)}" for c, m in amounts.items())


def _rows(form: FormData | Mapping[str, str], prefix: str) -> list[int]:
    count = _text(form, f"rows-{prefix}")
    return list(range(min(int(count), MAX_ROWS) if count.isdigit() else 0))


def _list(text: str) -> list[str]:
    return [part for part in re.split(r"[,\s]+", text) if part]


# Documents from forms ---------------------------------------------------------------------

def product_document(form: FormData | Mapping[str, str]) -> dict[str, Any]:
    prices = []
    for n in _rows(form, "prices"):
        key = f"prices-{n}"
        if _flag(form, f"{key}-remove") or not (_text(form, f"{key}-priceId")
                                               or _text(form, f"{key}-amounts")):
            continue
        prices.append({"priceId": _text(form, f"{key}-priceId"),
                       "amounts": amounts_of(_text(form, f"{key}-amounts"),
                                             ["prices", str(n), "amounts"]),
                       "interval": interval_of(_text(form, f"{key}-interval"),
                                               ["prices", str(n), "interval"]),
                       "freeTrial": interval_of(_text(form, f"{key}-freeTrial"),
                                                ["prices", str(n), "freeTrial"]),
                       "serverOnly": _flag(form, f"{key}-serverOnly"),
                       **_whole_if_given(form, f"{key}-quantityMax", "quantityMax")})
    included = []
    for n in _rows(form, "includedItems"):
        key = f"includedItems-{n}"
        if _flag(form, f"{key}-remove") or not _text(form, f"{key}-itemId"):
            continue
        quantity = _text(form, f"{key}-quantity")
        included.append({"itemId": _text(form, f"{key}-itemId"),
                         "quantity": int(quantity) if quantity.isdigit() else quantity,
                         "repeat": interval_of(_text(form, f"{key}-repeat"),
                                               ["includedItems", str(n), "repeat"]),
                         "expires": _text(form, f"{key}-expires") or "NEVER",
                         **_whole_if_given(form, f"{key}-rollover", "rollover")})
    return {"productId": _text(form, "productId"), "displayName": _text(form, "displayName"),
            "customerType": _text(form, "customerType"),
            "productLineId": _text(form, "productLineId") or None, "prices": prices,
            "includedItems": included, "overage": _overage_rows(form),
            "freeTrial": interval_of(_text(form, "freeTrial"), ["freeTrial"]),
            "isAddOnTo": _list(_text(form, "isAddOnTo")), "serverOnly": _flag(form, "serverOnly"),
            "stackable": _flag(form, "stackable"),
            "includedByDefault": _flag(form, "includedByDefault")}


def _whole_if_given(form: FormData | Mapping[str, str], field: str,
                    name: str) -> dict[str, Any]:
    """An optional whole-number field (a price's ``quantityMax``, an item's ``rollover``):
    absent when empty, so saving a product from the console keeps what it had; anything
    else goes to the catalog's own check, which names the field."""
    value = _text(form, field)
    if not value:
        return {}
    return {name: int(value) if value.isdigit() else value}


def _overage_rows(form: FormData | Mapping[str, str]) -> list[dict[str, Any]]:
    """The product's overage terms (``items/overage.py``): item, limit, per-unit amounts."""
    terms = []
    for n in _rows(form, "overage"):
        key = f"overage-{n}"
        if _flag(form, f"{key}-remove") or not _text(form, f"{key}-itemId"):
            continue
        limit = _text(form, f"{key}-limit")
        terms.append({"itemId": _text(form, f"{key}-itemId"),
                      "limit": int(limit) if limit.isdigit() else limit,
                      "unitAmounts": amounts_of(_text(form, f"{key}-unitAmounts"),
                                                ["overage", str(n), "unitAmounts"])})
    return terms


def item_document(form: FormData | Mapping[str, str]) -> dict[str, Any]:
    raw = _list(_text(form, "lowBalanceThresholds").replace(";", ","))
    if not all(re.fullmatch(r"-?\d{1,10}", t) for t in raw):
        raise CatalogError("lowBalanceThresholds: write whole numbers, like 100, 10",
                           field=["lowBalanceThresholds"])
    return {"itemId": _text(form, "itemId"), "displayName": _text(form, "displayName"),
            "customerType": _text(form, "customerType"),
            "lowBalanceThresholds": [int(t) for t in raw]}


def line_document(form: FormData | Mapping[str, str]) -> dict[str, Any]:
    return {"productLineId": _text(form, "productLineId"),
            "displayName": _text(form, "displayName"), "customerType": _text(form, "customerType")}


# Forms from stored entries ----------------------------------------------------------------

def product_values(doc: Mapping[str, Any]) -> dict[str, str]:
    """Form fields for a product document (amounts in minor units, as stored)."""
    values = {"productId": doc["productId"], "displayName": doc["displayName"],
              "customerType": doc["customerType"], "productLineId": doc.get("productLineId") or "",
              "freeTrial": interval_text(doc.get("freeTrial")),
              "isAddOnTo": ", ".join(doc.get("isAddOnTo") or [])}
    values.update({name: "on" for name in ("serverOnly", "stackable", "includedByDefault")
                   if doc.get(name)})
    prices = doc.get("prices") or []
    for n, price in enumerate(prices):
        key = f"prices-{n}"
        values.update({f"{key}-priceId": price["priceId"],
                       f"{key}-amounts": amounts_text(price["amounts"]),
                       f"{key}-interval": interval_text(price.get("interval")),
                       f"{key}-freeTrial": interval_text(price.get("freeTrial")),
                       f"{key}-quantityMax": str(price.get("quantityMax") or "")})
        if price.get("serverOnly"):
            values[f"{key}-serverOnly"] = "on"
    included = doc.get("includedItems") or []
    for n, item in enumerate(included):
        key = f"includedItems-{n}"
        values.update({f"{key}-itemId": item["itemId"], f"{key}-quantity": str(item["quantity"]),
                       f"{key}-repeat": interval_text(item.get("repeat")),
                       f"{key}-expires": item.get("expires") or "NEVER",
                       f"{key}-rollover": str(item.get("rollover") or "")})
    overage = doc.get("overage") or []
    for n, terms in enumerate(overage):
        key = f"overage-{n}"
        values.update({f"{key}-itemId": terms["itemId"], f"{key}-limit": str(terms["limit"]),
                       f"{key}-unitAmounts": amounts_text(terms["unitAmounts"])})
    values["rows-prices"] = str(len(prices) + 1)
    values["rows-includedItems"] = str(len(included) + 1)
    values["rows-overage"] = str(len(overage) + 1)
    return values


def error_field(path: list[str] | None) -> str:
    """The form field of an error's path: ``prices.0.amounts.USD`` -> ``prices-0-amounts``."""
    parts = list(path or [])
    if parts and parts[0] in ("prices", "includedItems", "overage") and len(parts) >= 3:
        return "-".join(parts[:3])
    if parts and parts[0] == "isAddOnTo":
        return "isAddOnTo"
    return parts[0] if parts else ""


# The diff before saving -------------------------------------------------------------------

def flatten(doc: Mapping[str, Any] | None) -> dict[str, str]:
    """A stored (canonical) document as "field: value" lines; prices and included items
    keyed by their ids, so a change shows as that price's or item's field."""
    if not doc:
        return {}
    lines: dict[str, str] = {}
    for name, value in doc.items():
        if name == "prices":
            for price in value or []:
                key = f"price {price['priceId']}"
                lines[f"{key}: amounts"] = amounts_text(price["amounts"])
                lines[f"{key}: interval"] = interval_text(price.get("interval")) or "one-time"
                if price.get("freeTrial"):
                    lines[f"{key}: free trial"] = interval_text(price["freeTrial"])
                if price.get("serverOnly"):
                    lines[f"{key}: server only"] = "yes"
                if price.get("quantityMax"):
                    lines[f"{key}: seats at most"] = f"{price['quantityMax']:,}"
        elif name == "includedItems":
            for item in value or []:
                key = f"includes {item['itemId']}"
                lines[f"{key}: quantity"] = f"{item['quantity']:,}"
                lines[f"{key}: repeat"] = interval_text(item.get("repeat")) or "never"
                lines[f"{key}: expires"] = str(item.get("expires") or "NEVER")
                if item.get("rollover"):
                    lines[f"{key}: rollover up to"] = f"{item['rollover']:,}"
        elif name == "overage":
            for terms in value or []:
                key = f"overage {terms['itemId']}"
                lines[f"{key}: limit"] = f"{terms['limit']:,}"
                lines[f"{key}: per unit"] = amounts_text(terms["unitAmounts"])
        elif isinstance(value, bool):
            lines[name] = "yes" if value else "no"
        elif isinstance(value, dict):
            lines[name] = interval_text(value)
        elif isinstance(value, list | tuple):
            lines[name] = ", ".join(map(str, value)) or "—"
        else:
            lines[name] = "—" if value in (None, "") else str(value)
    return lines


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(field, old, new)`` for every line that differs; old is "" for a new entry."""
    old, new = flatten(before), flatten(after)
    keys = list(dict.fromkeys([*new, *old]))
    return [(key, old.get(key, ""), new.get(key, "")) for key in keys
            if old.get(key, "") != new.get(key, "")]
