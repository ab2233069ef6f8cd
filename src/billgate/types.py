"""Small value types shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CustomerType(StrEnum):
    USER = "USER"
    TEAM = "TEAM"
    CUSTOM = "CUSTOM"


class IntervalUnit(StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"
    YEAR = "YEAR"


class ItemExpiry(StrEnum):
    NEVER = "NEVER"
    WHEN_REPEATED = "WHEN_REPEATED"
    WHEN_PURCHASE_EXPIRES = "WHEN_PURCHASE_EXPIRES"


MAX_CUSTOMER_ID_LENGTH = 200


@dataclass(frozen=True)
class CustomerRef:
    """Who a customer is in the app's own terms: ``USER user-123``."""

    type: CustomerType
    customer_id: str

    def __str__(self) -> str:
        return f"{self.type.value} {self.customer_id}"


class Currency(StrEnum):
    USD = "USD"
    EUR = "EUR"
    GBP = "GBP"
    JPY = "JPY"
    INR = "INR"
    AUD = "AUD"
    CAD = "CAD"
