"""Prometheus metrics, served at ``/metrics``.

One registry per process. Names are public (dashboards are written against them).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from strawberry.extensions import SchemaExtension

REGISTRY = CollectorRegistry(auto_describe=True)

GRAPHQL_REQUESTS = Counter(
    "billgate_graphql_requests_total", "GraphQL operations by name, type and outcome",
    ["operation", "type", "outcome"], registry=REGISTRY,
)
GRAPHQL_LATENCY = Histogram(
    "billgate_graphql_request_seconds", "GraphQL operation latency by name",
    ["operation", "type"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CATALOG_CACHE = Counter(
    "billgate_catalog_cache_total", "Catalog-only queries answered from the cache (hit) or "
    "executed (miss)", ["result"], registry=REGISTRY,
)
ITEM_CHANGES = Counter(
    "billgate_item_changes_total", "Committed item balance changes by reason", ["reason"],
    registry=REGISTRY,
)
SUBSCRIPTIONS = Gauge(
    "billgate_live_subscriptions", "Open GraphQL subscriptions (itemQuantityChanged)",
    registry=REGISTRY,
)
LIVE_EXECUTIONS = Counter(
    "billgate_live_executions_total", "GraphQL executions of live subscription states (a state "
    "shared by identical subscriptions counts once)", ["subscription"], registry=REGISTRY,
)
SCHEDULER_LAG = Gauge(
    "billgate_scheduler_lag_seconds", "How late the oldest due job was when last claimed",
    registry=REGISTRY,
)
WEBHOOKS = Counter(
    "billgate_webhooks_total", "Stripe webhook deliveries by event type and outcome",
    ["type", "outcome"], registry=REGISTRY,
)

WEBHOOK_ATTEMPTS = Counter(
    "billgate_webhook_delivery_attempts_total",
    "Outgoing webhook delivery attempts by outcome (delivered: a 2xx within 10 s; failed)",
    ["outcome"], registry=REGISTRY,
)
WEBHOOK_OLDEST_PENDING = Gauge(
    "billgate_webhook_oldest_pending_seconds",
    "Age of the oldest outgoing webhook event not yet delivered to every endpoint (billing clock)",
    registry=REGISTRY,
)


MAX_OPERATION_NAMES = 200
_seen_names: set[str] = set()


def operation_label(name: str | None) -> str:
    """Callers choose operation names: cap the label set so they cannot grow it unbounded."""
    if not name:
        return "anonymous"
    if name in _seen_names:
        return name
    if len(_seen_names) >= MAX_OPERATION_NAMES or len(name) > 64:
        return "other"
    _seen_names.add(name)
    return name


class OperationMetrics(SchemaExtension):
    """Counts and times every GraphQL operation by its name (``anonymous`` when unnamed)."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        name = operation_label(context.operation_name)
        try:
            op_type = context.operation_type.value
        except Exception:  # unparsable documents have no operation type
            op_type = "unknown"
        result = context.result
        outcome = "error" if result is not None and getattr(result, "errors", None) else "ok"
        if op_type != "subscription":  # a subscription's "latency" is its lifetime
            GRAPHQL_LATENCY.labels(name, op_type).observe(time.perf_counter() - started)
        GRAPHQL_REQUESTS.labels(name, op_type, outcome).inc()


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
