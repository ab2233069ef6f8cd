"""Requests built to hurt the server: fragment fan-out, padded documents, bad bytes, deep JSON.

Each is refused as a client error (a GraphQL error or a 400 JSON body), never a 500 or an
"Unexpected error.". How long a refusal takes is printed by ``bench/abuse.py``, not timed here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from billgate.app import create_app

FAN_OUT_LEVELS = 20


def fan_out(levels: int = FAN_OUT_LEVELS) -> str:
    """The issue's attack: each fragment spreads the next twice, 2^levels fields expanded."""
    chain = " ".join(f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(levels))
    return f"query {{ ...F0 }} {chain} fragment F{levels} on Query {{ __typename }}"


def errors(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] is None
    return body["errors"]


@pytest.fixture
async def limited(runtime) -> AsyncIterator[httpx.AsyncClient]:  # noqa: ANN001
    """An app with small limits: a query cost of 10 and documents of 200 bytes."""
    settings = replace(runtime.settings, max_query_cost=10, max_query_bytes=200)
    app = create_app(runtime=replace(runtime, settings=settings))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as client:
        yield client


class TestFragmentFanOut:
    async def test_the_fan_out_is_refused_with_its_cost(self, api) -> None:
        [error] = errors(await api.post(fan_out()))
        assert error["message"].startswith(f"query cost {2 ** FAN_OUT_LEVELS} exceeds the limit of")
        assert "BILLGATE_MAX_QUERY_COST" in error["message"]

    async def test_a_fan_out_150_levels_deep_is_refused_too(self, api) -> None:
        # 2^150 fields: past any exact count, so the cost is reported as a bound.
        messages = [e["message"] for e in errors(await api.post(fan_out(150)))]
        assert any(m.startswith("query cost more than") for m in messages), messages

    async def test_cyclic_fragments_are_a_validation_error(self, api) -> None:
        query = "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }"
        [error] = errors(await api.post(query))
        assert error["message"] == "Cannot spread fragment 'A' within itself via 'B'."


class TestQueryCost:
    async def test_a_query_at_the_cost_limit_runs(self, limited) -> None:
        query = "{ " + " ".join(f"a{n}: __typename" for n in range(10)) + " }"
        response = await limited.post("/graphql", json={"query": query})
        assert len(response.json()["data"]) == 10

    async def test_a_fragment_spread_twice_costs_twice(self, limited) -> None:
        query = ("{ ...F ...F } fragment F on Query { "
                 + " ".join(f"a{n}: __typename" for n in range(6)) + " }")
        [error] = errors(await limited.post("/graphql", json={"query": query}))
        assert error["message"].startswith("query cost 12 exceeds the limit of 10")


class TestDocumentLength:
    async def test_a_comment_padded_document_is_refused_before_parsing(self, api) -> None:
        query = "{ __typename }\n#" + "x" * 950_000
        [error] = errors(await api.post(query))
        assert error["message"] == (f"the query document is {len(query)} bytes; the limit is "
                                    "65536 (BILLGATE_MAX_QUERY_BYTES)")
        assert error["extensions"] == {"code": "INVALID_INPUT"}

    async def test_the_limit_is_a_setting(self, limited) -> None:
        ok = await limited.post("/graphql", json={"query": "{ __typename }" + " " * 180})
        assert ok.json() == {"data": {"__typename": "Query"}}
        [error] = errors(await limited.post("/graphql", json={"query": "{ __typename }" + " " * 190}))
        assert "the limit is 200 (BILLGATE_MAX_QUERY_BYTES)" in error["message"]


class TestBadText:
    async def test_a_nul_in_a_variable_is_invalid_input(self, api) -> None:
        query = ("mutation ($c: String!) { increaseItemQuantity(input: {customer: {type: USER, "
                 "customerId: $c}, itemId: \"credits\", amount: 1}) { userErrors { code } } }")
        [error] = errors(await api.post(query, {"c": "user\x001"}))
        assert error["message"] == "variable $c contains a NUL character"
        assert error["extensions"] == {"code": "INVALID_INPUT"}

    async def test_a_nul_in_a_string_literal_is_invalid_input(self, api) -> None:
        query = ('mutation { increaseItemQuantity(input: {customer: {type: USER, customerId: "u1"}, '
                 'itemId: "credits", amount: 1, description: "a\\u0000b"}) { userErrors { code } } }')
        [error] = errors(await api.post(query))
        assert error["message"] == "a string literal contains a NUL character"
        assert error["extensions"] == {"code": "INVALID_INPUT"}

    async def test_a_lone_surrogate_escape_in_json_is_a_400_json_error(self, api) -> None:
        body = b'{"query": "{ __typename }", "variables": {"c": "\\ud800"}}'
        response = await api.client.post("/graphql", content=body,
                                         headers={"Content-Type": "application/json"})
        assert response.status_code == 400
        assert response.json() == {"data": None, "errors": [{
            "message": "Unable to parse request body as JSON",
            "extensions": {"code": "INVALID_INPUT"}}]}

    async def test_a_surrogate_encoded_as_utf8_bytes_is_a_400_json_error(self, api) -> None:
        body = b'{"query": "{ __typename }", "variables": {"c": "\xed\xa0\x80"}}'
        response = await api.client.post("/graphql", content=body,
                                         headers={"Content-Type": "application/json"})
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"] == {"code": "INVALID_INPUT"}

    async def test_a_surrogate_pair_is_fine(self, api) -> None:
        body = (b'{"query": "query ($c: String!) { product(productId: $c) { productId } }", '
                b'"variables": {"c": "\\ud83d\\ude00"}}')
        response = await api.client.post("/graphql", content=body,
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": api.authorization})
        assert response.json() == {"data": {"product": None}}

    async def test_a_lone_surrogate_escape_in_a_literal_is_a_syntax_error(self, api) -> None:
        [error] = errors(await api.post('{ product(productId: "\\ud800") { productId } }'))
        assert error["message"].startswith("Syntax Error: Invalid Unicode escape sequence")


class TestDeepJson:
    async def test_a_body_nested_100k_deep_is_a_400_json_error(self, api) -> None:
        body = b'{"query": "{ __typename }", "variables": {"v": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
        response = await api.client.post("/graphql", content=body,
                                         headers={"Content-Type": "application/json"})
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"] == {"code": "INVALID_INPUT"}


class TestEcho:
    """Messages echo at most ~100 characters of any one value a client sent."""

    async def test_a_huge_item_id_is_not_echoed_in_full(self, api) -> None:
        query = ('query ($i: String!) { customer(customer: {type: USER, customerId: "u1"}) '
                 "{ item(itemId: $i) { quantity } } }")
        [error] = errors(await api.post(query, {"i": "x" * 900_000}))
        assert error["extensions"]["code"] == "ITEM_NOT_FOUND"
        assert error["message"] == f"item '{'x' * 99} …[900002 chars] not found"

    async def test_a_huge_invalid_variable_is_not_echoed_in_full(self, api) -> None:
        query = "query ($n: Int) { products(first: $n) { edges { cursor } } }"
        [error] = errors(await api.post(query, {"n": "9" * 900_000}))
        assert len(error["message"]) < 500
        assert error["message"].startswith("Variable '$n' has invalid value")

    async def test_a_huge_id_in_a_user_error_is_not_echoed_in_full(self, api) -> None:
        query = ("mutation ($i: String!) { tryDecreaseItemQuantity(input: {customer: {type: USER, "
                 "customerId: \"u1\"}, itemId: $i, amount: 1}) { userErrors { code message } } }")
        body = await api(query, {"i": "y" * 900_000})
        [user_error] = body["data"]["tryDecreaseItemQuantity"]["userErrors"]
        assert len(user_error["message"]) < 500
