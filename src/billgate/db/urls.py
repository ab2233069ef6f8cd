"""Database URLs as operators write them, turned into the ones SQLAlchemy needs."""

from __future__ import annotations

# What hosting providers hand out (Heroku, Render, Fly, docker compose examples), and what
# SQLAlchemy would open with psycopg2, a driver billgate does not install.
_ASYNCPG_ALIASES = ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://")


def normalise_database_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` URLs use asyncpg; anything else is unchanged."""
    for alias in _ASYNCPG_ALIASES:
        if url.startswith(alias):
            return "postgresql+asyncpg://" + url[len(alias):]
    return url


def describe(url: str) -> str:
    """The URL without its password, for messages an operator reads."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: say so rather than echo it
        return "(not a valid database URL)"
