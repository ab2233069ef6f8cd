"""A real ``billgate serve`` with the example catalog and an app page to come back to: the
fixtures of the hosted checkout's browser tests (``test_checkout_browser.py``,
``test_checkout_promo_page.py``). Browser tests with a server of their own define these
names themselves (a module's fixture wins over this one)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from browser_testing import SERVER_KEY, app_page, billgate_serve, example_database


@pytest.fixture
def return_url() -> Iterator[str]:
    """The app's page the customer comes back to."""
    with app_page("Thanks for buying") as port:
        yield f"http://127.0.0.1:{port}/billing/done"


@pytest.fixture
async def database_file(tmp_path: Path) -> AsyncIterator[str]:
    """A migrated SQLite file holding the example catalog."""
    yield await example_database(tmp_path)


@pytest.fixture
def billgate_url(database_file: str, return_url: str, tmp_path: Path) -> Iterator[str]:
    """``billgate serve`` in a subprocess, on a free port, in test mode."""
    with billgate_serve(database_file, tmp_path, SECRET_KEYS=SERVER_KEY,
                        CUSTOMER_TOKEN_SECRET="browser-test",
                        ALLOWED_RETURN_URLS=return_url.rsplit("/", 2)[0] + "/") as base:
        yield base
