"""The Strawberry ASGI view: builds the per-request context and authenticates callers.

HTTP callers authenticate with the ``Authorization`` header; a bad credential is answered
with 401 and a GraphQL-shaped error before any resolver runs. WebSocket callers send the
same value as ``Authorization`` in the ``connection_init`` payload (browsers cannot set
headers on a WebSocket); a bad one closes the socket with 4403. A handshake from another
origin is accepted only when ``BILLGATE_ALLOWED_ORIGINS`` lists it (``web/origins.py``, the
list CORS uses too). ``GET /graphql`` in a browser is billgate's own GraphiQL page.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from billgate.graphql import graphiql
from billgate.graphql.auth import ANONYMOUS, AuthError, Principal, authenticate
from billgate.graphql.context import Context
from billgate.graphql.live_items import ItemFeeds
from billgate.graphql.ws_handler import BillgateWSHandler
from billgate.runtime import Runtime
from billgate.web.origins import OriginPolicy, refusal

log = logging.getLogger("billgate.cors")


class BillgateGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = BillgateWSHandler

    def __init__(self, schema: BaseSchema, runtime: Runtime, *,
                 origins: OriginPolicy | None = None) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql",
            allow_queries_via_get=False,  # mutations never via GET; queries POST too
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=10),
        )
        self.runtime = runtime
        # Strawberry's own ``allowed_origins`` takes exact origins only; ours also takes
        # ``http://localhost:*``, so the check is ours (``is_websocket_origin_allowed``).
        self.origins = origins or OriginPolicy()
        self.item_feeds = ItemFeeds()

    def principal_for(self, authorization: str | None) -> Principal:
        return authenticate(
            authorization,
            secret_keys=self.runtime.secret_keys,
            token_secret=self.runtime.settings.customer_token_secret,
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            raw = headers.get(b"authorization")
            try:
                principal = self.principal_for(raw.decode("latin-1") if raw else None)
            except AuthError as exc:
                body = {"errors": [{"message": exc.message, "extensions": {"code": exc.code}}]}
                response = Response(orjson.dumps(body), status_code=401,
                                    media_type="application/json",
                                    headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = principal
        await super().__call__(scope, receive, send)

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql.page()  # packaged assets, no CDN (graphql/graphiql.py)

    def is_websocket_origin_allowed(self, request: WebSocket, origin: str) -> bool:
        """Cross-origin handshakes only (Strawberry passes same-origin and Origin-less ones)."""
        if self.origins.allows(origin):
            return True
        log.warning("refused a cross-origin WebSocket: %s", refusal(origin))
        return False

    async def reject_websocket(self, request: WebSocket) -> WebSocket:
        """403 with a body naming the setting, where the server can send one (uvicorn can);
        a browser shows it in its network panel."""
        if "websocket.http.response" in request.scope.get("extensions", {}):
            origin = request.headers.get("origin", "")
            await request.send_denial_response(PlainTextResponse(refusal(origin), status_code=403))
            return request
        return await super().reject_websocket(request)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        principal = request.scope.get("state", {}).get("principal", ANONYMOUS)
        return Context(runtime=self.runtime, principal=principal, request=request,
                       item_feeds=self.item_feeds)

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        params = context.connection_params or {}
        authorization = params.get("Authorization") or params.get("authorization")
        if authorization is not None and not isinstance(authorization, str):
            raise ConnectionRejectionError({"message": "Authorization must be a string"})
        try:
            context.principal = self.principal_for(authorization)
        except AuthError as exc:
            raise ConnectionRejectionError({"message": exc.message, "code": exc.code}) from None
        return None

    def encode_json(self, data: object) -> bytes:  # type: ignore[override]
        return orjson.dumps(data)
