"""Money as integer minor units plus an ISO currency. Never a float.

Catalog prices are decimal strings ("9.99"); ``to_minor`` converts them exactly and
rejects more decimals than the currency has (JPY has none).
"""

from __future__ import annotations

import re
from decimal import Decimal

# ISO 4217 minor-unit exponents for the currencies billgate sells in.
CURRENCY_EXPONENTS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "JPY": 0,
    "INR": 2,
    "AUD": 2,
    "CAD": 2,
}

_AMOUNT = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]+)?$")
# Largest amount we accept in minor units: fits a signed 64-bit integer with room to add.
MAX_MINOR_UNITS = 10**15


class MoneyError(ValueError):
    pass


def exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise MoneyError(
            f"unsupported currency {currency!r}; use one of {', '.join(CURRENCY_EXPONENTS)}"
        ) from None


def to_minor(amount: str, currency: str) -> int:
    """Convert a decimal string such as "9.99" into minor units (999), exactly."""
    exp = exponent(currency)
    text = str(amount).strip()
    if not _AMOUNT.match(text):
        raise MoneyError(f"{amount!r} is not a non-negative decimal amount like \"9.99\"")
    decimals = len(text.split(".")[1]) if "." in text else 0
    if decimals > exp:
        allowed = "no decimals" if exp == 0 else f"at most {exp} decimals"
        raise MoneyError(f"{currency} amounts take {allowed}; got {text!r}")
    minor = int(Decimal(text).scaleb(exp))
    if minor > MAX_MINOR_UNITS:
        raise MoneyError(f"{text} {currency} is larger than billgate accepts")
    return minor


def from_minor(minor: int, currency: str) -> str:
    """Format minor units as the decimal string the catalog uses (999 USD -> "9.99")."""
    exp = exponent(currency)
    if exp == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exp)
    return f"{sign}{whole}.{frac:0{exp}d}"
