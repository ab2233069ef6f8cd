"""Abuse limits (depth, aliases, tokens, body size) and masking of unexpected errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import orjson
import pytest
from graphql import Lexer, Source, TokenKind, get_introspection_query

from billgate.app import create_app
from billgate.billing import catalog
from billgate.errors import ProductNotFound
from billgate.graphql.schema import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS


def nested(depth: int) -> str:
    """A query whose deepest field is at ``depth`` (the root field ``products`` is at 0, as the
    depth limiter counts): products > edges > node > (productLine > products)* > productId."""
    inner, level = "productId", 3
    if (depth - level) % 2:
        inner, level = f"isAddOnTo {{ {inner} }}", level + 1
    while level < depth:
        inner, level = f"productLine {{ products {{ {inner} }} }}", level + 2
    return f"{{ products {{ edges {{ node {{ {inner} }} }} }} }}"


def aliases(count: int) -> str:
    return "{ " + " ".join(f"a{n}: __typename" for n in range(count)) + " }"


def tokens(count: int) -> str:
    """An operation of exactly ``count`` tokens. The bulk is a list argument: a field repeated
    hundreds of times trips graphql-core's overlapping-fields budget before the token limit."""
    frame = (
        'mutation {{ upsertProduct(input: {{productId: "p", product: {{displayName: "P", '
        "customerType: USER, isAddOnTo: [{}]}}}}) {{ userErrors {{ code }} }} }}"
    )
    return frame.format(" ".join(['"b"'] * (count - 33)))


def only_error(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] is None
    assert len(body["errors"]) == 1, body
    return body["errors"][0]["message"]


class TestDepthLimit:
    async def test_a_query_at_the_limit_runs(self, api, example_catalog) -> None:
        data = await api.data(nested(MAX_DEPTH))
        assert data["products"]["edges"]

    async def test_a_deeper_query_is_rejected(self, api, example_catalog) -> None:
        message = only_error(await api.post(nested(MAX_DEPTH + 1)))
        assert message == f"'anonymous' exceeds maximum operation depth of {MAX_DEPTH}"

    async def test_depth_through_fragments_counts(self, api) -> None:
        query = (
            "query Deep { products { edges { node { ...Line } } } }\n"
            "fragment Line on Product { productLine { products { productLine { products {"
            " productLine { products { productLine { products { productId } } } } } } } } }"
        )
        assert only_error(await api.post(query)) == (
            f"'Deep' exceeds maximum operation depth of {MAX_DEPTH}"
        )

    async def test_introspection_is_not_refused(self, api) -> None:
        data = await api.data(get_introspection_query())
        assert data["__schema"]["queryType"]["name"] == "Query"


class TestAliasLimit:
    async def test_up_to_the_limit_runs(self, api) -> None:
        data = await api.data(aliases(MAX_ALIASES))
        assert len(data) == MAX_ALIASES

    async def test_an_alias_flood_is_rejected(self, api) -> None:
        assert only_error(await api.post(aliases(MAX_ALIASES + 1))) == (
            f"{MAX_ALIASES + 1} aliases found. Allowed: {MAX_ALIASES}"
        )

    async def test_aliases_on_nested_fields_count_too(self, api) -> None:
        half = MAX_ALIASES // 2 + 1
        inner = " ".join(f"n{n}: productId" for n in range(half))
        outer = " ".join(
            f"p{n}: products {{ edges {{ node {{ {inner} }} }} }}" for n in range(half)
        )
        assert "aliases found" in only_error(await api.post(f"{{ {outer} }}"))


class TestTokenLimit:
    async def test_up_to_the_limit_runs(self, api) -> None:
        data = await api.as_(None).data(tokens(MAX_TOKENS))
        assert data["upsertProduct"]["userErrors"] == [{"code": "FORBIDDEN"}]

    def test_the_helper_counts_tokens_like_the_parser(self) -> None:
        lexer = Lexer(Source(tokens(MAX_TOKENS)))
        assert sum(1 for _ in iter(lambda: lexer.advance().kind, TokenKind.EOF)) == MAX_TOKENS

    async def test_too_many_tokens_are_rejected(self, api) -> None:
        assert only_error(await api.as_(None).post(tokens(MAX_TOKENS + 1))) == (
            f"Syntax Error: Document contains more than {MAX_TOKENS} tokens. Parsing aborted."
        )


class TestRepeatedFieldFlood:
    async def test_a_field_repeated_a_thousand_times_is_rejected(self, api) -> None:
        query = "{ " + " ".join(["__typename"] * 1000) + " }"
        assert only_error(await api.post(query)) == "Validation aborted."


class TestBodySizeLimit:
    async def test_a_large_body_under_the_limit_runs(self, api, settings) -> None:
        # Padded in a variable: the query document itself has a smaller limit of its own.
        padding = " " * (settings.max_body_bytes - 100)
        assert await api.data("{ __typename }", {"pad": padding}) == {"__typename": "Query"}

    async def test_a_body_over_the_limit_is_413(self, api, settings) -> None:
        response = await api.post("{ __typename" + " " * settings.max_body_bytes + "}")
        assert response.status_code == 413
        assert response.text == f"request body larger than {settings.max_body_bytes} bytes"

    async def test_a_streamed_body_over_the_limit_is_413(self, api, settings) -> None:
        body = orjson.dumps({"query": "{ __typename" + " " * settings.max_body_bytes + "}"})

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 64_000):
                yield body[start : start + 64_000]

        response = await api.client.post(
            "/graphql",
            content=chunks(),
            headers={"Authorization": api.authorization, "Content-Type": "application/json"},
        )
        assert "content-length" not in response.request.headers
        assert response.status_code == 413


def break_product_lines(monkeypatch: pytest.MonkeyPatch, exc: Exception) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise exc

    monkeypatch.setattr(catalog, "list_product_lines", broken)


PRODUCT_LINES = "{ productLines { productLineId } }"


class TestErrorMasking:
    async def test_an_unexpected_error_is_masked(self, api, monkeypatch) -> None:
        break_product_lines(monkeypatch, RuntimeError("password=hunter2 at db-7.internal"))
        response = await api.post(PRODUCT_LINES)
        assert only_error(response) == "Unexpected error."
        assert "hunter2" not in response.text

    async def test_a_domain_error_keeps_its_text(self, api, monkeypatch) -> None:
        break_product_lines(monkeypatch, ProductNotFound("product 'pro' was removed"))
        assert only_error(await api.post(PRODUCT_LINES)) == "product 'pro' was removed"

    async def test_query_errors_keep_text_and_code(self, api) -> None:
        body = (await api.post("{ products(first: 0) { edges { cursor } } }")).json()
        assert body["errors"][0]["message"] == "first must be at least 1"
        assert body["errors"][0]["extensions"] == {"code": "INVALID_INPUT"}

    async def test_validation_errors_keep_their_text(self, api) -> None:
        assert (
            only_error(await api.post("{ qqqqqqqq }")) == "Cannot query field 'qqqqqqqq' on type 'Query'."
        )

    async def test_in_debug_the_real_message_is_shown(self, runtime, monkeypatch) -> None:
        break_product_lines(monkeypatch, RuntimeError("the real cause"))
        debug_runtime = replace(runtime, settings=replace(runtime.settings, debug=True))
        transport = httpx.ASGITransport(app=create_app(runtime=debug_runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.post("/graphql", json={"query": PRODUCT_LINES})
        assert only_error(response) == "the real cause"
