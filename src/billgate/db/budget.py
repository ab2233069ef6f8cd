"""How many PostgreSQL connections one process may open, and who gets which.

``BILLGATE_DB_MAX_CONNECTIONS`` (per process, default 10) bounds every connection a process
opens to PostgreSQL. It is split once, at start-up, into fixed shares, each a pool that never
grows past its share:

- the event bus (a PostgreSQL bus only): 2, the ``LISTEN`` connection and one connection
  that publishes (publishing keeps working while the listener reconnects);
- SQLAlchemy's pool (the normal path, the in-process scheduler, ``/readyz``): half of the
  rest, rounded up;
- the direct path's asyncpg connections (the hot path's statements, ``db/direct.py`` and
  ``db/direct_pool.py``): the other half; with no connection left for it the direct path is
  off and everything takes the normal path.

Why fixed shares and not one semaphore over both pools: each pool keeps idle connections
open, and a semaphore over open connections would let one pool's idle connections starve
the other until they expired. Fixed shares cannot: a request waits only for its own pool,
for a connection that a running request of the same kind will hand back. A request that
finds its pool busy waits for a connection up to ``BILLGATE_DB_CONNECT_TIMEOUT`` (SQLAlchemy's
``pool_timeout``, ``DirectPool``'s own wait), then answers ``DATABASE_UNAVAILABLE``.

So ``processes x BILLGATE_DB_MAX_CONNECTIONS`` is the most a deployment can open (every
``billgate serve`` worker and every ``billgate worker`` is a process); keep it under the
server's ``max_connections`` less a margin for ``superuser_reserved_connections``,
migrations and people (README, "Connections to PostgreSQL").
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_CONNECTIONS = 10
# The PostgreSQL event bus: its LISTEN connection and one publishing connection.
BUS_CONNECTIONS = 2


@dataclass(frozen=True)
class ConnectionBudget:
    """The shares of ``total`` connections; ``bus`` is what the event bus takes (0 unless
    it is PostgreSQL)."""

    total: int = DEFAULT_MAX_CONNECTIONS
    bus: int = 0

    def __post_init__(self) -> None:
        if self.total < self.bus + 1:
            raise ValueError(
                f"BILLGATE_DB_MAX_CONNECTIONS: {self.total} is too few: the PostgreSQL event "
                f"bus takes {self.bus} and requests need at least 1 more; set it to "
                f"{self.bus + 1} or more")

    @property
    def for_database(self) -> int:
        """What the ``Database`` may open (its two pools together, see ``split``)."""
        return self.total - self.bus


def split(connections: int) -> tuple[int, int]:
    """``connections`` for the database as (SQLAlchemy's pool, the direct pool)."""
    engine = (connections + 1) // 2
    return engine, connections - engine
