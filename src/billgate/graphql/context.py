"""The typed per-request (or per-WebSocket) context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info as StrawberryInfo

from billgate.auth import Principal
from billgate.runtime import Runtime


@dataclass
class Context:
    runtime: Runtime
    principal: Principal
    request: Any = None
    # Per-request caches (DataLoaders); never kept across subscription events.
    loaders: dict[str, Any] = field(default_factory=dict)
    # Customers ensured in this request (``resolvers/customers.ensure_customer``): ref -> pk.
    customer_pks: dict[Any, int] = field(default_factory=dict)
    # Customers whose check ``customer(...)`` left to the fields selected under it, each of
    # which makes it in its own statement (``resolvers/customers.customer``).
    deferred_customers: set[Any] = field(default_factory=set)
    # The graphql-transport-ws ``connection_init`` payload (WebSocket only).
    connection_params: dict[str, Any] | None = None
    # This process's live balance and customer feeds (graphql/live_items.py,
    # live_customers.py), shared by every connection.
    item_feeds: Any = None
    customer_feeds: Any = None


Info = StrawberryInfo[Context, None]
