"""Payouts (``/admin/payouts``): in live mode, what Stripe holds (available and pending per
currency) and its payouts to the bank, newest first, a page at a time (Stripe's cursor). In
test mode no money moves, so there is nothing to pay out: the page says so."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from billgate.payments import stripe_payouts
from billgate.payments.stripe_rails import ProcessorError, StripeRails
from billgate.web.admin.console import Ctx
from billgate.web.admin.templating import query

PAGE = 25


async def page(ctx: Ctx) -> Response:
    runtime = ctx.runtime
    test_mode = (await runtime.payment_settings()).test_mode
    stripe = runtime.live_rails if isinstance(runtime.live_rails, StripeRails) else None
    context: dict[str, Any] = {"test_mode": test_mode, "configured": stripe is not None,
                               "balance": [], "payouts": [], "error": None, "next_url": None}
    after = (ctx.request.query_params.get("after") or "")[:100] or None
    if not test_mode and stripe is not None:
        try:
            context["balance"] = await stripe_payouts.balance(stripe)
            payouts, more = await stripe_payouts.list_payouts(stripe, limit=PAGE, starting_after=after)
        except ProcessorError as exc:
            context["error"] = f"Stripe did not answer: {exc.message}"
        else:
            context["payouts"] = payouts
            if more and payouts:
                context["next_url"] = query("/admin/payouts", after=payouts[-1].id)
    context["first_url"] = "/admin/payouts" if after else None
    return ctx.render("admin/payouts.html", **context)


def routes(page_: Callable[..., Any], action: Callable[..., Any]) -> list[Route]:
    return [Route("/payouts", page_(page), methods=["GET"])]
