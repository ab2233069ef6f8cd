"""The integration suites' shared fixture: one real ``billgate serve`` on a migrated
database with the test catalog, once on SQLite and once on PostgreSQL (skipped without
``BILLGATE_TEST_DATABASE_URL``). A file that needs another server defines its own ``server``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from servers import prepared_database, running, server_env


@pytest.fixture(params=["sqlite", "postgresql"])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    async with prepared_database(request.param, tmp_path) as url:
        with running({"a": server_env(url)}, tmp_path / "logs") as servers:
            yield servers["a"], url
