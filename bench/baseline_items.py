"""Bare Starlette running billgate's ``try_decrease`` (the same conditional UPDATE and
ledger insert, same engine settings), without GraphQL: the baseline for
``tryDecreaseItemQuantity`` throughput."""

from __future__ import annotations

import os

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from billgate.billing import balances
from billgate.clock import SystemClock
from billgate.db.engine import Database
from billgate.types import CustomerRef, CustomerType

db = Database(os.environ["BILLGATE_DATABASE_URL"])
clock = SystemClock()


async def try_decrease(request: Request) -> Response:
    body = orjson.loads(await request.body())
    variables = body["variables"]
    ref = CustomerRef(CustomerType.USER, variables["customerId"])
    result = await balances.try_decrease(db, ref, "credits", amount=int(variables["amount"]), clock=clock)
    data = {"tryDecreaseItemQuantity": {"success": result.success,
                                        "item": {"quantity": result.balance.quantity,
                                                 "version": result.balance.version}}}
    return Response(orjson.dumps({"data": data}), media_type="application/json")


app = Starlette(routes=[Route("/graphql", try_decrease, methods=["POST"])])
