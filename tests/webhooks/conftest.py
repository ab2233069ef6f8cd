from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from receiver import Receiver, running_receiver  # noqa: E402


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running



@pytest.fixture
def settings(settings):  # noqa: ANN001, ANN201 - the API tests' settings, plus webhooks to 127.0.0.1
    import dataclasses

    return dataclasses.replace(settings, webhook_http_hosts=("127.0.0.1",), webhook_allow_private=True)
