"""Activity (``/admin/activity``): the operator actions log, newest first, keyset pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from billgate.billing import operator_actions
from billgate.types import CustomerType
from billgate.web.admin.console import Ctx
from billgate.web.admin.templating import customer_url, query

PAGE = 50


def target_link(target: str | None) -> str | None:
    """A customer's page for ``USER:u-1``; None for anything else."""
    type_name, _, customer_id = (target or "").partition(":")
    return customer_url(type_name, customer_id) if type_name in CustomerType.__members__ \
        and customer_id else None


async def page(ctx: Ctx) -> Response:
    value = ctx.request.query_params.get("before") or ""
    before = int(value) if value.isdigit() and len(value) < 19 else None
    await operator_actions.flush(ctx.runtime.db)  # this process's own latest actions too
    async with ctx.runtime.db.read_session() as session:
        rows = await operator_actions.list_page(session, before_id=before, limit=PAGE + 1)
    shown = rows[:PAGE]
    return ctx.render("admin/activity.html",
                      test_mode=(await ctx.runtime.payment_settings()).test_mode,
                      rows=shown, target_link=target_link,
                      next_url=query("/admin/activity", before=shown[-1].id) if len(rows) > PAGE else None,
                      first_url="/admin/activity" if before is not None else None)


def routes(page_: Callable[..., Any], action: Callable[..., Any]) -> list[Route]:
    return [Route("/activity", page_(page), methods=["GET"])]
