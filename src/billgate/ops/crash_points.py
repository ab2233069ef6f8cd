"""Test-only: die at a named point, to test what a crash there leaves behind.

``BILLGATE_TEST_CRASH_AT=<point>`` makes the process exit at once (``os._exit``: no
cleanup, no rollback of what was committed, no response) the first time it reaches
``crash_point(<point>)``. The integration tests start a real ``billgate serve`` with it to
kill the server between two lines, the way a power cut or an OOM kill would. Never set it
in a deployment. Points:

- ``charge.claimed``: a charge is claimed (committed) and the processor not yet called;
- ``charge.charged``: the processor charged, nothing of it recorded yet.
"""

from __future__ import annotations

import os
import sys

ENV = "BILLGATE_TEST_CRASH_AT"
EXIT_CODE = 86


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        print(f"{ENV}={name}: exiting now", file=sys.stderr, flush=True)
        os._exit(EXIT_CODE)
