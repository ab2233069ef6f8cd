from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from console_testing import sign_in

# The real-browser helpers (billgate serve, Chromium) live beside the hosted pages' tests.
sys.path.insert(0, str(Path(__file__).parents[1] / "web"))


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
