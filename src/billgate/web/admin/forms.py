"""What a console form shows after a failed submit: the values as typed and each error
next to its field (``FormState``), and the parsing of typed values into what the billing
functions take. A value that does not parse is an ``InvalidInput`` naming the form's
field, exactly like the billing functions' own errors, so both are shown the same way."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.datastructures import FormData

from billgate.errors import BillgateError, InvalidInput
from billgate.money import MoneyError, to_minor


@dataclass
class FormState:
    """A form's typed values and errors by field; ``error`` is about the whole form."""

    name: str = ""
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    def value(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def checked(self, name: str, default: bool = False) -> bool:
        return name in self.values if self.values else default

    def error_for(self, name: str) -> str | None:
        return self.errors.get(name)

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.error)


def typed(form: FormData) -> dict[str, str]:
    """The form's text fields as typed (the CSRF token left out)."""
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


def failed_form(name: str, form: FormData, exc: BillgateError,
                fields: Mapping[str, str]) -> FormState:
    """``exc`` shown on the form ``name``: next to the field its ``field`` path names
    (``fields`` maps a path, joined with ".", or its first part to a form field), else
    above the form."""
    state = FormState(name=name, values=typed(form))
    path = exc.field or []
    target = None
    for size in range(len(path), 0, -1):
        target = fields.get(".".join(path[:size]))
        if target:
            break
    if target:
        state.errors[target] = exc.message
    else:
        state.error = exc.message
    return state


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def whole_number(form: FormData, name: str, label: str, *, required: bool = True) -> int | None:
    raw = text(form, name)
    if not raw:
        if required:
            raise InvalidInput(f"{label} is required", field=[name])
        return None
    if not re.fullmatch(r"[+-]?\d{1,12}", raw.replace(",", "").replace(" ", "")):
        raise InvalidInput(f"{label} must be a whole number, like 500 or -20", field=[name])
    return int(raw.replace(",", "").replace(" ", ""))


def amount(form: FormData, name: str, currency: str) -> int | None:
    """A decimal amount typed in ``currency`` ("5.00"), as minor units; None when empty."""
    raw = text(form, name)
    if not raw:
        return None
    try:
        return to_minor(raw.replace(",", ""), currency)
    except MoneyError as exc:
        raise InvalidInput(f"Amount: {exc}", field=[name]) from None


def utc_time(form: FormData, name: str, label: str) -> datetime | None:
    """A ``datetime-local`` value (``2027-01-31T12:00``), read as UTC; None when empty."""
    raw = text(form, name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{label} must be a date and time, like 2027-01-31 12:00",
                           field=[name]) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
