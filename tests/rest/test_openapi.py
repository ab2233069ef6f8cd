"""The served OpenAPI document: valid OpenAPI 3.1 (openapi-spec-validator), generated from
the endpoint definitions (every endpoint is in it), and true to what the endpoints answer
(a real answer validates against its documented schema)."""

from __future__ import annotations

import jsonschema
import pytest
from openapi_spec_validator import validate
from rest_testing import Rest

from billgate.rest.routes import ENDPOINTS

pytestmark = pytest.mark.usefixtures("example_catalog")


async def test_the_document_is_valid_openapi_3_1_with_every_endpoint(rest: Rest) -> None:
    response = await rest.client.get("/api/v1/openapi.json")  # no credentials needed
    assert response.status_code == 200
    document = response.json()
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema
    assert document["openapi"].startswith("3.1")
    served = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert served == {(e.path, e.method.lower()) for e in ENDPOINTS}
    update = document["paths"][
        "/api/v1/payments/items/{customer_type}/{customer_id}/{item_id}/update-quantity"]["post"]
    assert {p["name"] for p in update["parameters"]} == {
        "customer_type", "customer_id", "item_id", "allow_negative"}
    assert {"secretKey": []} in update["security"] and {"customerToken": []} not in update["security"]
    assert {"400", "401", "403", "404", "409"} <= set(update["responses"])


async def test_answers_match_their_documented_schemas(rest: Rest) -> None:
    document = (await rest.client.get("/api/v1/openapi.json")).json()

    def check(instance: object, schema_name: str) -> None:
        schema = {**document["components"]["schemas"][schema_name],
                  "components": document["components"]}
        text = jsonschema.Draft202012Validator(schema)  # $refs point at #/components/schemas
        text.validate(instance)

    check((await rest.get("/items/user/u1/credits")).json(), "ItemOut")
    check((await rest.get("/products/user/u1")).json(), "ProductsOut")
    check((await rest.get("/invoices/user/u1")).json(), "InvoicesOut")
    check((await rest.get("/billing/user/u1")).json(), "BillingOut")
    check((await rest.update_quantity(0)).json(), "ErrorOut")
