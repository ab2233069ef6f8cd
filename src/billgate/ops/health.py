"""``/healthz``: the process is up. ``/readyz``: the database answers and is migrated."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse

from billgate.db.migrate import current_revision, head_revision


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def readyz(get_runtime: Any) -> Any:
    async def endpoint(request: Request) -> JSONResponse:
        runtime = get_runtime()
        try:
            async with runtime.db.read_engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            revision = await current_revision(runtime.db.read_engine)
        except Exception as exc:  # any failure to reach the database means not ready
            return JSONResponse({"status": "unavailable", "database": str(exc)[:200]}, status_code=503)
        head = head_revision()
        if revision != head:
            return JSONResponse({"status": "unavailable", "migration": revision, "expected": head},
                                status_code=503)
        return JSONResponse({"status": "ok", "migration": revision})

    return endpoint
