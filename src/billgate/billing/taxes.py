"""Exclusive sales tax by the buyer's country.

Rates live in the payment settings (``TaxRate``: a country or ``*``, a name, a percent as a
decimal string). The rate for an invoice is the one whose country is the buyer's address
country, else the ``*`` rate, else none (``rate_for``). It applies to the subtotal after
discount and is added on top (exclusive), as a line of kind ``tax``.

Rounding (``tax_amount``): the tax is computed exactly in the currency's minor units
(cents; for JPY, which has no minor unit, whole yen) and rounded half-up to a whole minor
unit: 10% of $10.05 is 100.5 cents -> $1.01; 10% of ¥1,005 is ¥100.5 -> ¥101; 10% of ¥999
is ¥99.9 -> ¥100. No float is involved (``Decimal``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from billgate.errors import InvalidInput

ANY_COUNTRY = "*"
MAX_RATES = 300
_COUNTRY = re.compile(r"[A-Z]{2}")
_PERCENT = re.compile(r"(0|[1-9][0-9]?)(\.[0-9]{1,4})?|100(\.0{1,4})?")
MAX_NAME = 100


@dataclass(frozen=True)
class TaxRate:
    country: str  # ISO 3166-1 alpha-2, or "*" for any country
    name: str     # printed on the line, e.g. "VAT"
    percent: str  # a decimal string from "0" to "100", e.g. "20" or "7.25"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaxRate:
        return cls(country=str(data["country"]), name=str(data["name"]),
                   percent=str(data["percent"]))

    def to_json(self) -> dict[str, str]:
        return {"country": self.country, "name": self.name, "percent": self.percent}


def rate_for(rates: Iterable[TaxRate], country: str | None) -> TaxRate | None:
    """The buyer's country's rate, else the ``*`` rate, else None."""
    rates = list(rates)
    if country:
        for rate in rates:
            if rate.country == country.upper():
                return rate
    return next((rate for rate in rates if rate.country == ANY_COUNTRY), None)


def tax_amount(taxable_minor: int, percent: str) -> int:
    """``percent`` of ``taxable_minor`` in whole minor units, rounded half-up (see the
    module's docstring; JPY's minor unit is the yen, so the same rule rounds to yen)."""
    exact = Decimal(taxable_minor) * Decimal(percent) / Decimal(100)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def describe(rate: TaxRate) -> str:
    """The tax line's text: ``VAT 20%``."""
    return f"{rate.name} {rate.percent}%"


def validate(rates: Iterable[TaxRate]) -> tuple[TaxRate, ...]:
    """Rates as given, normalized (country upper-cased, name trimmed); one per country."""
    result: list[TaxRate] = []
    seen: set[str] = set()
    for index, rate in enumerate(rates):
        country = rate.country.strip().upper()
        name = rate.name.strip()
        percent = rate.percent.strip()
        path = ["taxRates", str(index)]
        if country != ANY_COUNTRY and not _COUNTRY.fullmatch(country):
            raise InvalidInput(f"taxRates[{index}].country must be a two-letter ISO 3166-1 code "
                               f"such as DE, or \"*\" for any country; got {country[:20]!r}",
                               field=[*path, "country"])
        if country in seen:
            raise InvalidInput(f"taxRates lists {country} twice", field=[*path, "country"])
        if not name or len(name) > MAX_NAME:
            raise InvalidInput(f"taxRates[{index}].name must be 1 to {MAX_NAME} characters",
                               field=[*path, "name"])
        if not _PERCENT.fullmatch(percent):
            raise InvalidInput(f"taxRates[{index}].percent must be a decimal string from 0 to "
                               f"100 with at most 4 decimals, such as \"20\" or \"7.25\"; "
                               f"got {percent[:20]!r}", field=[*path, "percent"])
        seen.add(country)
        result.append(TaxRate(country=country, name=name, percent=percent))
    if len(result) > MAX_RATES:
        raise InvalidInput(f"taxRates takes at most {MAX_RATES} rates", field=["taxRates"])
    return tuple(result)
