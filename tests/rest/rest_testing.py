"""A small client for the REST endpoints through the ASGI app, and what they share."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from billgate.auth import mint_customer_token
from billgate.db.engine import Database
from billgate.db.models import CheckoutSession, ItemBalance, ItemChange, Purchase

SERVER_KEY = "sk_test_server_key"  # tests/conftest.py
TOKEN_SECRET = "test-customer-token-secret-of-32-bytes-or-more"
PAYMENTS = "/api/v1/payments"
RETURN_URL = "https://app.example.com/billing/done"


class Rest:
    """Calls the REST endpoints as one caller (``headers``)."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> None:
        self.client = client
        self.headers = headers or {}

    def as_server(self, *, stack_header: bool = False) -> Rest:
        if stack_header:
            return Rest(self.client, {"x-stack-secret-server-key": SERVER_KEY})
        return Rest(self.client, {"Authorization": f"Bearer {SERVER_KEY}"})

    def as_user(self, user_id: str, teams: dict[str, str] | None = None) -> Rest:
        token = mint_customer_token(TOKEN_SECRET, user_id, teams=teams)
        return Rest(self.client, {"Authorization": f"Bearer {token}"})

    def as_(self, headers: dict[str, str]) -> Rest:
        return Rest(self.client, headers)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(f"{PAYMENTS}{path}", params=params, headers=self.headers)

    async def post(self, path: str, body: Any = None, *, content: bytes | None = None,
                   **params: Any) -> httpx.Response:
        if content is not None:
            return await self.client.post(f"{PAYMENTS}{path}", params=params, content=content,
                                          headers={**self.headers,
                                                   "Content-Type": "application/json"})
        return await self.client.post(f"{PAYMENTS}{path}", params=params, json=body,
                                      headers=self.headers)

    async def update_quantity(self, delta: Any, *, allow_negative: str = "false",
                              customer: str = "user/u1", item_id: str = "credits",
                              **body: Any) -> httpx.Response:
        return await self.post(f"/items/{customer}/{item_id}/update-quantity",
                               {"delta": delta, **body}, allow_negative=allow_negative)

    async def quantity(self, customer: str = "user/u1", item_id: str = "credits") -> int:
        response = await self.get(f"/items/{customer}/{item_id}")
        assert response.status_code == 200, response.text
        return int(response.json()["quantity"])


def error(response: httpx.Response, status: int, code: str, field: str | None = None) -> str:
    """Asserts the JSON error shape; returns its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["error"], str) and body["error"]
    if field is not None:
        assert body["field"] == field, body
    return str(body["error"])


async def counts(db: Database) -> tuple[int, int, int, int]:
    """Rows of everything a refused request must not have written."""
    async with db.read_session() as session:
        return tuple([await session.scalar(select(func.count()).select_from(model)) or 0
                      for model in (ItemChange, ItemBalance, Purchase, CheckoutSession)])  # type: ignore[return-value]
