"""Transactions (``/admin/transactions``) and Invoices (``/admin/invoices``) of every
customer, newest first, with filters (kind or status, customer, dates, mode) and keyset
pages. The same reads as ``Query.transactions`` and ``Query.invoices``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.routing import Route

from billgate.billing import reports
from billgate.billing.transactions import KINDS
from billgate.types import CustomerRef, CustomerType
from billgate.web.admin.console import Ctx
from billgate.web.admin.templating import query

PAGE = 50
INVOICE_STATUSES = ("DRAFT", "OPEN", "PAID", "UNCOLLECTIBLE", "VOID")


def _date(value: str | None, *, end: bool = False) -> datetime | None:
    """A ``YYYY-MM-DD`` filter as a UTC bound: from the day's start; to the next day's."""
    try:
        day = datetime.combine(datetime.strptime(value or "", "%Y-%m-%d").date(), time(), UTC)
    except ValueError:
        return None
    return day + timedelta(days=1) if end else day


def _customer(params: QueryParams) -> CustomerRef | None:
    type_name, customer_id = params.get("type") or "", (params.get("customer") or "").strip()
    if customer_id and type_name in CustomerType.__members__:
        return CustomerRef(CustomerType(type_name), customer_id[:200])
    return None


def _before(params: QueryParams) -> int | None:
    value = params.get("before") or ""
    return int(value) if value.isdigit() and len(value) < 19 else None


def _filters(params: QueryParams, *names: str) -> dict[str, str]:
    return {name: params.get(name) or "" for name in names}


async def transactions_page(ctx: Ctx) -> Response:
    params = ctx.request.query_params
    kind = params.get("kind") or ""
    mode = params.get("mode") or ""
    wanted = reports.TransactionFilter(
        kinds=[kind] if kind in KINDS else None, customer=_customer(params),
        start=_date(params.get("from")), end=_date(params.get("to"), end=True),
        test_mode={"test": True, "live": False}.get(mode))
    before = _before(params)
    async with ctx.runtime.db.read_session() as session:
        rows = await reports.transactions_page(session, wanted, before_id=before, limit=PAGE + 1)
    shown = rows[:PAGE]
    kept = _filters(params, "kind", "type", "customer", "from", "to", "mode")
    return ctx.render(
        "admin/transactions.html", test_mode=(await ctx.runtime.payment_settings()).test_mode,
        rows=shown, kinds=KINDS, f=kept, filtered=any(kept.values()),
        next_url=query("/admin/transactions", **kept, before=shown[-1].row.id) if len(rows) > PAGE else None,
        first_url=query("/admin/transactions", **kept) if before is not None else None)


async def invoices_page(ctx: Ctx) -> Response:
    params = ctx.request.query_params
    status = params.get("status") or ""
    wanted = reports.InvoiceFilter(
        statuses=[status] if status in INVOICE_STATUSES else None, customer=_customer(params),
        start=_date(params.get("from")), end=_date(params.get("to"), end=True))
    before = _before(params)
    async with ctx.runtime.db.read_session() as session:
        rows = await reports.invoices_page(session, wanted, before_id=before, limit=PAGE + 1)
    shown = rows[:PAGE]
    kept = _filters(params, "status", "type", "customer", "from", "to")
    return ctx.render(
        "admin/invoices.html", test_mode=(await ctx.runtime.payment_settings()).test_mode,
        rows=shown, statuses=INVOICE_STATUSES, f=kept, filtered=any(kept.values()),
        next_url=query("/admin/invoices", **kept, before=shown[-1].row.id) if len(rows) > PAGE else None,
        first_url=query("/admin/invoices", **kept) if before is not None else None)


def routes(page_: Callable[..., Any], action: Callable[..., Any]) -> list[Route]:
    return [Route("/transactions", page_(transactions_page), methods=["GET"]),
            Route("/invoices", page_(invoices_page), methods=["GET"])]
