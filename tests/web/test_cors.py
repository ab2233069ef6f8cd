"""``BILLGATE_ALLOWED_ORIGINS`` for HTTP: preflight and actual CORS responses on ``/graphql``
for allowed and refused origins, through the ASGI app in-process."""

from __future__ import annotations

import dataclasses
import logging

import httpx
import pytest

from billgate.app import create_app
from billgate.web.origins import OriginPolicy

QUERY = {"query": "{ __typename }"}
PREFLIGHT = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization,content-type"}


@pytest.fixture
async def client_for(runtime):  # noqa: ANN001, ANN201
    """A client of an app built with the given ``BILLGATE_ALLOWED_ORIGINS`` entries."""
    clients: list[httpx.AsyncClient] = []

    async def make(*origins: str) -> httpx.AsyncClient:
        runtime.settings = dataclasses.replace(runtime.settings, allowed_origins=origins)
        app = create_app(runtime=runtime)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


class TestAllowedOrigin:
    async def test_preflight_allows_the_bearer_header_without_credentials(self, client_for) -> None:
        client = await client_for("https://app.example.com")
        response = await client.options("/graphql", headers={"Origin": "https://app.example.com",
                                                              **PREFLIGHT})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://app.example.com"
        allowed = response.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed and "content-type" in allowed
        assert "POST" in response.headers["access-control-allow-methods"]
        assert "access-control-allow-credentials" not in response.headers

    async def test_actual_request_is_answered_with_the_origin(self, client_for) -> None:
        client = await client_for("https://app.example.com")
        response = await client.post("/graphql", json=QUERY, headers={"Origin": "https://app.example.com"})
        assert response.status_code == 200
        assert response.json() == {"data": {"__typename": "Query"}}
        assert response.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "origin" in response.headers.get("vary", "").lower()

    @pytest.mark.parametrize("origin", ["http://localhost:3000", "http://localhost:5173",
                                        "http://localhost"])
    async def test_any_port_pattern(self, client_for, origin: str) -> None:
        client = await client_for("http://localhost:*")
        response = await client.options("/graphql", headers={"Origin": origin, **PREFLIGHT})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == origin

    async def test_star_allows_any_origin(self, client_for) -> None:
        client = await client_for("*")
        response = await client.post("/graphql", json=QUERY, headers={"Origin": "https://anyone.example"})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] in ("*", "https://anyone.example")


class TestRefusedOrigin:
    async def test_without_the_setting_the_preflight_names_it(self, client_for, caplog) -> None:
        client = await client_for()
        with caplog.at_level(logging.WARNING, logger="billgate.cors"):
            response = await client.options("/graphql", headers={"Origin": "http://localhost:3000",
                                                                  **PREFLIGHT})
        assert response.status_code == 403
        assert "BILLGATE_ALLOWED_ORIGINS" in response.text
        assert "access-control-allow-origin" not in response.headers
        assert any("BILLGATE_ALLOWED_ORIGINS" in r.getMessage() and "localhost:3000" in r.getMessage()
                   for r in caplog.records)

    async def test_actual_request_is_refused_before_it_runs(self, client_for) -> None:
        client = await client_for("https://app.example.com")
        response = await client.post("/graphql", json=QUERY, headers={"Origin": "https://evil.example"})
        assert response.status_code == 403
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert "BILLGATE_ALLOWED_ORIGINS" in error["message"]
        assert "access-control-allow-origin" not in response.headers

    async def test_a_lookalike_host_is_not_the_allowed_one(self, client_for) -> None:
        client = await client_for("http://localhost:*", "https://app.example.com")
        for origin in ("https://app.example.com.evil.io", "http://localhost.evil.io:3000",
                       "https://localhost:3000", "null"):
            response = await client.options("/graphql", headers={"Origin": origin, **PREFLIGHT})
            assert response.status_code == 403, origin


class TestNotCrossOrigin:
    async def test_same_origin_and_originless_requests_pass(self, client_for) -> None:
        client = await client_for()
        same = await client.post("/graphql", json=QUERY, headers={"Origin": "http://testserver"})
        plain = await client.post("/graphql", json=QUERY)
        assert same.status_code == plain.status_code == 200

    async def test_other_paths_are_not_cors_enabled(self, client_for) -> None:
        client = await client_for("https://app.example.com")
        response = await client.get("/healthz", headers={"Origin": "https://app.example.com"})
        assert response.status_code == 200
        assert "access-control-allow-origin" not in response.headers


class TestPolicy:
    @pytest.mark.parametrize("entry", ["localhost:3000", "https://app.example.com/path",
                                       "ftp://files.example", "http://*.example.com"])
    def test_a_bad_entry_fails_naming_the_setting(self, entry: str) -> None:
        with pytest.raises(ValueError, match="BILLGATE_ALLOWED_ORIGINS"):
            OriginPolicy.parse([entry])

    def test_default_ports_and_case_are_normalized(self) -> None:
        policy = OriginPolicy.parse(["HTTPS://App.Example.com:443"])
        assert policy.allows("https://app.example.com")
        assert not policy.allows("http://app.example.com")
