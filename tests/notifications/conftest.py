from __future__ import annotations

from collections.abc import Iterator

import pytest
from smtp_testing import SmtpServer


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 for this test."""
    with SmtpServer() as server:
        yield server
