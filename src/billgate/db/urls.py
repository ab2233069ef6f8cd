"""Database URLs as operators write them, turned into the ones SQLAlchemy needs.

billgate opens SQLite (``sqlite+aiosqlite:///path``) and PostgreSQL through asyncpg.
PostgreSQL URLs are taken in the forms hosting providers hand out (``postgres://``,
``postgresql://``, with libpq parameters such as ``?sslmode=require``); asyncpg does not
take libpq's parameters as SQLAlchemy passes them, so they are translated here, once, for
the engine, the direct pool (``db/direct.py``) and the PostgreSQL event bus:

* ``sslmode``, ``sslrootcert``, ``sslcert``, ``sslkey``, ``sslpassword``, ``sslcrl``,
  ``target_session_attrs`` and ``application_name`` are read by asyncpg's own libpq-style
  DSN parser (so ``verify-full`` checks the certificate as libpq does);
* ``connect_timeout`` (seconds) becomes asyncpg's connection timeout;
* ``options`` (``-c name=value`` …) becomes server settings;
* ``prepared_statement_cache_size`` is SQLAlchemy's own (PgBouncer in transaction mode).

Anything else, another database (``mysql://``) or a string that is not a URL is refused
with one line that says what is accepted.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from urllib.parse import urlencode

from sqlalchemy.engine import URL, make_url

# What hosting providers hand out (Heroku, Render, Fly, docker compose examples), and what
# SQLAlchemy would open with psycopg2, a driver billgate does not install.
_ASYNCPG_ALIASES = ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://")
EXPECTED = ("sqlite+aiosqlite:///path/to/billgate.db or "
            "postgresql://user:password@host:5432/database")

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# Read by asyncpg's DSN parser exactly as libpq reads them.
DSN_PARAMETERS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword", "sslcrl",
                  "target_session_attrs", "application_name")
TRANSLATED = ("connect_timeout", "options")
SQLALCHEMY_PARAMETERS = ("prepared_statement_cache_size",)
ACCEPTED = DSN_PARAMETERS + TRANSLATED + SQLALCHEMY_PARAMETERS


class DatabaseUrlError(ValueError):
    """A database URL billgate cannot open; the message is one line saying what to write."""


def normalise_database_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` URLs use asyncpg; SQLite URLs are unchanged.
    Raises ``DatabaseUrlError`` for a string that is not a URL, another database, or a
    PostgreSQL parameter billgate does not understand."""
    for alias in _ASYNCPG_ALIASES:
        if url.startswith(alias):
            url = "postgresql+asyncpg://" + url[len(alias):]
            break
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return url
    if backend != "postgresql" or parsed.get_driver_name() != "asyncpg":
        raise DatabaseUrlError(
            f"{parsed.drivername}:// databases are not supported: use {EXPECTED}")
    postgres_connect(parsed)  # every parameter checked now, not at the first connection
    return url


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except Exception:  # SQLAlchemy raises ArgumentError (and ValueError for a bad port)
        # Not echoed: a string that is no URL may still hold a password.
        raise DatabaseUrlError(f"not a database URL: use {EXPECTED}") from None


@dataclass(frozen=True)
class PostgresConnect:
    """How asyncpg opens a PostgreSQL URL: ``url`` without libpq parameters (for
    SQLAlchemy), ``dsn`` (for asyncpg: host and credentials with the parameters its DSN
    parser reads), and what ``connect_timeout`` and ``options`` translate to."""

    url: URL
    dsn: str
    dsn_parameters: str  # "sslmode=require&..." (may be empty)
    timeout: float | None = None
    server_settings: dict[str, str] = field(default_factory=dict)


def postgres_connect(url: str | URL) -> PostgresConnect:
    parsed = _parse(url) if isinstance(url, str) else url
    query = {name: _single(name, value) for name, value in parsed.query.items()}
    unknown = sorted(set(query) - set(ACCEPTED))
    if unknown:
        raise DatabaseUrlError(
            f"the PostgreSQL parameter {unknown[0]!r} is not supported; billgate understands "
            f"{', '.join(ACCEPTED)}: remove it from the URL")
    mode = query.get("sslmode")
    if mode is not None and mode not in SSL_MODES:
        raise DatabaseUrlError(f"sslmode={mode!r}: expected one of {', '.join(SSL_MODES)}")
    dsn_query = {name: query[name] for name in DSN_PARAMETERS if name in query}
    bare = parsed.difference_update_query([*DSN_PARAMETERS, *TRANSLATED])
    return PostgresConnect(
        url=bare,
        dsn=bare.set(drivername="postgresql").difference_update_query(SQLALCHEMY_PARAMETERS)
        .update_query_dict(dsn_query).render_as_string(hide_password=False),
        dsn_parameters=urlencode(dsn_query),
        timeout=_timeout(query.get("connect_timeout")),
        server_settings=_options(query.get("options")))


def _single(name: str, value: str | tuple[str, ...]) -> str:
    if isinstance(value, tuple):
        raise DatabaseUrlError(f"the PostgreSQL parameter {name!r} is given more than once")
    return value


def _timeout(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 3600:
        raise DatabaseUrlError(f"connect_timeout={value!r}: expected seconds from 1 to 3600")
    return seconds


def _options(value: str | None) -> dict[str, str]:
    """``-c statement_timeout=5000 -c search_path=billing`` (or ``--name=value``), as libpq
    reads the ``options`` parameter, as server settings."""
    if not value:
        return {}
    settings: dict[str, str] = {}
    words = shlex.split(value)
    while words:
        word = words.pop(0)
        if word == "-c" and words:
            word = words.pop(0)
        elif word.startswith("-c") or word.startswith("--"):
            word = word[2:]
        else:
            word = ""
        name, equals, setting = word.partition("=")
        if not equals or not name:
            raise DatabaseUrlError(f"options={value!r}: expected -c name=value settings")
        settings[name.replace("-", "_")] = setting
    return settings


def describe(url: str) -> str:
    """The URL without its password, for messages an operator reads."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: say so rather than echo it
        return "(not a valid database URL)"
