"""Errors as the REST edge answers them: JSON ``{"code", "error", "field"}`` with the same
``code`` GraphQL puts in ``userErrors`` (or ``extensions.code``), and an HTTP status per
code: 400 bad input (insufficient quantity included), 401, 403, 404 unknown item or
product, 409 an idempotency key reused for another change, 402 a declined card, 503 a
database that does not answer. ``field`` names the request field at fault in the REST
names (``delta``, ``customer_type``, ``body``...)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import orjson
from pydantic import ValidationError
from starlette.responses import Response

from billgate.db.availability import summary
from billgate.errors import BillgateError, InvalidInput, clip_echo
from billgate.ops.logging import request_id

log = logging.getLogger("billgate.rest")

STATUS_OF_CODE = {
    "UNAUTHENTICATED": 401,
    "PAYMENT_FAILED": 402,
    "FORBIDDEN": 403,
    "ITEM_NOT_FOUND": 404,
    "PRODUCT_NOT_FOUND": 404,
    "IDEMPOTENCY_KEY_REUSED": 409,
    "DATABASE_UNAVAILABLE": 503,
}

# Billing names fields as GraphQL does; these differ on the REST edge.
_REST_FIELDS = {"amount": "delta", "customer": "customer_id", "product": "product_inline",
                "first": "limit", "after": "cursor"}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def rest_field(field: Sequence[str] | None) -> str | None:
    """The REST name of a billing error's field (its last part, in snake_case)."""
    if not field:
        return None
    last = str(field[-1])
    return _REST_FIELDS.get(last) or _CAMEL.sub("_", last).lower()


def respond(code: str, message: str, *, field: str | None = None,
            status: int | None = None) -> Response:
    body = {"code": code, "error": clip_echo(message), "field": field}
    headers = {"WWW-Authenticate": "Bearer"} if code == "UNAUTHENTICATED" else None
    return Response(orjson.dumps(body), status_code=status or STATUS_OF_CODE.get(code, 400),
                    media_type="application/json", headers=headers)


class EdgeInput(InvalidInput):
    """Bad input found by the REST edge itself: its field is named as REST names it."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, field=[field])
        self.rest_field = field


def domain_error(exc: BillgateError) -> Response:
    log.info("REST client error: %s (%s)", exc.message, exc.code)
    field = exc.rest_field if isinstance(exc, EdgeInput) else rest_field(exc.field)
    return respond(exc.code, exc.message, field=field)


def invalid_body(exc: ValidationError, *, where: str) -> EdgeInput:
    """The first problem pydantic found, naming its field (``where``: "body" or "query")."""
    first = exc.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        return EdgeInput(f"the body is not valid JSON: {first['msg']}", field="body")
    name = ".".join(str(part) for part in first["loc"]) or where
    if first["type"] == "missing":
        return EdgeInput(f"{name} is required", field=name)
    if first["type"] == "extra_forbidden":
        return EdgeInput(f"{name} is not a field of this request", field=name)
    return EdgeInput(f"{name}: {first['msg']}", field=name)


def unavailable(exc: BaseException) -> Response:
    log.warning("REST request failed: database unavailable: %s", summary(exc))
    return respond("DATABASE_UNAVAILABLE", "the database is unavailable (not answering in time, "
                   "or refusing writes); try again later")


def unexpected(exc: BaseException) -> Response:
    log.error("REST unexpected error (request %s)", request_id.get(), exc_info=exc)
    return respond("INTERNAL_ERROR", "Unexpected error.", status=500)
