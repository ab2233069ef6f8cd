"""Telling "the database is not answering" apart from a bug, and asking whether it is ready.

A database that is down, hung, read-only or out of connections is the operator's problem,
not the client's and not a bug: requests answer ``DATABASE_UNAVAILABLE`` (retry later)
instead of a masked "Unexpected error.", and ``/readyz`` answers 503.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from billgate.db.direct import Unavailable
from billgate.db.engine import Database

# OperationalError covers SQLite's "database is locked", "readonly database", "unable to
# open" and PostgreSQL's lost connections; InterfaceError a connection closed under us.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError,
    TimeoutError, ConnectionError, Unavailable,
)


def _asyncpg_unavailable() -> tuple[type[BaseException], ...]:
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return ()
    return (asyncpg.PostgresConnectionError, asyncpg.QueryCanceledError,
            asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError,
            asyncpg.ReadOnlySQLTransactionError, asyncpg.InterfaceError)


_ALL = _UNAVAILABLE + _asyncpg_unavailable()


def is_unavailable(error: BaseException | None) -> bool:
    """Whether ``error`` (or what caused it) says the database cannot serve now."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return True
        if isinstance(error, _ALL) and not isinstance(error, sa_exc.IntegrityError):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


def summary(error: BaseException) -> str:
    """One short line about the failure, without statement parameters or a traceback."""
    inner: BaseException = error
    while isinstance(inner, sa_exc.StatementError) and inner.orig is not None:
        inner = inner.orig
    # SQLAlchemy's asyncpg adapter wraps the driver's exception, whose name says more.
    for _ in range(3):
        if inner.__cause__ is None or not str(inner.__cause__).strip():
            break
        inner = inner.__cause__
    text_ = str(inner).strip().splitlines()[0] if str(inner).strip() else ""
    return f"{type(inner).__name__}: {text_}"[:200] if text_ else type(inner).__name__


async def check_ready(db: Database, *, within: float) -> str | None:
    """``None`` when the database answers within ``within`` seconds *and takes a write*;
    otherwise why not. The write is a transaction that takes the write lock (SQLite:
    ``BEGIN IMMEDIATE``) and updates no row, then rolls back: it fails on a read-only file
    or replica, an unwritable WAL, or a lock held longer than the timeout."""
    try:
        await asyncio.wait_for(_probe_write(db), within)
    except TimeoutError:
        return f"no answer from the database within {within:g} s"
    except Exception as exc:  # any failure to read or write means not ready
        return summary(exc)
    return None


async def _probe_write(db: Database) -> None:
    async with db.engine.connect() as conn:
        transaction = await conn.begin()
        try:
            await conn.execute(text("UPDATE app_settings SET key = key WHERE 1 = 0"))
        finally:
            await transaction.rollback()
