"""What ``billgate serve`` and ``billgate worker`` say when they cannot start: a port in use
is one line and exit code 2, before any banner; an unreachable event bus is one line naming
BILLGATE_EVENT_BUS_URL. Real processes, as an operator runs them."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import BILLGATE, ROOT, prepared_database, server_env


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    manager = prepared_database("sqlite", tmp_path)
    url = asyncio.run(manager.__aenter__())
    yield url
    asyncio.run(manager.__aexit__(None, None, None))


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BILLGATE), *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_serve_on_a_port_in_use_is_one_line_and_exit_code_2(database: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(["serve", "--port", str(port)], server_env(database, JSON_LOGS="false"))
    assert result.returncode == 2, result
    assert result.stderr.strip().splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use (another billgate "
        "or program is using it?): stop it, or choose another port with --port or BILLGATE_PORT"]


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["worker"]])
def test_an_unreachable_redis_bus_is_one_line(database: str, command: list[str]) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = server_env(database, bus_url=f"redis://:secret@127.0.0.1:{port}/0", JSON_LOGS="false")
    result = run(command, env)
    assert result.returncode == 1, result
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: BILLGATE_EVENT_BUS_URL: cannot reach the event bus at "
                           f"redis://:***@127.0.0.1:{port}/0: "), line
    assert "secret" not in line and "Traceback" not in result.stderr
