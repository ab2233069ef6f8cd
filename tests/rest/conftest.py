from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from rest_testing import Rest


@pytest.fixture
async def rest(app) -> AsyncIterator[Rest]:  # noqa: ANN001 - tests/conftest.py's ASGI app
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Rest(client).as_server()
