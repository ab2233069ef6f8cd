"""The ASGI application: GraphQL at ``/graphql`` (HTTP and WebSocket) plus hosted pages."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute

from billgate.billing import operator_actions, payment_settings
from billgate.clock import TestClock
from billgate.db.engine import Database
from billgate.db.models import AppSetting
from billgate.db.upsert import insert_ignore
from billgate.events import create_bus
from billgate.graphql.graphiql import asset_routes as graphiql_assets
from billgate.graphql.schema import build_schema
from billgate.graphql.view import BillgateGraphQL
from billgate.notifications.webhooks.url_policy import UrlPolicy
from billgate.ops.gc_tuning import tune_for_serving
from billgate.ops.health import healthz, readyz
from billgate.ops.logging import RequestIdMiddleware
from billgate.ops.metrics import metrics_endpoint
from billgate.rest.routes import PREFIX as REST_PREFIX
from billgate.rest.routes import rest_routes
from billgate.runtime import Runtime, stripe_rails_for
from billgate.scheduler.jobs import email_job, webhook_job
from billgate.scheduler.runner import Scheduler
from billgate.settings import Settings
from billgate.web.admin.routes import admin_routes
from billgate.web.checkout import checkout_routes
from billgate.web.cors import GraphQLCors
from billgate.web.invoices import invoice_routes
from billgate.web.limits import BodySizeLimit
from billgate.web.origins import OriginPolicy
from billgate.web.portal.routes import pay_url as portal_pay_url
from billgate.web.portal.routes import portal_routes
from billgate.webhooks.stripe import webhook_routes

log = logging.getLogger("billgate")
DEV_KEY = "dev_secret_key"


async def build_runtime(settings: Settings) -> Runtime:
    """Open the database and settle start-up settings (environment wins over stored values)."""
    db = Database(settings.database_url, **settings.database_options)
    async with db.session() as session, session.begin():
        if settings.test_mode is not None:
            await payment_settings.update(session, test_mode=settings.test_mode)
        current = await payment_settings.load(session)
        keys = settings.secret_keys
        if not keys and current.test_mode:
            keys = (await _development_key(session),)
    if not keys:
        log.warning("no BILLGATE_SECRET_KEYS set and test mode is off: no server caller can sign in")
    return Runtime(settings=settings, db=db, clock=TestClock(), secret_keys=keys,
                   live_rails=stripe_rails_for(settings, db))


async def _development_key(session: AsyncSession) -> str:
    """A server key for test mode when none is configured: generated once, kept in the
    database so it survives restarts, and printed at start-up. Two processes starting at
    once race on the primary key, not on a read: both end up with the same key."""
    await insert_ignore(session, AppSetting.__table__,  # type: ignore[arg-type]
                        {"key": DEV_KEY, "value": f"sk_test_{secrets.token_urlsafe(24)}",
                         "updated_at": datetime.now(UTC)}, ["key"])
    value = await session.scalar(select(AppSetting.value).where(AppSetting.key == DEV_KEY))
    return str(value)


def build_scheduler(runtime: Runtime) -> Scheduler:
    """The scheduler of this process: billing work, the email outbox and outgoing webhooks,
    every ``BILLGATE_SCHEDULER_INTERVAL`` seconds, on the runtime's clock."""
    settings = runtime.settings
    return Scheduler(runtime.billing, runtime.clock.now, interval=settings.scheduler_interval,
                     extra=(email_job(smtp_url=settings.smtp_url, sender=settings.email_from,
                                      templates_dir=settings.email_templates or None),
                            webhook_job(UrlPolicy.from_settings(settings))),
                     before_tick=runtime.sync_test_clock)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Starlette:
    """Build the app. With ``runtime`` given (tests), the caller owns its lifetime."""
    settings = settings or (runtime.settings if runtime else Settings.from_env())
    holder: dict[str, Runtime] = {}
    if runtime is not None:
        holder["runtime"] = runtime

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        owned = "runtime" not in holder
        if owned:
            holder["runtime"] = await build_runtime(settings)
        rt = holder["runtime"]
        graphql.runtime = rt
        bus_owned = rt.bus is None
        if bus_owned:
            rt.bus = create_bus(settings.event_bus_url, channel=settings.event_bus_channel or None)
            await rt.bus.start()
        scheduler = build_scheduler(rt) if settings.scheduler else None
        if scheduler is not None:
            scheduler.start()
        if owned:  # a serving process (tests bring their own runtime)
            tune_for_serving()
        try:
            yield
        finally:
            if scheduler is not None:
                await scheduler.stop()  # before the bus and the database it uses close
            await operator_actions.flush(rt.db)  # the operator log lines still queued
            if bus_owned:
                # Closing the bus ends every live subscription cleanly before shutdown.
                await rt.bus.close()
                rt.bus = None
            if owned:
                await rt.aclose()
                await rt.db.dispose()

    placeholder = runtime or Runtime(settings=settings, db=None, clock=TestClock(),  # type: ignore[arg-type]
                                     secret_keys=())
    origins = OriginPolicy.parse(settings.allowed_origins)  # a bad entry fails here, at start-up
    schema = build_schema(debug=settings.debug, max_query_cost=settings.max_query_cost,
                          max_query_bytes=settings.max_query_bytes)
    graphql = BillgateGraphQL(schema, placeholder, origins=origins)

    return Starlette(
        debug=settings.debug,
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *graphiql_assets(),
            Route("/healthz", healthz),
            Route("/readyz", readyz(lambda: graphql.runtime)),
            Route("/metrics", metrics_endpoint),
            *checkout_routes(lambda: graphql.runtime),
            *webhook_routes(lambda: graphql.runtime),
            *invoice_routes(lambda: graphql.runtime, pay_url_for=portal_pay_url),
            *portal_routes(lambda: graphql.runtime),
            *rest_routes(lambda: graphql.runtime),
            *(admin_routes(lambda: graphql.runtime) if settings.admin_enabled else []),
        ],
        middleware=[
            Middleware(RequestIdMiddleware),
            # The REST edge refuses large bodies itself, as JSON 400 naming `body`.
            Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes,
                       exempt_prefixes=(f"{REST_PREFIX}/",)),
            Middleware(GraphQLCors, policy=origins),
        ],
        lifespan=lifespan,
    )
