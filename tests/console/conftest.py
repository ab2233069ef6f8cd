from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from console_testing import sign_in


@pytest.fixture
async def browser(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping client on the app, not signed in, that does not follow redirects."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                 follow_redirects=False) as client:
        yield client


@pytest.fixture
async def operator(browser: httpx.AsyncClient) -> httpx.AsyncClient:
    """The same client, signed in with the server key."""
    response = await sign_in(browser)
    assert response.status_code == 303, response.text
    return browser
