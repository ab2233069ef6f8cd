"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from billgate.db.budget import DEFAULT_MAX_CONNECTIONS, split
from billgate.db.direct import DirectDatabase, open_direct
from billgate.db.urls import normalise_database_url, postgres_connect


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


# application_name of the SQLAlchemy pool's connections (the direct pool's: see db/direct.py).
APPLICATION_NAME = "billgate"

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
    PostgreSQL: a pool of ``pool_size`` connections and no overflow (``db/budget.py`` sizes
    it); a request that finds them all busy waits up to ``connect_timeout`` for one;
    ``pool_pre_ping`` survives server restarts. Its connections are named ``billgate`` in
    ``pg_stat_activity`` (``application_name``) unless the URL names them.

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
    kwargs.setdefault("pool_size", split(DEFAULT_MAX_CONNECTIONS)[0])
    kwargs.setdefault("max_overflow", 0)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_timeout", connect_timeout)
    # libpq parameters (``?sslmode=require``…) in asyncpg's terms (``db/urls.py``).
    postgres = postgres_connect(url)
    query = make_url(url).query
    server_settings = {"statement_timeout": str(int(statement_timeout * 1000)),
                       **postgres.server_settings}
    if "application_name" not in query:
        server_settings["application_name"] = APPLICATION_NAME
    connect_args: dict[str, Any] = {"timeout": postgres.timeout or connect_timeout,
                                    "command_timeout": statement_timeout,
                                    "server_settings": server_settings}
    if postgres.dsn_parameters:
        connect_args["dsn"] = f"postgresql://?{postgres.dsn_parameters}"
    if str(query.get("prepared_statement_cache_size")) == "0":
        # PgBouncer in transaction mode: a transaction may land on a server connection that
        # already holds another client's statement of the same sequential name, so no
        # statement outlives its transaction (asyncpg's own cache, used for type
        # introspection, included) and names are unique.
        connect_args["statement_cache_size"] = 0
        connect_args["prepared_statement_name_func"] = _unique_statement_name
    return create_async_engine(postgres.url, connect_args=connect_args, **kwargs)


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4().hex}__"


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
    an in-memory SQLite database, which other connections cannot see, or when no
    connection is left for it.

    ``max_connections`` (PostgreSQL) bounds the connections of both pools together:
    ``db/budget.py`` splits it between SQLAlchemy's pool and the direct pool."""

    def __init__(self, url: str, *, max_connections: int = DEFAULT_MAX_CONNECTIONS,
                 **kwargs: Any) -> None:
        url = normalise_database_url(url)
        self.url = url
        engine_share, direct_share = split(max_connections)
        if not is_sqlite(url):
            kwargs.setdefault("pool_size", engine_share)
        self.engine = create_engine(url, **kwargs)
        # SQLite's direct path is connections to a file, not the server's: no share needed.
        self.direct = (_open_direct(url, kwargs, direct_share)
                       if direct_share or is_sqlite(url) else None)
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


def _open_direct(url: str, options: dict[str, Any], max_size: int) -> DirectDatabase | None:
    timeouts = {name: options[name] for name in ("connect_timeout", "statement_timeout")
                if name in options}
    try:
        return open_direct(url, max_size=max_size, **timeouts)
    except ValueError:
        return None
