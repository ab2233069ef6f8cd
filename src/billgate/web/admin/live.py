"""Live balances on a customer's page, without the secret key in the page.

The page subscribes to ``itemQuantityChanged`` over ``/graphql`` (graphql-transport-ws),
the same subscription any frontend uses, with the vendored ``graphql-ws`` client
(``static/live.js``). It authenticates with a scoped token (``bgs_...``,
``web/sessions.py``): signed by this installation, valid 10 minutes, good for reading that
one customer and nothing else (no writes, no other customer, no catalog admin). The page
carries a first token; on every (re)connect the script asks ``/admin/live-token`` for a
fresh one with the session cookie. When a token expires the server closes the socket
(4403) and the client reconnects with a new one.

Why not the session cookie on the WebSocket: the GraphQL endpoint authenticates
``Authorization`` values only, so a console cookie never turns a cross-site WebSocket
into an operator's connection, and a leaked page token is worth one customer's balances
for minutes, not the console.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from billgate.types import CustomerRef, CustomerType
from billgate.web.admin.console import Ctx

TOKEN_SECONDS = 600


def token_for(ctx: Ctx, ref: CustomerRef) -> str:
    keys = ctx.console.keys()
    return keys.encode_scoped(keys.scoped_token(ref, ttl_seconds=TOKEN_SECONDS))


def live_config(ctx: Ctx, ref: CustomerRef, item_ids: list[str]) -> dict[str, Any]:
    """What the page's script needs: the customer, a first token, where to get more."""
    return {"type": ref.type.value, "customer_id": ref.customer_id, "items": item_ids,
            "token": token_for(ctx, ref), "token_url": "/admin/live-token"}


async def token(ctx: Ctx) -> Response:
    params = ctx.request.query_params
    type_name, customer_id = params.get("type", ""), params.get("id", "")
    if type_name not in CustomerType.__members__ or not customer_id:
        return JSONResponse({"error": "type and id name the customer"}, status_code=400)
    ref = CustomerRef(CustomerType(type_name), customer_id)
    return JSONResponse({"token": token_for(ctx, ref)}, headers={"Cache-Control": "no-store"})


def routes(page_: Callable[..., Any]) -> list[Route]:
    return [Route("/live-token", page_(token), methods=["GET"])]
