"""Payment settings that change at run time (``updatePaymentSettings``).

Stored in ``app_settings`` under one key. An environment variable that is set (today:
``BILLGATE_TEST_MODE``) is written over the stored value at start-up, so it wins.

Besides the billing rules (test mode, blocked purchases, grace period, retry days) they hold
the payment method types offered to Stripe on checkout (``payment_method_types``: Stripe's
names, ``card`` always among them, since renewals charge a saved card) and the seller
printed on invoices (``seller``: name, email, address, tax id), the prefix of invoice
numbers (``invoice_number_prefix``, default ``INV-``) and the tax rates by buyer country
(``tax_rates``, ``billing/taxes.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import taxes, writes
from billgate.billing.numbering import CREDIT_NOTE_PREFIX
from billgate.billing.taxes import TaxRate
from billgate.db.engine import Database
from billgate.db.models import AppSetting
from billgate.db.upsert import insert_ignore
from billgate.errors import InvalidInput

KEY = "payment_settings"
MAX_GRACE_DAYS = 365
DEFAULT_METHOD_TYPES = ("card",)
MAX_METHOD_TYPES = 20
_METHOD_TYPE = re.compile(r"[a-z][a-z0-9_]{0,39}")
_COUNTRY = re.compile(r"[A-Z]{2}")
MAX_TEXT = 200
MAX_TAX_ID = 50
MAX_EMAIL = 320
DEFAULT_INVOICE_PREFIX = "INV-"
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_/.-]{0,19}")


@dataclass(frozen=True)
class Address:
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postal_code: str | None = None
    state: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Address | None:
        if not data:
            return None
        return cls(**{f.name: data.get(f.name) or None for f in fields(cls)})

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))


@dataclass(frozen=True)
class Party:
    """Who an invoice is from (or to): every part optional."""

    name: str | None = None
    email: str | None = None
    address: Address | None = None
    tax_id: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Party:
        data = data or {}
        return cls(name=data.get("name"), email=data.get("email"),
                   address=Address.from_json(data.get("address")), tax_id=data.get("tax_id"))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "email": self.email,
                "address": self.address.to_json() if self.address else None,
                "tax_id": self.tax_id}


@dataclass(frozen=True)
class PaymentSettings:
    test_mode: bool = True
    block_new_purchases: bool = False
    grace_period_days: int = 7
    dunning_retry_days: tuple[int, ...] = (3, 5, 7)
    payment_method_types: tuple[str, ...] = DEFAULT_METHOD_TYPES
    seller: Party = field(default_factory=Party)
    invoice_number_prefix: str = DEFAULT_INVOICE_PREFIX
    tax_rates: tuple[TaxRate, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> PaymentSettings:
        if not data:
            return cls()
        return cls(
            test_mode=bool(data.get("test_mode", True)),
            block_new_purchases=bool(data.get("block_new_purchases", False)),
            grace_period_days=int(data.get("grace_period_days", 7)),
            dunning_retry_days=tuple(data.get("dunning_retry_days", (3, 5, 7))),
            payment_method_types=tuple(data.get("payment_method_types") or DEFAULT_METHOD_TYPES),
            seller=Party.from_json(data.get("seller")),
            invoice_number_prefix=str(data.get("invoice_number_prefix") or DEFAULT_INVOICE_PREFIX),
            tax_rates=tuple(TaxRate.from_json(r) for r in data.get("tax_rates") or ()),
        )

    def to_json(self) -> dict[str, Any]:
        return {"test_mode": self.test_mode, "block_new_purchases": self.block_new_purchases,
                "grace_period_days": self.grace_period_days,
                "dunning_retry_days": list(self.dunning_retry_days),
                "payment_method_types": list(self.payment_method_types),
                "seller": self.seller.to_json(),
                "invoice_number_prefix": self.invoice_number_prefix,
                "tax_rates": [rate.to_json() for rate in self.tax_rates]}


def party_with(current: Party, changes: Mapping[str, Any]) -> Party:
    """``current`` with the given parts replaced; an empty value (``""``, or an address
    with no part set) clears that part. Text is trimmed; a country is upper-cased. Used for
    the seller (``updatePaymentSettings``) and buyers (``updateCustomer``)."""
    def text(value: Any) -> str | None:
        return (str(value).strip() or None) if value is not None else None

    values: dict[str, Any] = {}
    for name in ("name", "email", "tax_id"):
        if name in changes:
            values[name] = text(changes[name])
    if "address" in changes:
        raw = changes["address"]
        if isinstance(raw, Address):
            raw = raw.to_json()
        parts = {k: text(v) for k, v in (raw or {}).items()}
        if parts.get("country"):
            parts["country"] = str(parts["country"]).upper()
        address = Address.from_json(parts)
        values["address"] = None if address is None or address.empty else address
    return replace(current, **values)


SELLER_FIELDS = {"name": "sellerName", "email": "sellerEmail", "tax_id": "sellerTaxId",
                 "address": "sellerAddress"}
BUYER_FIELDS = {"name": "name", "email": "email", "tax_id": "taxId", "address": "address"}


def validate_party(party: Party, names: Mapping[str, str] = SELLER_FIELDS) -> None:
    """Bounds on every part; ``names``: the input's field names, for the errors."""
    for name, size in (("name", MAX_TEXT), ("tax_id", MAX_TAX_ID)):
        value, path = getattr(party, name), names[name]
        if value is not None and len(value) > size:
            raise InvalidInput(f"{path} must be at most {size} characters", field=[path])
    email = party.email
    if email is not None and ("@" not in email or len(email) > MAX_EMAIL
                              or any(c.isspace() for c in email)):
        raise InvalidInput(f"{email[:50]!r} is not an email address", field=[names["email"]])
    address_name = names["address"]
    if party.address is not None:
        for part in fields(party.address):
            value = getattr(party.address, part.name)
            camel = "postalCode" if part.name == "postal_code" else part.name
            if value is not None and len(value) > MAX_TEXT:
                raise InvalidInput(f"{address_name}.{camel} must be at most {MAX_TEXT} characters",
                                   field=[address_name, camel])
        country = party.address.country
        if country is not None and not _COUNTRY.fullmatch(country):
            raise InvalidInput(f"{address_name}.country must be a two-letter ISO 3166-1 code "
                               f"such as US or DE, got {country[:20]!r}",
                               field=[address_name, "country"])


def _validate_method_types(types: tuple[str, ...]) -> None:
    if not 1 <= len(types) <= MAX_METHOD_TYPES or not all(_METHOD_TYPE.fullmatch(t) for t in types):
        raise InvalidInput(f"paymentMethodTypes takes 1 to {MAX_METHOD_TYPES} of Stripe's payment "
                           "method types, such as card, link or sepa_debit",
                           field=["paymentMethodTypes"])
    if len(set(types)) != len(types):
        raise InvalidInput("paymentMethodTypes lists a type twice", field=["paymentMethodTypes"])
    if "card" not in types:
        raise InvalidInput("paymentMethodTypes must include card: renewals are charged to a "
                           "saved card", field=["paymentMethodTypes"])


def validate(settings: PaymentSettings) -> PaymentSettings:
    if not 0 <= settings.grace_period_days <= MAX_GRACE_DAYS:
        raise InvalidInput(f"gracePeriodDays must be from 0 to {MAX_GRACE_DAYS}",
                           field=["gracePeriodDays"])
    days = settings.dunning_retry_days
    if len(days) > 10 or any(d < 1 or d > MAX_GRACE_DAYS for d in days):
        raise InvalidInput("dunningRetryDays takes up to 10 days, each from 1 to 365",
                           field=["dunningRetryDays"])
    if list(days) != sorted(set(days)):
        raise InvalidInput("dunningRetryDays must be strictly increasing (days after the failure)",
                           field=["dunningRetryDays"])
    _validate_method_types(settings.payment_method_types)
    validate_party(settings.seller)
    prefix = settings.invoice_number_prefix
    if not _PREFIX.fullmatch(prefix):
        raise InvalidInput("invoiceNumberPrefix must be 1 to 20 letters, digits or - _ / . "
                           f"(starting with a letter or digit), such as INV-; got {prefix[:30]!r}",
                           field=["invoiceNumberPrefix"])
    if prefix.upper() == CREDIT_NOTE_PREFIX:
        raise InvalidInput(f"invoiceNumberPrefix {CREDIT_NOTE_PREFIX} is the credit notes' prefix",
                           field=["invoiceNumberPrefix"])
    return replace(settings, tax_rates=taxes.validate(settings.tax_rates))


async def load(session: AsyncSession) -> PaymentSettings:
    row = await session.scalar(select(AppSetting).where(AppSetting.key == KEY))
    return PaymentSettings.from_json(row.value if row else None)


async def update(session: AsyncSession, *, seller: Mapping[str, Any] | None = None,
                 **changes: Any) -> PaymentSettings:
    """Apply the given changes (``None`` values are ignored) and store the result.
    ``seller``: the parts of the seller to change (``name``, ``email``, ``address``,
    ``tax_id``); an empty value clears a part, a part not named is kept.

    Race-safe: the row is created if missing with an insert that ignores a conflict, then
    locked, so replicas starting together on a new database (each writing
    ``BILLGATE_TEST_MODE``) and concurrent ``updatePaymentSettings`` calls neither fail on
    the key nor lose each other's changes.
    """
    table: Any = AppSetting.__table__
    await insert_ignore(session, table, {"key": KEY, "value": PaymentSettings().to_json()}, ["key"])
    row = await session.get(AppSetting, KEY, with_for_update=True, populate_existing=True)
    assert row is not None
    current = PaymentSettings.from_json(row.value)
    given = {k: v for k, v in changes.items() if v is not None}
    if "payment_method_types" in given:
        given["payment_method_types"] = tuple(given["payment_method_types"])
    if "tax_rates" in given:
        given["tax_rates"] = tuple(given["tax_rates"])
    if "invoice_number_prefix" in given:
        given["invoice_number_prefix"] = str(given["invoice_number_prefix"]).strip()
    if seller:
        given["seller"] = party_with(current.seller, seller)
    new = validate(replace(current, **given))
    row.value = new.to_json()
    await session.flush()
    return new


async def save(db: Database, *, seller: Mapping[str, Any] | None = None,
               **changes: Any) -> PaymentSettings:
    """``update`` in its own transaction (``updatePaymentSettings``)."""
    return await writes.apart(db, lambda session: update(session, seller=seller, **changes))


async def payment_method_types(db: Database) -> list[str]:
    """The payment method types offered to Stripe on checkout (``StripeRails``)."""
    async with db.read_session() as session:
        return list((await load(session)).payment_method_types)
