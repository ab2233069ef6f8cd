"""The console's routes under ``/admin`` (``BILLGATE_ADMIN_ENABLED``, on by default).

Pages are GETs (``Console.page``: signed in, or off to sign-in and back); every change is a
POST (``Console.action``: signed in and carrying the session's CSRF token) that calls one
billing function through ``actions.perform``, which records it as an ``OperatorAction``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from billgate.runtime import Runtime
from billgate.web.admin import auth, live
from billgate.web.admin.console import Console
from billgate.web.admin.views import (
    activity,
    catalog,
    customer,
    customers,
    ledgers,
    overview,
    payouts,
    promo_codes,
    settings,
    webhooks,
)

STATIC = Path(__file__).parent / "static"


def admin_routes(get_runtime: Callable[[], Runtime]) -> list[BaseRoute]:
    console = Console(get_runtime)
    page, action = console.page, console.action

    async def sign_in_page(request: Request) -> Response:
        return await auth.show(console, request)

    async def sign_in(request: Request) -> Response:
        return await auth.sign_in(console, request)

    routes: list[BaseRoute] = [
        Route("/sign-in", sign_in_page, methods=["GET"]),
        Route("/sign-in", sign_in, methods=["POST"]),
        Route("/sign-out", action(lambda ctx, form: auth.sign_out(ctx)), methods=["POST"]),
        *catalog.routes(page, action),
        *customers.routes(page, action),
        *customer.routes(page, action),
        *ledgers.routes(page, action),
        *payouts.routes(page, action),
        *webhooks.routes(page, action),
        *promo_codes.routes(page, action),
        *settings.routes(page, action),
        *activity.routes(page, action),
        *live.routes(page),
        Mount("/static", StaticFiles(directory=STATIC), name="admin-static"),
    ]
    return [Route("/admin", page(overview.page), methods=["GET"]),
            Mount("/admin", routes=routes)]
