"""The operator actions log: every write made with a secret key, through GraphQL or the
operator console, is one ``OperatorAction`` (API.md, "Operator console").

The billing functions own their transactions, so an action is recorded after the change,
with its outcome ("ok" or the first user error's code). Recording never waits: ``record``
queues the line and returns, and the lines queued in a process are written together, in
one transaction of their own, a moment later (``FLUSH_DELAY``) or when the log is read in
this process or the process stops. So the operator log costs a request nothing it could
wait on (an app backend's ``tryDecreaseItemQuantity`` with a secret key is a write too,
and a database that does not answer must answer ``DATABASE_UNAVAILABLE`` once, within its
timeout). A process that dies before writing its queue loses those lines (never the
changes: they are in the ledger, the transactions and the webhook outbox); a batch that
cannot be written is logged and dropped, as its changes already happened.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing import writes
from billgate.db.engine import Database
from billgate.db.models import OperatorAction
from billgate.types import CustomerRef

log = logging.getLogger(__name__)

# Seconds a queued line waits for the lines that follow it, so that a burst is one write.
FLUSH_DELAY = 0.2
# Lines kept while the database does not take them; past this the oldest are dropped.
MAX_QUEUED = 10_000
MAX_TARGET = 300
MAX_DETAIL = 1000
GRAPHQL = "graphql"
CONSOLE = "console"
REST = "rest"
OK = "ok"


def key_fingerprint(key: str) -> str:
    """What the log shows of a secret key: "…" and its last 4 characters."""
    return "…" + key[-4:]


def customer_target(ref: CustomerRef) -> str:
    """``USER:u-1``: how a customer is named in ``target``."""
    return f"{ref.type.value}:{ref.customer_id}"


@dataclass(frozen=True)
class ActionRecord:
    key_fingerprint: str
    action: str
    target: str | None
    outcome: str
    via: str
    at: datetime
    detail: str | None = None


def _clip(value: str | None, size: int) -> str | None:
    return None if value is None else value[:size]


def _values(entry: ActionRecord) -> dict[str, object]:
    return {"at": entry.at, "key_fingerprint": entry.key_fingerprint[:20],
            "action": entry.action[:64], "target": _clip(entry.target, MAX_TARGET),
            "outcome": entry.outcome[:64], "via": entry.via[:20],
            "detail": _clip(entry.detail, MAX_DETAIL)}


class _Queue:
    """The lines of one database not yet written, and the pending write."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.lines: list[dict[str, object]] = []
        self.timer: asyncio.TimerHandle | None = None
        self.writing: asyncio.Task[None] | None = None

    def add(self, values: dict[str, object]) -> None:
        if len(self.lines) >= MAX_QUEUED:
            del self.lines[0]
            log.warning("operator actions log: %d lines queued; dropping the oldest", MAX_QUEUED)
        self.lines.append(values)
        if self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(FLUSH_DELAY, self._start_write)

    def _start_write(self) -> None:
        self.timer = None
        if self.writing is None or self.writing.done():
            self.writing = asyncio.get_running_loop().create_task(self.write())

    async def write(self) -> None:
        """Write every queued line (one transaction); never raises."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        lines, self.lines = self.lines, []
        if not lines:
            return
        try:
            await writes.apart(self.db, partial(_add, lines))
        except Exception:  # the changes happened; losing their log lines must not fail anyone
            log.exception("could not record %d operator actions", len(lines))


async def _add(lines: list[dict[str, Any]], session: AsyncSession) -> None:
    # One multi-row INSERT, without an ORM object and a unit of work per line: the log is
    # written beside every secret-key write, tryDecreaseItemQuantity's included, and the
    # ORM's flush cost a fifth of that mutation's CPU (docs/performance.md).
    await session.execute(insert(OperatorAction), lines)


_queues: weakref.WeakKeyDictionary[Database, _Queue] = weakref.WeakKeyDictionary()


async def record(db: Database, entry: ActionRecord) -> None:
    """Queue ``entry`` for the operator actions log; returns at once (see the module doc)."""
    queue = _queues.get(db)
    if queue is None:
        queue = _queues[db] = _Queue(db)
    queue.add(_values(entry))


async def flush(db: Database) -> None:
    """Write what this process has queued for ``db``: before reading the log, and at exit."""
    queue = _queues.get(db)
    if queue is None:
        return
    if queue.writing is not None and not queue.writing.done():
        await queue.writing
    await queue.write()


async def list_page(session: AsyncSession, *, before_id: int | None,
                    limit: int) -> Sequence[OperatorAction]:
    """Actions newest first (keyset on id): ``operatorActions`` and the console's Activity."""
    stmt = select(OperatorAction).order_by(OperatorAction.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(OperatorAction.id < before_id)
    return (await session.scalars(stmt)).all()
