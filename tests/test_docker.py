"""What can be checked of the container setup without a Docker engine: the entrypoint's
exact commands against a real database, and the compose file's shape and settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from testdb import PG_URL, create_pg_database, drop_pg_database

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture
async def fresh_database_url(tmp_path: Path):  # noqa: ANN201
    if PG_URL:
        url = await create_pg_database(PG_URL)
        yield url
        await drop_pg_database(PG_URL, url)
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'container.db'}"


def test_entrypoint_migrates_applies_the_catalog_and_runs_the_command(fresh_database_url: str) -> None:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "BILLGATE_DATABASE_URL": fresh_database_url,
           "BILLGATE_CATALOG_FILE": str(ROOT / "examples" / "catalog.yaml")}
    result = subprocess.run(["sh", str(ROOT / "docker" / "entrypoint.sh"), "catalog", "show"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    shown = yaml.safe_load(result.stdout)
    assert {p["productId"] for p in shown["products"]} >= {"free", "pro", "enterprise", "team"}
    again = subprocess.run(["sh", str(ROOT / "docker" / "entrypoint.sh"), "catalog", "show"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "0 created, 0 updated" in again.stderr


def test_compose_runs_two_replicas_a_worker_postgres_and_redis() -> None:
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"billgate-1", "billgate-2", "worker", "postgres", "redis"} <= set(services)
    assert services["worker"]["command"] == ["worker"]
    env = services["billgate-1"]["environment"]
    assert env["BILLGATE_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert env["BILLGATE_EVENT_BUS_URL"].startswith("redis://")


def test_every_variable_the_container_files_set_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    text = (ROOT / "docker" / "compose.yaml").read_text() + (ROOT / "docker" / "Dockerfile").read_text()
    names = set(re.findall(r"BILLGATE_[A-Z_]+", text)) - {"BILLGATE_CATALOG_FILE"}
    missing = sorted(n for n in names if f"`{n}`" not in readme)
    assert not missing, f"not in the README's configuration table: {missing}"


def _pins(lock: Path) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\", lock.read_text(), re.MULTILINE))


@pytest.mark.parametrize("name", ["requirements.lock", "requirements-dev.lock"])
def test_every_locked_dependency_is_pinned_with_hashes(name: str) -> None:
    text = (ROOT / name).read_text()
    entries = [e for e in re.split(r"\n(?=[A-Za-z0-9_.-]+==)", text.split("\n", 6)[-1]) if "==" in e]
    assert entries and all("--hash=sha256:" in e for e in entries), name
    assert "billgate" not in _pins(ROOT / name)  # the project itself installs with --no-deps


def test_the_dev_lock_agrees_with_the_runtime_lock() -> None:
    runtime, dev = _pins(ROOT / "requirements.lock"), _pins(ROOT / "requirements-dev.lock")
    assert set(runtime) <= set(dev)
    assert {n: v for n, v in runtime.items() if dev[n] != v} == {}


def test_the_image_and_make_install_use_the_locks_with_hashes() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert "--require-hashes -r requirements.lock" in dockerfile
    assert "--no-deps ." in dockerfile
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r requirements-dev.lock" in makefile
    assert "--no-deps -e ." in makefile


def test_compose_defaults_let_a_frontend_on_localhost_3000_check_out_and_call_in() -> None:
    """The example app (http://localhost:3000) works against the compose file as it is."""
    from billgate.billing.return_urls import is_allowed
    from billgate.settings import Settings
    from billgate.web.origins import OriginPolicy

    environment = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())["x-billgate"]["environment"]

    def default(name: str) -> str:
        match = re.fullmatch(r"\$\{" + name + r":-(.*)\}", environment[name])
        assert match, environment[name]
        return match.group(1)

    settings = Settings.from_env({name: default(name) for name in
                                  ("BILLGATE_ALLOWED_RETURN_URLS", "BILLGATE_ALLOWED_ORIGINS")})
    assert is_allowed("http://localhost:3000/billing?checkout_status=complete", settings.allowed_return_urls)
    assert not is_allowed("http://localhost:3001/", settings.allowed_return_urls)
    assert OriginPolicy.parse(settings.allowed_origins).allows("http://localhost:3000")
