"""``/healthz``: the process is up. ``/readyz``: the database answers, takes writes, and is
migrated, all within ``READY_TIMEOUT`` seconds (a hung database is not ready, quickly)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from billgate.db.availability import check_ready, summary
from billgate.db.migrate import current_revision, head_revision

# Load balancers and orchestrators commonly give a probe 2-3 s; answer inside that.
READY_TIMEOUT = 1.5


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def readyz(get_runtime: Any) -> Any:
    async def endpoint(request: Request) -> JSONResponse:
        db = get_runtime().db
        problem = await check_ready(db, within=READY_TIMEOUT)
        if problem is None:
            try:
                revision = await asyncio.wait_for(current_revision(db.read_engine), READY_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - not ready, whatever the cause
                problem = summary(exc) if not isinstance(exc, TimeoutError) else "timed out"
        if problem is not None:
            return JSONResponse({"status": "unavailable", "database": problem}, status_code=503)
        head = head_revision()
        if revision != head:
            return JSONResponse({"status": "unavailable", "migration": revision, "expected": head},
                                status_code=503)
        return JSONResponse({"status": "ok", "migration": revision})

    return endpoint
