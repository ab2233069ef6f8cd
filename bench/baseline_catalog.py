"""Bare Starlette doing the catalog query's database read and JSON, without GraphQL.

Same engine settings, same repository call, same response shape as billgate's
``products(first: 20)`` query in ``catalog.py``: the ratio measures what billgate's
GraphQL layer costs on top of the work itself.
"""

from __future__ import annotations

import os

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from billgate.billing import catalog
from billgate.db.engine import Database
from billgate.graphql.ids import global_id
from billgate.money import from_minor

db = Database(os.environ["BILLGATE_DATABASE_URL"])


async def products(request: Request) -> Response:
    orjson.loads(await request.body())
    async with db.read_session() as session:
        rows = await catalog.list_products_page(session, after=None, limit=21)
    edges = [
        {"node": {
            "id": global_id("Product", row.product_id),
            "productId": row.product_id,
            "displayName": row.display_name,
            "prices": [
                {"priceId": p["priceId"],
                 "amounts": [{"currency": c, "amount": from_minor(m, c)} for c, m in p["amounts"].items()],
                 "interval": p.get("interval")}
                for p in row.prices if not p.get("serverOnly")
            ],
        }}
        for row in rows[:20]
    ]
    return Response(orjson.dumps({"data": {"products": {"edges": edges}}}),
                    media_type="application/json")


app = Starlette(routes=[Route("/graphql", products, methods=["POST"])])
