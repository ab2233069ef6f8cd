"""Execute and encode a live change once for all the subscribers that asked the same thing.

A live feed (``graphql/live_items.py``) hands one change, as one object, to every watcher
of a balance in this process. Without help each subscriber would run its own GraphQL
execution of that object and encode its own copy of the same JSON, about a millisecond per
subscriber on our machine, which is what kept 1,000 subscribers from being updated within
100 ms. Here:

* ``SharedEventExecutionContext`` executes a shared event (an object whose
  ``shared_results`` is a dict) once per *share key*: the operation's document node, its
  variables and the caller's identity. Subscribers with the same key get the same result;
  a caller with other rights never sees a result computed for someone else.
* The result's ``data`` becomes ``SharedData``, a dict that remembers its JSON, and the
  WebSocket handler (``graphql/ws_handler.py``) sends it as the same bytes to every
  subscriber, only the operation id differing.

Everything else (the first snapshot, queries and mutations over WebSocket, errors) takes
Strawberry's ordinary path.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from graphql import ExecutionResult
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from billgate.ops.metrics import LIVE_EXECUTIONS

_UNKEYED = object()


class SharedData(dict[str, Any]):
    """A result's ``data`` shared by many subscribers, encoded at most once."""

    __slots__ = ("_encoded",)

    def encoded(self) -> bytes:
        try:
            return self._encoded  # type: ignore[no-any-return]
        except AttributeError:
            self._encoded: bytes = orjson.dumps(self)
            return self._encoded


class SharedEventExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Executes each shared subscription event once per share key (see the module)."""

    _share_key: Any = _UNKEYED

    def build_per_event_executor(self, payload: Any) -> Any:
        store = getattr(payload, "shared_results", None)
        if not isinstance(store, dict):
            self._counted()
            return super().build_per_event_executor(payload)
        key = self._key()
        entry = store.get(key)
        if entry is None:
            # The entry holds the operation node, so no other node can take its id meanwhile.
            self._counted()
            entry = store[key] = (self.operation, _SharedRun(super().build_per_event_executor(payload)))
        return entry[1]

    def _counted(self) -> None:
        """One execution of a live state (``billgate_live_executions_total``)."""
        selection = self.operation.selection_set.selections[0]
        name = getattr(getattr(selection, "name", None), "value", "other")
        LIVE_EXECUTIONS.labels(name).inc()

    def _key(self) -> Any:
        if self._share_key is _UNKEYED:
            variables = orjson.dumps(self.variable_values.coerced, default=repr,
                                     option=orjson.OPT_SORT_KEYS)
            identity = getattr(getattr(self.context_value, "principal", None), "identity", None)
            self._share_key = (id(self.operation), variables, identity)
        return self._share_key


class _SharedRun:
    """One execution, run by the first subscriber and awaited by the others."""

    def __init__(self, executor: Any) -> None:
        self._executor = executor
        self._result: Any = None

    def execute_operation(self, serially: bool | None = None) -> Any:
        if self._result is None:
            executor, self._executor = self._executor, None  # it holds the event: no cycle
            result = executor.execute_operation(serially)
            if executor.is_awaitable(result):
                self._result = asyncio.ensure_future(_share_data(result))
            else:
                self._result = _with_shared_data(result)
        if isinstance(self._result, asyncio.Future):
            # A subscriber that leaves while waiting must not cancel the others' result.
            return asyncio.shield(self._result)
        return self._result


async def _share_data(pending: Any) -> ExecutionResult:
    return _with_shared_data(await pending)


def _with_shared_data(result: ExecutionResult) -> ExecutionResult:
    if isinstance(result.data, dict) and not isinstance(result.data, SharedData):
        result.data = SharedData(result.data)
    return result
