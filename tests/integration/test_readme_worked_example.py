"""The README's worked example, pasted as written: every ```sh block of the section runs in
bash, in order, against a real ``billgate serve`` set up as ``make run`` sets it up (test
mode, the generated development key, the development customer-token secret), from the
folder holding its ``billgate.db``. Each command must succeed and answer without errors.

The one step a person does in a browser (paying the checkout) is done here as the page's
form does it; the subscription step runs in the background while another decrease is made.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import ROOT, apply_example_catalog, prepared_database, running, server_env

SECTION = re.compile(r"^## Worked example\n(.*?)^## ", re.MULTILINE | re.DOTALL)
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
DEV_TOKEN_SECRET = "dev-only-customer-token-secret-change-me"  # the Makefile's default


def in_one_terminal(block: str, state: Path) -> list[str]:
    """bash running ``block`` as pasted into the terminal the earlier blocks ran in: what
    they exported (``export BILLGATE_…``) is still set."""
    script = (f"[ -f {state} ] && source {state}\n{block}\n"
              f"export -p | grep -E '^declare -x BILLGATE_' > {state} || true\n")
    return ["bash", "-euo", "pipefail", "-c", script]


def blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = SECTION.search(readme)
    assert section, "README.md has no '## Worked example' section"
    found = BLOCK.findall(section.group(1))
    assert len(found) >= 6 and all("billgate gql" in block for block in found), found
    return found


def answers(output: str) -> list[dict[str, Any]]:
    """The JSON documents a block printed, one after the other."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(output):
        if output[at].isspace():
            at += 1
            continue
        document, at = decoder.raw_decode(output, at)
        found.append(document)
    return found


def assert_clean(document: dict[str, Any]) -> None:
    assert not document.get("errors"), document
    for payload in (document.get("data") or {}).values():
        if isinstance(payload, dict) and "userErrors" in payload:
            assert payload["userErrors"] == [], document


@pytest.fixture
def make_run_database(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder holding ``billgate.db`` as `make run` leaves it: migrated, the example
    catalog loaded, and ``.venv`` beside it."""
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / ".venv").symlink_to(Path(sys.executable).parents[1])
    database = prepared_database("sqlite", folder)
    url = asyncio.run(database.__aenter__())
    asyncio.run(apply_example_catalog(url))
    yield folder, url
    asyncio.run(database.__aexit__(None, None, None))


@pytest.mark.timeout(300)
def test_the_worked_example_runs_as_written(make_run_database: tuple[Path, str],
                                            tmp_path: Path) -> None:
    folder, url = make_run_database
    env = server_env(url, CUSTOMER_TOKEN_SECRET=DEV_TOKEN_SECRET, JSON_LOGS="false",
                     ALLOWED_RETURN_URLS="localhost,127.0.0.1")
    del env["BILLGATE_SECRET_KEYS"]  # test mode generates the development key
    with running({"make-run": env}, tmp_path / "logs") as servers:
        server = servers["make-run"]
        shell = {k: v for k, v in os.environ.items() if not k.startswith("BILLGATE_")}
        shell.update(BILLGATE_HOST="127.0.0.1", BILLGATE_PORT=str(server.port))
        state = tmp_path / "exported.sh"
        for block in blocks():
            if "subscription {" in block:
                _follow_while_spending(in_one_terminal(block, state), folder, shell)
                continue
            result = subprocess.run(in_one_terminal(block, state), cwd=folder, env=shell,
                                    capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, (block, result.stdout, result.stderr)
            documents = answers(result.stdout)
            assert documents, block
            for document in documents:
                assert_clean(document)
            if "createCheckoutUrl" in block:
                _pay(documents[0]["data"]["createCheckoutUrl"]["url"])
        last = documents[-1]["data"]["customer"]
        [sub] = [edge["node"] for edge in last["subscriptions"]["edges"]]
        assert (sub["status"], sub["hasAccess"]) == ("PAST_DUE", True)


def _pay(url: str) -> None:
    """What the hosted page's form does with the 4242 test card."""
    data = urllib.parse.urlencode({"test_card": "4242424242424242"}).encode()
    request = urllib.request.Request(f"{url}/complete", data=data, method="POST")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(request, timeout=30)
    except urllib.error.HTTPError as exc:
        assert exc.code == 303, exc  # back to the app's returnUrl
        return
    raise AssertionError("the checkout did not redirect back to the app")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


def _follow_while_spending(command: list[str], folder: Path, shell: dict[str, str]) -> None:
    follower = subprocess.Popen(command, cwd=folder, env=shell,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert follower.stdout is not None
        first = json.loads(follower.stdout.readline())  # the balance now
        before = first["data"]["itemQuantityChanged"]["quantity"]
        spent = subprocess.run(
            [str(folder / ".venv" / "bin" / "billgate"), "gql", "mutation { tryDecreaseItemQuantity("
             'input: {customer: {type: USER, customerId: "user-123"}, itemId: "credits", '
             'amount: 5, idempotencyKey: "job-8813"}) { success } }'],
            cwd=folder, env=shell, capture_output=True, text=True, timeout=60)
        assert spent.returncode == 0, spent
        second = json.loads(follower.stdout.readline())
        assert second["data"]["itemQuantityChanged"]["quantity"] == before - 5
        assert follower.wait(timeout=30) == 0, follower.stderr.read() if follower.stderr else ""
    finally:
        if follower.poll() is None:
            follower.kill()
            time.sleep(0.1)
