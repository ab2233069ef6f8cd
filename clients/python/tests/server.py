"""A real ``billgate serve`` for these tests: a fresh SQLite file, migrated, with
examples/catalog.yaml, in test mode on a free port of 127.0.0.1. The ``billgate`` command is
$BILLGATE_BIN, else the repository's .venv/bin/billgate, else ``billgate`` on PATH. The client
never imports server code: the tests run it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE_CATALOG = ROOT / "examples" / "catalog.yaml"
SECRET_KEY = "sk_test_python_client"
TOKEN_SECRET = "python-client-tests-token-secret-32b"


def billgate_command() -> str:
    if os.environ.get("BILLGATE_BIN"):
        return os.environ["BILLGATE_BIN"]
    venv = ROOT / ".venv" / "bin" / "billgate"
    return str(venv) if venv.exists() else (shutil.which("billgate") or "billgate")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BillgateServer:
    def __init__(self, folder: Path, **settings: str) -> None:
        self.folder = folder
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/graphql"
        self.secret_key = SECRET_KEY
        self.token_secret = TOKEN_SECRET
        self.log_path = folder / "billgate.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BILLGATE_")}
        self.env.update(
            {
                "BILLGATE_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'billgate.db'}",
                "BILLGATE_HOST": "127.0.0.1",
                "BILLGATE_PORT": str(self.port),
                "BILLGATE_TEST_MODE": "true",
                "BILLGATE_JSON_LOGS": "false",
                "BILLGATE_SHUTDOWN_GRACE_SECONDS": "1",
                "BILLGATE_SECRET_KEYS": SECRET_KEY,
                "BILLGATE_CUSTOMER_TOKEN_SECRET": TOKEN_SECRET,
                **{f"BILLGATE_{name}": value for name, value in settings.items()},
            }
        )
        self._process: subprocess.Popen[bytes] | None = None

    def prepare(self) -> None:
        for args in (["migrate"], ["catalog", "apply", str(EXAMPLE_CATALOG)]):
            subprocess.run(
                [billgate_command(), *args],
                env=self.env,
                cwd=self.folder,
                check=True,
                capture_output=True,
                timeout=120,
            )

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [billgate_command(), "serve"],
                env=self.env,
                cwd=self.folder,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline, last = time.monotonic() + 60, "no answer"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"billgate serve exited:\n{self.log_path.read_text()}")
            try:
                response = httpx.get(f"{self.base}/readyz")
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.TransportError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise RuntimeError(f"billgate serve not ready after 60 s ({last}):\n{self.log_path.read_text()}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        """SIGTERM (as a deploy would), then start again on the same port and database."""
        self.stop()
        self.start()

    def request(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """A GraphQL call with the secret key, without the client under test."""
        response = httpx.post(
            self.url,
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {SECRET_KEY}"},
            timeout=30,
        )
        body = response.json()
        assert response.status_code == 200 and not body.get("errors"), body
        return dict(body["data"])
