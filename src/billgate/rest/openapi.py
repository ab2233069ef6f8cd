"""The OpenAPI 3.1 document of the REST endpoints, generated from their definitions
(``routes.ENDPOINTS``): paths, methods, parameters and security from each ``Endpoint``;
request and response schemas from its pydantic models (as ``components/schemas``, through
openapi-pydantic). Nothing here is written by hand per endpoint."""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from openapi_pydantic import (
    Components,
    Info,
    MediaType,
    OpenAPI,
    Operation,
    Parameter,
    PathItem,
    RequestBody,
    Response,
    Schema,
    SecurityScheme,
)
from openapi_pydantic.util import PydanticSchema, construct_open_api_with_schema_class
from pydantic import BaseModel

from billgate.rest.endpoint import STACK_SERVER_KEY, Endpoint
from billgate.rest.errors import STATUS_OF_CODE
from billgate.rest.models import ErrorOut

_PATH_PARAM = re.compile(r"{(\w+)}")
_PATH_PARAMS = {
    "customer_type": Schema(type="string", enum=["user", "team", "custom"]),
    "customer_id": Schema(type="string", description="The app's own id of the customer."),
    "item_id": Schema(type="string"),
}
_STATUS_TEXT = {400: "Bad input (the field is named), or insufficient quantity",
                401: "No or bad credentials", 402: "The card was declined",
                403: "Not this caller's customer, or a secret key is needed",
                404: "Unknown item or product", 409: "Idempotency key reused for another change",
                503: "The database is unavailable: retry later"}
SECURITY_SCHEMES = {
    "secretKey": SecurityScheme(type="http", scheme="bearer",
                                description="A billgate secret key (BILLGATE_SECRET_KEYS)."),
    "stackServerKey": SecurityScheme(type="apiKey", name=STACK_SERVER_KEY,
                                     security_scheme_in="header",
                                     description="The same secret key, in Stack Auth's header."),
    "customerToken": SecurityScheme(type="http", scheme="bearer", bearerFormat="JWT",
                                    description="A customer token (HS256, "
                                    "BILLGATE_CUSTOMER_TOKEN_SECRET): its own user and teams only."),
}
_ACCESS_TEXT = {"read": "Secret key, or a customer token of this customer (team members too).",
                "manage": "Secret key, or a customer token of this user or of an admin of this team.",
                "server": "Secret key only."}


def build_document(endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    paths: dict[str, dict[str, Operation]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    api = OpenAPI(
        openapi="3.1.0",
        info=Info(title="billgate REST API (Stack Auth payments compatible)",
                  version=version("billgate"),
                  description="The seed's REST endpoints over billgate's billing functions. "
                  "Errors are JSON {code, error, field} with GraphQL's error codes."),
        paths={path: PathItem(**ops) for path, ops in paths.items()},
        components=Components(securitySchemes=SECURITY_SCHEMES),  # type: ignore[arg-type]
    )
    built = construct_open_api_with_schema_class(api)
    # Only what was set: openapi-pydantic's defaults include keys 3.1 forbids on path
    # parameters (allowEmptyValue, allowReserved).
    document: dict[str, Any] = built.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return document


def _operation(endpoint: Endpoint) -> Operation:
    security = [{"secretKey": []}, {"stackServerKey": []}]
    if endpoint.client:
        security.append({"customerToken": []})
    responses = {"200": _json_response("OK", endpoint.response)}
    for status in sorted({400, 401, 403, 503, *endpoint.errors}):
        responses[str(status)] = _json_response(_STATUS_TEXT[status], ErrorOut)
    extra: dict[str, Any] = {}  # set keys only: the document leaves out what is unset
    if endpoint.body is not None:
        extra["requestBody"] = RequestBody(required=True, content={"application/json": MediaType(
            media_type_schema=PydanticSchema(schema_class=endpoint.body))})
    return Operation(
        operationId=endpoint.operation_id, summary=endpoint.summary,
        description=_ACCESS_TEXT[endpoint.access], tags=["payments"],
        parameters=[*_path_parameters(endpoint.path), *_query_parameters(endpoint.query)],
        responses=responses, security=security, **extra)


def _json_response(description: str, model: type[BaseModel]) -> Response:
    return Response(description=description, content={"application/json": MediaType(
        media_type_schema=PydanticSchema(schema_class=model))})


def _path_parameters(path: str) -> list[Parameter]:
    return [Parameter(name=name, param_in="path", required=True,
                      param_schema=_PATH_PARAMS.get(name, Schema(type="string")))
            for name in _PATH_PARAM.findall(path)]


def _query_parameters(model: type[BaseModel] | None) -> list[Parameter]:
    if model is None:
        return []
    properties = model.model_json_schema()["properties"]
    return [Parameter.model_validate({
        "name": name, "in": "query", "required": field.is_required(), "schema": properties[name],
        **({"description": field.description} if field.description else {})})
        for name, field in model.model_fields.items()]


assert set(_STATUS_TEXT) >= set(STATUS_OF_CODE.values()) - {401, 403}
