"""Start and stop the servers a benchmark compares, each in its own process."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}")


@contextlib.contextmanager
def process(args: list[str], env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    # The log goes to a file: a pipe nobody reads fills up after a few hundred WebSocket
    # log lines and then blocks the server mid-benchmark.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(args, env={**os.environ, **env}, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=log)
        try:
            wait_for_port(port, proc)
            yield proc
        except BaseException:
            log.seek(0)
            sys.stderr.write(log.read()[-4000:].decode(errors="replace"))
            raise
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def billgate(env: dict[str, str], port: int,
             workers: int = 1) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """``billgate serve`` exactly as a user runs it (uvloop + httptools, one worker unless
    told otherwise)."""
    return process([str(BIN / "billgate"), "serve", "--port", str(port), "--workers", str(workers)],
                   {**env, "BILLGATE_PORT": str(port)}, port)


def baseline(module: str, env: dict[str, str],
             port: int) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """A bare Starlette app served by the same uvicorn settings."""
    return process([str(BIN / "uvicorn"), f"{module}:app", "--port", str(port), "--host", "127.0.0.1",
                    "--log-level", "warning", "--no-access-log"], env, port)
