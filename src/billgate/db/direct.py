"""Direct statements: the hot path's few statements run on the database driver itself.

An entitlement check is one indexed read. Through an ``AsyncSession`` on aiosqlite it cost
about 2 ms of CPU: statement building, ORM result handling, and a hand-off to the driver's
thread (and back) for every cursor call, BEGIN and ROLLBACK (STACK-NOTES.md). The hot path
(balance reads, ``hasAccess``, ``tryDecrease``'s common case, the catalog version) instead
runs fixed SQL text straight on the driver. Statements that state a billing rule are not
written as text: they are SQLAlchemy Core expressions shared with the normal path
(``billing/items/rules.py``, ``billing/purchases/ownership.py``), compiled per dialect once
at import (``Statement.of``); the driver only ever sees the compiled text:

- SQLite: plain ``sqlite3`` connections on the event loop's own thread. An indexed read or a
  one-row write takes tens of microseconds, less than one hand-off. They never block the
  loop: ``busy_timeout`` is 0, so a statement that would wait for a lock (another
  connection's write transaction, in this process or another) fails at once; a write tries
  ``BEGIN IMMEDIATE`` again after short sleeps (``BUSY_WAITS``, about 31 ms in all), then
  raises ``Busy`` and the caller takes the normal path, which waits on its own thread.
  Reads in WAL mode never wait for a writer. A write transaction runs from
  ``BEGIN IMMEDIATE`` to ``COMMIT`` without giving the loop a turn (nothing in it awaits a
  future), so no other request can use the connection meanwhile; a connection is taken out
  of the idle list while in use all the same.
- PostgreSQL: a few asyncpg connections of its own (``db/direct_pool.py``, which hands one
  over without a task per request); asyncpg prepares each statement once per connection and
  keeps it.

Anything this module cannot do at once is ``Busy`` (SQLite lock) or ``DirectError`` (the
driver failed before a commit was asked for): both mean "nothing was written, take the normal
path", which then answers ``DATABASE_UNAVAILABLE`` itself if the database is really down. A
failure during ``COMMIT`` is raised as it is: whether the commit happened is unknown, so
redoing the work elsewhere could apply it twice.

Except a failure that took its whole time: a statement that hit the statement timeout, or a
connection that could not be had within the connect timeout, is ``Unavailable`` and is
raised, not handed on. The normal path would wait on the same lock or the same hung server
as long again, so the request answers ``DATABASE_UNAVAILABLE`` once, within the timeout.
A fast failure (a connection the server closed, say after a restart) still takes the normal
path, which checks its connections before use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.engine import make_url

from billgate.db.direct_pool import DirectPool
from billgate.db.urls import postgres_connect

log = logging.getLogger(__name__)
T = TypeVar("T")
Row = Sequence[Any]
Listener = Callable[[str], None]

# As SQLAlchemy's SQLite dialect stores a DateTime (UTCDateTime keeps it in UTC), so values
# compare as text exactly as they compare as times.
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"
_PARAM = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


class Busy(Exception):  # noqa: N818 - a signal, not an error
    """The statement would have waited for a lock: nothing was written; take the normal path."""


class DirectError(Exception):
    """The driver failed before any commit was asked for: nothing was written."""


class Unavailable(Exception):  # noqa: N818 - named as the answer it becomes
    """A statement timed out, or no connection came within the connect timeout: the
    request answers ``DATABASE_UNAVAILABLE`` (``db/availability.py``) without trying the
    normal path. Nothing was written."""


class Declined(Exception):  # noqa: N818 - a signal, not an error
    """Raised inside ``write()`` to roll back: the normal path does this work instead."""


async def or_none(work: Awaitable[T | None]) -> T | None:
    """``work``'s answer, or None when the direct path could not give it without waiting
    (``Busy``), failed before committing (``DirectError``) or handed it on (``Declined``).
    ``Unavailable`` is raised: the normal path would only wait as long again."""
    try:
        return await work
    except (Busy, DirectError, Declined) as exc:
        log.debug("direct path declined: %s", exc)
        return None


class Statement:
    """SQL text with ``:name`` parameters, and its PostgreSQL form (``$1``...).

    ``Statement.of`` compiles a SQLAlchemy Core statement for each dialect (the ledger's
    rules live as Core expressions in one place, ``billing/items/rules.py``); ``Statement``
    of plain text is for SQL that states no billing rule."""

    def __init__(self, sql: str, *, postgres: str | None = None) -> None:
        self.sqlite = " ".join(sql.split())
        self.names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.names:
                self.names.append(name)
            return f"${self.names.index(name) + 1}"

        self.postgres = _PARAM.sub(number, " ".join((postgres or sql).split()))

    @classmethod
    def of(cls, clause: Any, *, postgres_only: bool = False) -> Statement:
        """``clause`` compiled for SQLite and for PostgreSQL: explicit ``bindparam(name)``s
        stay parameters (``:name``, ``$n``), every constant the expressions carry is written
        into the text (as the hand-written SQL had them). ``postgres_only``: SQL SQLite
        cannot run (data-modifying CTEs); ``sqlite`` then holds PostgreSQL's text too, for
        listeners."""
        from sqlalchemy.dialects import postgresql
        from sqlalchemy.dialects import sqlite as sqlite_dialect

        clause, names = _inline_constants(clause)
        texts = []
        dialects = [postgresql.dialect(paramstyle="named")]
        if not postgres_only:
            dialects.insert(0, sqlite_dialect.dialect(paramstyle="named"))
        for dialect in dialects:
            compiled = clause.compile(dialect=dialect,
                                      compile_kwargs={"render_postcompile": True})
            text = str(compiled)
            # A constant the dialect adds itself (SQLite's ``LIMIT n OFFSET 0``).
            for name, value in compiled.params.items():
                if name not in names:
                    if not isinstance(value, int):
                        raise ValueError(f"cannot write {name}={value!r} into the SQL")
                    text = re.sub(rf"(?<![:\w]):{name}\b", str(value), text)
            texts.append(text)
        return cls(texts[0], postgres=texts[-1])

    def __repr__(self) -> str:
        return f"Statement({self.sqlite!r})"


def _inline_constants(clause: Any) -> tuple[Any, set[str]]:
    """``clause`` with each bound value that is not a named parameter (a literal such as a
    status name, ``0``, a LIMIT) rendered into the SQL text; named parameters get a
    placeholder value, as compiling with the literals rendered asks for one."""
    from sqlalchemy.sql.elements import BindParameter
    from sqlalchemy.sql.visitors import replacement_traverse

    names: set[str] = set()

    def replace(element: Any, **_: Any) -> Any:
        if not isinstance(element, BindParameter):
            return None
        if element.required:
            names.add(element.key)
            return element._with_value(None, maintain_key=True, required=False)
        constant = element._clone()
        constant.literal_execute = True  # ``IN (...)`` lists stay lists
        return constant

    return replacement_traverse(clause, {}, replace), names


def time_of(value: object) -> datetime | None:
    """A time column as read by either driver, aware and in UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    assert isinstance(value, datetime)
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def json_of(value: object) -> Any:
    """A JSON column as read by either driver (both hand back the text)."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value


class Connection:
    """One transaction's (or one read's) statements."""

    def __init__(self, run: Callable[[Statement, Mapping[str, Any]], Any],
                 listeners: list[Listener]) -> None:
        self._run = run
        self._listeners = listeners

    async def fetchone(self, statement: Statement, **params: Any) -> Row | None:
        rows = await self.fetchall(statement, **params)
        return rows[0] if rows else None

    async def fetchall(self, statement: Statement, **params: Any) -> list[Row]:
        for listener in self._listeners:
            listener(statement.sqlite)
        result = self._run(statement, params)
        if not isinstance(result, list):
            result = await result
        return list(result)


class DirectDatabase:
    """``read()`` for one consistent statement at a time, ``write()`` for one transaction."""

    dialect = ""  # "sqlite" or "postgresql"

    def __init__(self) -> None:
        self.listeners: list[Listener] = []

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with each statement's SQL (tests count them); returns the undo."""
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def read(self) -> contextlib.AbstractAsyncContextManager[Connection]:
        raise NotImplementedError

    def write(self) -> contextlib.AbstractAsyncContextManager[Connection]:
        raise NotImplementedError

    def autocommit(self) -> contextlib.AbstractAsyncContextManager[Connection]:
        """Statements outside a transaction, each committed on its own, all or nothing
        (PostgreSQL: the hot path's one-statement change)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


class SQLiteDirect(DirectDatabase):
    """``sqlite3`` on the loop's thread: autocommit reads, ``BEGIN IMMEDIATE`` writes."""

    dialect = "sqlite"

    def __init__(self, path: str, *, keep_idle: int = 2) -> None:
        super().__init__()
        self.path = path
        self._idle: list[sqlite3.Connection] = []
        self._keep_idle = keep_idle

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=0)
            for pragma in ("busy_timeout=0", "synchronous=NORMAL", "foreign_keys=ON"):
                conn.execute(f"PRAGMA {pragma}")
        except sqlite3.Error as exc:
            raise _translate(exc) from exc
        return conn

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[sqlite3.Connection]:
        conn = self._idle.pop() if self._idle else self._connect()
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
        if conn.in_transaction:  # pragma: no cover - every path commits or raises
            conn.rollback()
        if len(self._idle) < self._keep_idle:
            self._idle.append(conn)
        else:
            conn.close()

    @staticmethod
    def _runner(conn: sqlite3.Connection) -> Callable[[Statement, Mapping[str, Any]], Any]:
        def run(statement: Statement, params: Mapping[str, Any]) -> list[Row]:
            try:
                return conn.execute(statement.sqlite, _sqlite_params(params)).fetchall()
            except sqlite3.Error as exc:
                raise _translate(exc) from exc
        return run

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        async with self._connection() as conn:
            yield Connection(self._runner(conn), self.listeners)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[Connection]:
        async with self._connection() as conn:
            await self._begin(conn)
            yield Connection(self._runner(conn), self.listeners)
            conn.commit()  # raised as it is: the outcome of a failed COMMIT is unknown

    # A normal-path writer holds the write lock for a few milliseconds, so a busy write
    # tries again a few times (the loop turns meanwhile) before handing over. Handing
    # every busy write to the normal path at once made a loaded server metastable: the
    # normal path's queue kept the lock taken, so every new request found it busy and
    # joined the queue (a sixth of the throughput) until the load dropped.
    BUSY_WAITS = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016)

    async def _begin(self, conn: sqlite3.Connection) -> None:
        for wait in (*self.BUSY_WAITS, None):
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.Error as exc:
                error = _translate(exc)
                if wait is None or not isinstance(error, Busy):
                    raise error from exc
            await asyncio.sleep(wait)

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop().close()


def _sqlite_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value.astimezone(UTC).strftime(_SQLITE_TIME) if isinstance(value, datetime)
            else value for name, value in params.items()}


def _translate(exc: sqlite3.Error) -> Exception:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return Busy(str(exc))
    if isinstance(exc, sqlite3.IntegrityError):
        return exc
    return DirectError(str(exc))


class PostgresDirect(DirectDatabase):
    """asyncpg connections beside SQLAlchemy's pool (``db/direct_pool.py``), opened as needed, at
    most ``max_size`` (its share of ``BILLGATE_DB_MAX_CONNECTIONS``, ``db/budget.py``), named
    ``billgate-direct`` in ``pg_stat_activity``. A request that finds them all busy waits
    for one up to ``connect_timeout`` (waiting and connecting together)."""

    APPLICATION_NAME = "billgate-direct"
    dialect = "postgresql"

    # After a connection could not be opened, requests take the normal path for this long
    # before the next attempt (a connection attempt per request would cost more).
    RETRY_AFTER = 5.0

    def __init__(self, url: str, *, max_size: int = 5, connect_timeout: float = 5.0,
                 statement_timeout: float = 30.0) -> None:
        super().__init__()
        parsed = make_url(url)
        # SQLAlchemy's asyncpg option for PgBouncer in transaction mode, in asyncpg's terms.
        cache_size = parsed.query.get("prepared_statement_cache_size")
        self._statement_cache_size = 100 if cache_size is None else int(str(cache_size))
        # libpq parameters (``?sslmode=require``…) as the engine takes them (``db/urls.py``).
        postgres = postgres_connect(parsed)
        self._dsn = postgres.dsn
        connect_timeout = postgres.timeout or connect_timeout
        self._server_settings = {"statement_timeout": str(int(statement_timeout * 1000)),
                                 **postgres.server_settings}
        if "application_name" not in parsed.query:
            self._server_settings["application_name"] = self.APPLICATION_NAME
        self._pool: DirectPool | None = None
        self._max_size = max_size
        self._connect_timeout = connect_timeout
        self._statement_timeout = statement_timeout
        self._retry_at = 0.0

    def _get_pool(self) -> DirectPool:
        if self._pool is None:
            self._pool = DirectPool(self._connect, max_size=self._max_size,
                                    timeout=self._connect_timeout)
        return self._pool

    async def _connect(self, within: float) -> Any:
        import asyncpg

        if time.monotonic() < self._retry_at:
            raise DirectError("the database could not be reached a moment ago")
        try:
            return await asyncpg.connect(
                self._dsn, timeout=within, command_timeout=self._statement_timeout,
                statement_cache_size=self._statement_cache_size,
                server_settings=self._server_settings)
        except TimeoutError:
            raise
        except BaseException:
            self._retry_at = time.monotonic() + self.RETRY_AFTER
            raise

    async def _acquire(self) -> tuple[DirectPool, Any]:
        pool = self._get_pool()
        try:
            return pool, await pool.acquire()
        except DirectError:
            raise
        except TimeoutError as exc:  # a hung server or a busy pool: the normal path would wait too
            raise Unavailable(f"no database connection within {self._connect_timeout:g} s") \
                from exc
        except Exception as exc:  # whatever opening failed on: the normal path reports it
            raise DirectError(f"{type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _runner(conn: Any) -> Callable[[Statement, Mapping[str, Any]], Any]:
        async def run(statement: Statement, params: Mapping[str, Any]) -> list[Row]:
            import asyncpg

            values = [params[name] for name in statement.names]
            try:
                return list(await conn.fetch(statement.postgres, *values))
            except asyncpg.UniqueViolationError:
                raise
            except (TimeoutError, asyncpg.QueryCanceledError) as exc:
                raise Unavailable(f"statement timed out: {exc}") from exc
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                raise DirectError(str(exc)) from exc
        return run

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        pool, conn = await self._acquire()
        reusable = True
        try:
            yield Connection(self._runner(conn), self.listeners)
        except BaseException as exc:
            # A statement's own error leaves the connection usable; a cancellation
            # mid-statement leaves it in an unknown state.
            reusable = isinstance(exc, Exception)
            raise
        finally:
            pool.release(conn, reusable=reusable)

    def autocommit(self) -> contextlib.AbstractAsyncContextManager[Connection]:
        return self.read()  # no BEGIN: each statement is its own transaction

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[Connection]:
        pool, conn = await self._acquire()
        reusable = True
        try:
            transaction = conn.transaction()
            try:
                await transaction.start()
            except Exception as exc:
                raise DirectError(str(exc)) from exc
            try:
                yield Connection(self._runner(conn), self.listeners)
            except Exception:
                try:
                    await transaction.rollback()
                except Exception:  # a timed-out statement can leave it unusable: drop it
                    conn.terminate()
                raise
            await transaction.commit()  # raised as it is: a failed COMMIT's outcome is unknown
        except BaseException as exc:  # cancelled: the server rolls back as it closes
            reusable = isinstance(exc, Exception)
            raise
        finally:
            pool.release(conn, reusable=reusable)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def is_unique_violation(exc: BaseException) -> bool:
    """A unique index refused a row (an idempotency key used concurrently)."""
    if isinstance(exc, sqlite3.IntegrityError):
        return True
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    return isinstance(exc, asyncpg.UniqueViolationError)


def open_direct(url: str, *, max_size: int = 5, connect_timeout: float = 5.0,
                statement_timeout: float = 30.0) -> DirectDatabase:
    """The direct path for the database at ``url`` (a normalised SQLAlchemy URL)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise ValueError("the direct path needs an SQLite file")
        return SQLiteDirect(database)
    return PostgresDirect(url, max_size=max_size, connect_timeout=connect_timeout,
                          statement_timeout=statement_timeout)
