"""The Strawberry ASGI view: builds the per-request context and authenticates callers.

HTTP callers authenticate with the ``Authorization`` header; a bad credential is answered
with 401 and a GraphQL-shaped error before any resolver runs. WebSocket callers send the
same value as ``Authorization`` in the ``connection_init`` payload (browsers cannot set
headers on a WebSocket); a bad one closes the socket with 4403.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from billgate.graphql.auth import ANONYMOUS, AuthError, Principal, authenticate
from billgate.graphql.context import Context
from billgate.graphql.live_items import ItemFeeds
from billgate.graphql.ws_handler import BillgateWSHandler
from billgate.runtime import Runtime


class BillgateGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = BillgateWSHandler

    def __init__(self, schema: BaseSchema, runtime: Runtime) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql",
            allow_queries_via_get=False,  # mutations never via GET; queries POST too
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=10),
        )
        self.runtime = runtime
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
            await self._serve_http(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def _serve_http(self, scope: Any, receive: Any, send: Any) -> None:
        # Strawberry answers a request it cannot read (bad JSON, wrong content type) in
        # plain text; clients of a GraphQL endpoint expect a GraphQL-shaped JSON error.
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as exc:
            code = "INVALID_INPUT" if exc.status_code == 400 else None
            response = error_response(exc.reason, exc.status_code, code)
        await response(scope, receive, send)

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

    def decode_json(self, data: str | bytes) -> object:
        # orjson refuses what json.loads lets through to a 500 or to the database: nesting
        # past 1,024 levels (json.loads: RecursionError) and lone surrogates. Its error is a
        # JSONDecodeError, which Strawberry answers with 400.
        return orjson.loads(data)


def error_response(message: str, status: int, code: str | None) -> Response:
    error: dict[str, Any] = {"message": message}
    if code:
        error["extensions"] = {"code": code}
    return Response(orjson.dumps({"data": None, "errors": [error]}), status_code=status,
                    media_type="application/json")
