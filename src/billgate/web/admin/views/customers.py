"""Customers (``/admin/customers``): search by id or email (``?q=``), filter by type,
newest first, keyset pages of 25 (``?before=`` the last row's key)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from billgate.billing import reports
from billgate.types import CustomerType
from billgate.web.admin.console import Ctx
from billgate.web.admin.templating import query

PAGE = 25


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 19 else None


async def page(ctx: Ctx) -> Response:
    params = ctx.request.query_params
    q = (params.get("q") or "").strip()[:200]
    type_name = params.get("type") or ""
    customer_type = CustomerType(type_name) if type_name in CustomerType.__members__ else None
    before = _int(params.get("before"))
    async with ctx.runtime.db.read_session() as session:
        rows = await reports.search_customers(session, query=q, customer_type=customer_type,
                                              before_pk=before, limit=PAGE + 1)
    shown = rows[:PAGE]
    base = {"q": q, "type": customer_type.value if customer_type else ""}
    next_url = query("/admin/customers", **base, before=shown[-1].id) if len(rows) > PAGE else None
    first_url = query("/admin/customers", **base) if before is not None else None
    return ctx.render("admin/customers.html", test_mode=(await ctx.runtime.payment_settings()).test_mode,
                      customers=shown, q=q, type=base["type"], next_url=next_url,
                      first_url=first_url)


def routes(page_: Callable[..., Any], action: Callable[..., Any]) -> list[Route]:
    return [Route("/customers", page_(page), methods=["GET"])]
