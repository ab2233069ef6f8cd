"""The console's action helper: every console action runs through ``perform``, which
calls the billing function (the same one as the matching GraphQL mutation) and records the
attempt as an ``OperatorAction`` with its outcome, whatever it was. Parsing the form runs
inside it too, so a refused value is logged like a refused mutation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from billgate.billing import operator_actions
from billgate.errors import BillgateError
from billgate.web.admin.console import Ctx

T = TypeVar("T")


async def perform(ctx: Ctx, action: str, target: str | None, work: Callable[[], Awaitable[T]],
                  *, detail: str | None = None) -> T:
    """``await work()``, recorded as ``action`` on ``target`` (via "console"). A
    ``BillgateError`` is recorded with its code and raised for the page to show."""
    outcome = "error"
    try:
        result = await work()
        outcome = operator_actions.OK
        return result
    except BillgateError as exc:
        outcome = exc.code
        raise
    finally:
        await operator_actions.record(ctx.runtime.db, operator_actions.ActionRecord(
            key_fingerprint=ctx.key_fingerprint, action=action, target=target,
            outcome=outcome, via=operator_actions.CONSOLE, at=ctx.runtime.clock.now(),
            detail=detail))
