"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from billgate.db.direct import DirectDatabase, open_direct
from billgate.db.urls import normalise_database_url, postgres_connect


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


# Defaults of BILLGATE_DB_CONNECT_TIMEOUT and BILLGATE_DB_STATEMENT_TIMEOUT (seconds).
CONNECT_TIMEOUT = 5.0
STATEMENT_TIMEOUT = 30.0


def create_engine(url: str, *, immediate: bool = True, connect_timeout: float = CONNECT_TIMEOUT,
                  statement_timeout: float = STATEMENT_TIMEOUT, **kwargs: Any) -> AsyncEngine:
    """Create the async engine with the settings each backend needs.

    SQLite: WAL so readers never wait for the writer, a busy timeout so concurrent writers
    queue instead of failing, foreign keys on, and (``immediate``) ``BEGIN IMMEDIATE`` for
    every transaction, so a read that turns into a write can never fail on the lock upgrade.
    Read-only work uses a second engine with plain deferred transactions (see ``Database``).
    PostgreSQL: a pool sized for one process of a few workers; ``pool_pre_ping`` survives
    server restarts.

    Timeouts, so a database that hangs fails requests fast instead of holding them for
    minutes: ``connect_timeout`` bounds opening a connection (and waiting for a free one in
    the pool); ``statement_timeout`` bounds one statement (PostgreSQL: on the server and in
    the client, for a server that stopped answering; SQLite: how long a writer waits for
    the write lock). Statement parameters are left out of error messages and logs: they
    are client input, sometimes megabytes of it.
    """
    kwargs.setdefault("hide_parameters", True)
    url = normalise_database_url(url)
    if is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": statement_timeout}, **kwargs)
        _configure_sqlite(engine, immediate=immediate, busy_ms=int(statement_timeout * 1000))
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_timeout", connect_timeout)
    # libpq parameters (``?sslmode=require``…) in asyncpg's terms (``db/urls.py``).
    postgres = postgres_connect(url)
    connect_args: dict[str, Any] = {
        "timeout": postgres.timeout or connect_timeout, "command_timeout": statement_timeout,
        "server_settings": {"statement_timeout": str(int(statement_timeout * 1000)),
                            **postgres.server_settings}}
    if postgres.dsn_parameters:
        connect_args["dsn"] = f"postgresql://?{postgres.dsn_parameters}"
    return create_async_engine(postgres.url, connect_args=connect_args, **kwargs)


def _configure_sqlite(engine: AsyncEngine, *, immediate: bool, busy_ms: int) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


class Database:
    """The engines of one process: ``session()`` for work that may write, ``read_session()``
    for read-only work. On SQLite they are two engines on one file (writers take the write
    lock up front; readers never queue behind them); on PostgreSQL they are one.
    ``direct``: the hot path's statements on the driver itself (``db/direct.py``); None for
    an in-memory SQLite database, which other connections cannot see."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        url = normalise_database_url(url)
        self.url = url
        self.engine = create_engine(url, **kwargs)
        self.direct = _open_direct(url, kwargs)
        self.session = create_sessionmaker(self.engine)
        if is_sqlite(url):
            self.read_engine = create_engine(url, immediate=False, **kwargs)
            self.read_session = create_sessionmaker(self.read_engine)
        else:
            self.read_engine = self.engine
            self.read_session = self.session

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def dispose(self) -> None:
        if self.direct is not None:
            await self.direct.aclose()
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


def _open_direct(url: str, options: dict[str, Any]) -> DirectDatabase | None:
    timeouts = {name: options[name] for name in ("connect_timeout", "statement_timeout")
                if name in options}
    try:
        return open_direct(url, **timeouts)
    except ValueError:
        return None
