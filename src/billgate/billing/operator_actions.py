"""The operator actions log: every write made with a secret key, through GraphQL or the
operator console, is one ``OperatorAction`` (API.md, "Operator console").

The billing functions own their transactions, so an action is recorded right after the
change, with its outcome ("ok" or the first user error's code), in a transaction of its
own. A process that dies between the change and this record loses the record (never the
change): the change itself is in the ledger, the transactions and the webhook outbox.

The record is one INSERT; where the database has a direct driver (``db/direct.py``) it
runs there, so logging a ``tryDecreaseItemQuantity`` adds tens of microseconds to the hot
path rather than a second SQLAlchemy transaction. A record that cannot be written is
logged and dropped: the change it reports already happened, and its caller must still get
the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.db.direct import Statement, or_none
from billgate.db.engine import Database
from billgate.db.models import OperatorAction
from billgate.types import CustomerRef

log = logging.getLogger(__name__)

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


INSERT = Statement("""
    INSERT INTO operator_actions (at, key_fingerprint, action, target, outcome, via, detail)
    VALUES (:at, :key_fingerprint, :action, :target, :outcome, :via, :detail)""")


def _clip(value: str | None, size: int) -> str | None:
    return None if value is None else value[:size]


async def record(db: Database, entry: ActionRecord) -> None:
    """Write ``entry`` (its own small transaction); never raises."""
    values = {"at": entry.at, "key_fingerprint": entry.key_fingerprint[:20],
              "action": entry.action[:64], "target": _clip(entry.target, MAX_TARGET),
              "outcome": entry.outcome[:64], "via": entry.via[:20],
              "detail": _clip(entry.detail, MAX_DETAIL)}
    try:
        if db.direct is not None and await or_none(_record_direct(db, values)):
            return
        async with db.session() as session, session.begin():
            session.add(OperatorAction(**values))
    except Exception:  # the change happened; losing its log line must not fail the caller
        log.exception("could not record the operator action %s on %s", entry.action, entry.target)


async def _record_direct(db: Database, values: dict[str, object]) -> bool:
    assert db.direct is not None
    async with db.direct.write() as conn:
        await conn.fetchall(INSERT, **values)
    return True


async def list_page(session: AsyncSession, *, before_id: int | None,
                    limit: int) -> Sequence[OperatorAction]:
    """Actions newest first (keyset on id): ``operatorActions`` and the console's Activity."""
    stmt = select(OperatorAction).order_by(OperatorAction.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(OperatorAction.id < before_id)
    return (await session.scalars(stmt)).all()
