"""What an operator's log shows for a failed request: a client's mistake is one line without
a traceback; a bug keeps its traceback and the request id."""

from __future__ import annotations

import logging

import pytest

from billgate.billing import catalog

LOGGER = "billgate.graphql"


def lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(("billgate.graphql", "strawberry"))]


@pytest.mark.parametrize("query, expected", [
    ("{ nope }", "GraphQL client error: Cannot query field 'nope' on type 'Query'."),
    ("{ products(first: 0) { edges { cursor } } }",
     "GraphQL client error at products: first must be at least 1 (INVALID_INPUT)"),
    ('{ products(after: "bogus") { edges { cursor } } }',
     "GraphQL client error at products: 'bogus' is not a valid cursor (INVALID_INPUT)"),
    ("{ paymentSettings { testMode } }", "GraphQL client error at paymentSettings: "),
])
async def test_client_errors_are_one_line_without_traceback(api, caplog, query, expected) -> None:  # noqa: ANN001
    caller = api.as_(None) if "paymentSettings" in query else api
    with caplog.at_level(logging.INFO):
        await caller.post(query)
    [record] = lines(caplog)
    assert record.levelno == logging.INFO
    assert record.getMessage().startswith(expected)
    assert "\n" not in record.getMessage()
    assert record.exc_info is None


async def test_a_forbidden_read_logs_its_code(api, caplog) -> None:  # noqa: ANN001
    with caplog.at_level(logging.INFO):
        await api.as_(None).post("{ paymentSettings { testMode } }")
    [record] = lines(caplog)
    assert record.getMessage().endswith("(FORBIDDEN)")


async def test_an_unexpected_error_keeps_traceback_and_request_id(api, caplog, monkeypatch) -> None:  # noqa: ANN001
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(catalog, "list_product_lines", broken)
    with caplog.at_level(logging.INFO):
        response = await api.client.post("/graphql", json={"query": "{ productLines { productLineId } }"},
                                         headers={"Authorization": api.authorization,
                                                  "X-Request-ID": "req-42"})
    assert response.json()["errors"][0]["message"] == "Unexpected error."
    [record] = lines(caplog)
    assert record.levelno == logging.ERROR
    assert "(request req-42)" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
