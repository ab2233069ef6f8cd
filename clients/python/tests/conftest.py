from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from server import BillgateServer

from billgate_client import Billgate

RETURN_URL = "http://app.test/billing"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BillgateServer]:
    """One billgate for the session; tests use customers of their own."""
    folder: Path = tmp_path_factory.mktemp("billgate")
    server = BillgateServer(
        folder,
        ALLOWED_RETURN_URLS="http://app.test/",
        WEBHOOK_HTTP_HOSTS="127.0.0.1",
        WEBHOOK_ALLOW_PRIVATE="true",
        SCHEDULER_INTERVAL="0.2",
    )
    server.prepare()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def backend(server: BillgateServer) -> Iterator[Billgate]:
    with Billgate(server.url, secret_key=server.secret_key) as client:
        yield client
