"""``INSERT ... ON CONFLICT DO NOTHING`` for SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_ignore(session: AsyncSession, table: Table, values: dict[str, Any],
                        conflict_columns: Sequence[str]) -> bool:
    """Insert a row unless one with the same ``conflict_columns`` exists (race-safe).
    True when this call inserted it."""
    bind = session.bind
    assert bind is not None
    dialect = bind.dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table).values(**values).on_conflict_do_nothing(
        index_elements=list(conflict_columns)
    )
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0) == 1)
