"""The Strawberry ASGI view: builds the per-request context and authenticates callers.

HTTP callers authenticate with the ``Authorization`` header; a bad credential is answered
with 401 and a GraphQL-shaped error before any resolver runs. WebSocket callers send the
same value as ``Authorization`` in the ``connection_init`` payload (browsers cannot set
headers on a WebSocket); a bad one closes the socket with 4403. A handshake from another
origin is accepted only when ``BILLGATE_ALLOWED_ORIGINS`` lists it (``web/origins.py``, the
list CORS uses too). ``GET /graphql`` in a browser is billgate's own GraphiQL page.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from billgate.auth import ANONYMOUS, AuthError, Principal, authenticate
from billgate.db.direct import Unavailable
from billgate.graphql import graphiql
from billgate.graphql.catalog_cache import CatalogCache
from billgate.graphql.context import Context
from billgate.graphql.errors import DATABASE_UNAVAILABLE_MESSAGE
from billgate.graphql.live_customers import CustomerFeeds
from billgate.graphql.live_items import ItemFeeds
from billgate.graphql.ws_handler import BillgateWSHandler, TokenSockets
from billgate.runtime import Runtime
from billgate.text import bad_text
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
        self.customer_feeds = CustomerFeeds()
        # Open WebSockets per customer token (``ws_handler.TokenSockets``).
        self.token_sockets = TokenSockets(runtime.settings.max_sockets_per_token)
        self.catalog_cache: CatalogCache | None = None

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

    async def render_graphql_ide(self, request: Request) -> Response:
        # Packaged assets, no CDN (graphql/graphiql.py); in test mode with the generated
        # development key, the page says where to find it.
        runtime = self.runtime
        development_key = (not runtime.settings.secret_keys and bool(runtime.secret_keys)
                           and (await runtime.payment_settings()).test_mode)
        return graphiql.page(development_key=development_key)

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
    async def _serve_http(self, scope: Any, receive: Any, send: Any) -> None:
        cache = self._catalog_cache(scope)
        if cache is None:
            response = await self._execute_http(scope, receive)
        else:
            body = await _read_body(receive)
            principal = scope["state"]["principal"]
            response = await self._serve_cached(cache, scope, body, server=principal.is_server)
        await response(scope, receive, send)

    async def _execute_http(self, scope: Any, receive: Any) -> Response:
        # Strawberry answers a request it cannot read (bad JSON, wrong content type) in
        # plain text; clients of a GraphQL endpoint expect a GraphQL-shaped JSON error.
        try:
            return await self.run(Request(scope=scope, receive=receive))
        except HTTPException as exc:
            code = "INVALID_INPUT" if exc.status_code == 400 else None
            return error_response(exc.reason, exc.status_code, code)

    def _catalog_cache(self, scope: Any) -> CatalogCache | None:
        """The cache of catalog answers, for a JSON POST (``graphql/catalog_cache.py``)."""
        direct = self.runtime.db.direct
        if (direct is None or not self.runtime.settings.catalog_cache
                or scope["method"] != "POST" or not _is_json(scope)):
            return None
        if self.catalog_cache is None or self.catalog_cache.direct is not direct:
            self.catalog_cache = CatalogCache(direct)
        return self.catalog_cache

    async def _serve_cached(self, cache: CatalogCache, scope: Any, body: bytes, *,
                            server: bool) -> Response:
        replay = _replay(body)
        key = cache.key(body, server=server)
        try:
            version = None if key is None else await cache.version()
        except Unavailable:  # executing would wait on the same database as long again
            return error_response(DATABASE_UNAVAILABLE_MESSAGE, 200, "DATABASE_UNAVAILABLE")
        if key is None or version is None:
            return await self._execute_http(scope, replay)
        kept = cache.get(key, version)
        if kept is not None:
            return Response(kept, media_type="application/json")
        response = await self._execute_http(scope, replay)
        if (response.status_code == 200 and response.media_type == "application/json"
                and orjson.loads(response.body).get("errors") is None):
            cache.put(key, version, bytes(response.body))
        return response

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        principal = request.scope.get("state", {}).get("principal", ANONYMOUS)
        return Context(runtime=self.runtime, principal=principal, request=request,
                       item_feeds=self.item_feeds, customer_feeds=self.customer_feeds)

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
        # json.loads, not orjson: orjson turns integers past 64 bits into floats, and
        # amounts that large must reach the BigInt scalar to be refused as INVALID_INPUT.
        # What json.loads would let through to a 500 becomes a JSONDecodeError, which
        # Strawberry answers with 400: nesting deep enough to exhaust the recursion limit,
        # bytes that are not UTF-8, and lone surrogate escapes ("\ud800": not encodable,
        # so neither storable nor printable in an answer).
        try:
            # Strictly: json.loads would decode bytes with "surrogatepass".
            value = json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
        except (RecursionError, UnicodeDecodeError) as exc:
            raise json.JSONDecodeError(f"{type(exc).__name__}", "", 0) from None
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        if _SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(value):
            raise json.JSONDecodeError("lone surrogate", "", 0)
        return value


def _is_json(scope: Any) -> bool:
    for name, value in scope.get("headers") or []:
        if name == b"content-type":
            return value.split(b";")[0].strip().lower() == b"application/json"
    return False


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Any:
    """A ``receive`` that hands ``body`` over again, for the request it was read from."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


# A \uD800-\uDFFF escape; most bodies have none, so the walk below rarely runs.
_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F]")


def _has_lone_surrogate(value: object) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if bad_text(item) and any("\ud800" <= c <= "\udfff" for c in item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def error_response(message: str, status: int, code: str | None) -> Response:
    error: dict[str, Any] = {"message": message}
    if code:
        error["extensions"] = {"code": code}
    return Response(orjson.dumps({"data": None, "errors": [error]}), status_code=status,
                    media_type="application/json")
