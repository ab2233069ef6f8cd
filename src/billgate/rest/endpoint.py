"""One REST endpoint as data (method, path, who may call it, body, query and response
models) and the one function that serves any of them: authenticate, check the input, check
the caller may touch the customer, call the endpoint's handler, answer JSON. The OpenAPI
document is generated from the same definitions (``rest/openapi.py``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from billgate.auth import AuthError, Principal, authenticate
from billgate.billing import customers, operator_actions
from billgate.db.availability import is_unavailable
from billgate.errors import BillgateError, InvalidInput
from billgate.rest import errors
from billgate.runtime import Runtime
from billgate.types import CustomerRef, CustomerType

# read: the customer's token (a team member too) or a secret key; manage: the user itself,
# a team admin or a secret key; server: a secret key only.
Access = Literal["read", "manage", "server"]
STACK_SERVER_KEY = "x-stack-secret-server-key"


@dataclass(frozen=True)
class Call:
    """One request, checked: who calls, for which customer, with which input."""

    runtime: Runtime
    principal: Principal
    customer: CustomerRef
    path: Mapping[str, str]
    body: Any = None
    query: Any = None


Handler = Callable[[Call], Awaitable[BaseModel]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    operation_id: str
    summary: str
    handler: Handler
    access: Access
    response: type[BaseModel]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    # Error statuses this endpoint answers with, besides 400, 401 and 403.
    errors: tuple[int, ...] = field(default=())

    @property
    def client(self) -> bool:
        """Whether a customer token may call it (for its own customer)."""
        return self.access != "server"


def caller(request: Request, runtime: Runtime) -> Principal:
    """A secret key as ``Authorization: Bearer`` or ``x-stack-secret-server-key`` (Stack
    Auth's header), or a customer token as ``Authorization: Bearer``. Every endpoint needs
    one of them."""
    verify = {"secret_keys": runtime.secret_keys,
              "token_secret": runtime.settings.customer_token_secret}
    stack_key = request.headers.get(STACK_SERVER_KEY)
    if stack_key is not None:
        principal = authenticate(f"Bearer {stack_key}", **verify)
        if not principal.is_server:
            raise AuthError(f"{STACK_SERVER_KEY} must be a secret key")
        return principal
    principal = authenticate(request.headers.get("authorization"), **verify)
    if not (principal.is_server or principal.is_client):
        raise AuthError("send a secret key (Authorization: Bearer <key>, or "
                        f"{STACK_SERVER_KEY}) or a customer token (Authorization: Bearer <token>)")
    return principal


def customer_ref(customer_type: str, customer_id: str) -> CustomerRef:
    """``user`` / ``team`` / ``custom`` and an id, checked like every customer reference."""
    try:
        kind = CustomerType(customer_type.upper())
    except ValueError:
        raise InvalidInput(f"unknown customer type {customer_type!r}: use user, team or custom",
                           field=["customer_type"]) from None
    return customers.validate_ref(CustomerRef(kind, customer_id))


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body, refused with ``INVALID_INPUT`` on ``body`` past ``max_bytes`` (read no
    further than that)."""
    declared = request.headers.get("content-length", "")
    too_large = InvalidInput(f"the body is larger than {max_bytes} bytes (BILLGATE_MAX_BODY_BYTES)",
                             field=["body"])
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def check_access(endpoint: Endpoint, principal: Principal, customer: CustomerRef) -> None:
    if endpoint.access == "server":
        principal.require_server(endpoint.operation_id)
    elif endpoint.access == "manage":
        principal.require_manage(customer)
    else:
        principal.require_read(customer)


async def _checked_call(endpoint: Endpoint, request: Request, runtime: Runtime) -> Call:
    principal = caller(request, runtime)
    query = None
    if endpoint.query is not None:
        try:
            query = endpoint.query.model_validate(dict(request.query_params))
        except ValidationError as exc:
            raise errors.invalid_body(exc, where="query") from None
    body = None
    if endpoint.body is not None:
        raw = await read_body(request, runtime.settings.max_body_bytes)
        try:
            # strict: 5.0 and "5" are not a whole number of credits (JSON dates stay text).
            body = endpoint.body.model_validate_json(raw or b"{}", strict=True)
        except ValidationError as exc:
            raise errors.invalid_body(exc, where="body") from None
    path = dict(request.path_params)
    if "customer_type" in path:
        customer = customer_ref(path["customer_type"], path["customer_id"])
    else:  # create-purchase-url names its customer in the body
        customer = customer_ref(body.customer_type, body.customer_id)
    check_access(endpoint, principal, customer)
    return Call(runtime=runtime, principal=principal, customer=customer, path=path,
                body=body, query=query)


async def _record(endpoint: Endpoint, call: Call | None, outcome: str) -> None:
    """A write made with a secret key is an operator action, as on GraphQL (API.md)."""
    if call is None or endpoint.method == "GET" or not call.principal.is_server:
        return
    runtime = call.runtime
    await operator_actions.record(runtime.db, operator_actions.ActionRecord(
        key_fingerprint=call.principal.key_fingerprint or "…", action=endpoint.operation_id,
        target=operator_actions.customer_target(call.customer), outcome=outcome,
        via=operator_actions.REST, at=runtime.clock.now()))


async def serve(endpoint: Endpoint, request: Request, runtime: Runtime) -> Response:
    call = None
    try:
        call = await _checked_call(endpoint, request, runtime)
        result = await endpoint.handler(call)
    except AuthError as exc:
        return errors.respond(exc.code, exc.message)
    except BillgateError as exc:
        await _record(endpoint, call, exc.code)
        return errors.domain_error(exc)
    except Exception as exc:  # noqa: BLE001 - answered as JSON, logged with its traceback
        await _record(endpoint, call, "error")
        return errors.unavailable(exc) if is_unavailable(exc) else errors.unexpected(exc)
    await _record(endpoint, call, operator_actions.OK)
    return Response(orjson.dumps(result.model_dump(mode="json")), media_type="application/json")
