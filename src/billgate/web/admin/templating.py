"""The console's Jinja2 templates and the filters they format with.

Templates show what their view model holds and nothing else: no query, no rule. Money is
formatted from minor units per currency (``pages.money``), times are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader

from billgate.money import from_minor
from billgate.web import pages

env = Environment(loader=PackageLoader("billgate.web.admin", "templates"), autoescape=True,
                  trim_blocks=True, lstrip_blocks=True)
CSS = env.loader.get_source(env, "admin/admin.css")[0]  # type: ignore[union-attr]
STYLE = pages.style_hash(CSS)


def when(value: datetime | None, *, seconds: bool = False) -> str:
    """``2026-12-04 10:21 UTC``; a dash for no time."""
    if value is None:
        return "—"
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return value.astimezone(UTC).strftime(fmt) + " UTC"


def day(value: datetime | None) -> str:
    return "—" if value is None else f"{value.day} {value:%b %Y}"


def money(minor: int | None, currency: str | None) -> str:
    if minor is None or not currency:
        return "—"
    return pages.money(int(minor), currency)


def decimal(minor: int, currency: str) -> str:
    """``500, "USD"`` -> ``5.00``: what an amount field takes."""
    return from_minor(int(minor), currency)


def number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def signed(value: int) -> str:
    return f"+{value:,}" if value > 0 else f"{value:,}".replace("-", "−")


def query(base: str, **params: Any) -> str:
    """``base`` with the non-empty ``params`` as its query string."""
    kept = {k: v for k, v in params.items() if v not in (None, "", [])}
    return f"{base}?{urlencode(kept, doseq=True)}" if kept else base


def customer_url(type_: str, customer_id: str) -> str:
    return f"/admin/customers/{type_}/{quote(customer_id, safe='')}"


env.filters.update(when=when, day=day, number=number, signed=signed)
env.globals.update(money=money, decimal=decimal, query=query, customer_url=customer_url, page_css=CSS)


def render(template: str, **context: Any) -> str:
    return env.get_template(template).render(**context)
