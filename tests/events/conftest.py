"""Fixtures for the event bus tests.

Backend tests run against every backend: ``memory://`` always, PostgreSQL when
``BILLGATE_TEST_DATABASE_URL`` is set, Redis when ``BILLGATE_TEST_REDIS_URL`` is set
(otherwise they are skipped with the reason). Every test gets a server channel of its own,
so parallel runs on the same servers never see each other's events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from bus_testing import MakeBus, backend_url, bus_factory, unique_channel

from billgate.events.bus import BusBase


@pytest.fixture(params=["memory", "postgres", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    backend_url(request.param)  # skips when the server is not configured
    return str(request.param)


@pytest.fixture
async def make_bus(backend: str) -> AsyncIterator[MakeBus]:
    """Start buses of the test's backend on one channel; all closed at the end."""
    buses: list[BusBase] = []
    yield bus_factory(backend, unique_channel(backend), buses)
    for bus in buses:
        await bus.close()


@pytest.fixture(params=["postgres", "redis"])
def server_backend(request: pytest.FixtureRequest) -> str:
    backend_url(request.param)
    return str(request.param)


@pytest.fixture
async def make_server_bus(server_backend: str) -> AsyncIterator[MakeBus]:
    """Like ``make_bus``, for the backends that cross processes."""
    buses: list[BusBase] = []
    yield bus_factory(server_backend, unique_channel(server_backend), buses)
    for bus in buses:
        await bus.close()
