"""Tax: which rate applies, and rounding per currency (half-up in minor units; JPY's minor
unit is the yen, so a JPY tax is whole yen)."""

from __future__ import annotations

import pytest

from billgate.billing import taxes
from billgate.billing.taxes import TaxRate
from billgate.errors import InvalidInput
from billgate.money import to_minor

DE = TaxRate("DE", "MwSt", "19")
ANY = TaxRate("*", "Sales tax", "10")


@pytest.mark.parametrize(("price", "currency", "percent", "tax"), [
    ("10.05", "USD", "10", "1.01"),      # 100.5 cents -> 101: half rounds up
    ("10.04", "USD", "10", "1.00"),      # 100.4 cents -> 100
    ("19.00", "EUR", "19", "3.61"),
    ("9.99", "GBP", "20", "2.00"),       # 199.8 pence -> 200
    ("1005", "JPY", "10", "101"),        # ¥100.5 -> ¥101: no minor unit, whole yen
    ("999", "JPY", "10", "100"),         # ¥99.9 -> ¥100
    ("2900", "JPY", "8", "232"),
    ("1599.00", "INR", "18", "287.82"),
    ("0.05", "USD", "7.25", "0.00"),     # 0.3625 cents -> 0
    ("0.07", "USD", "7.25", "0.01"),     # 0.5075 cents -> 1
])
def test_tax_is_rounded_half_up_in_the_currencys_minor_unit(price: str, currency: str,
                                                             percent: str, tax: str) -> None:
    assert taxes.tax_amount(to_minor(price, currency), percent) == to_minor(tax, currency)


def test_the_buyers_country_rate_wins_then_any_country_then_none() -> None:
    assert taxes.rate_for([ANY, DE], "DE") == DE
    assert taxes.rate_for([ANY, DE], "de") == DE
    assert taxes.rate_for([ANY, DE], "FR") == ANY
    assert taxes.rate_for([ANY, DE], None) == ANY
    assert taxes.rate_for([DE], "FR") is None
    assert taxes.rate_for([], "DE") is None


@pytest.mark.parametrize(("rate", "field"), [
    (TaxRate("Germany", "VAT", "19"), "country"),
    (TaxRate("DE", "", "19"), "name"),
    (TaxRate("DE", "VAT", "19%"), "percent"),
    (TaxRate("DE", "VAT", "100.5"), "percent"),
    (TaxRate("DE", "VAT", "-1"), "percent"),
    (TaxRate("DE", "VAT", "0.12345"), "percent"),
])
def test_bad_rates_are_refused_naming_the_field(rate: TaxRate, field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        taxes.validate([rate])
    assert error.value.field == ["taxRates", "0", field]


def test_a_country_listed_twice_is_refused() -> None:
    with pytest.raises(InvalidInput):
        taxes.validate([DE, TaxRate("de", "VAT", "7")])


def test_rates_are_normalized() -> None:
    assert taxes.validate([TaxRate(" de ", " VAT ", " 7.5 ")]) == (TaxRate("DE", "VAT", "7.5"),)
