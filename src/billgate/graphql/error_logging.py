"""How GraphQL errors reach the log.

A client's mistake (a validation or limit error, FORBIDDEN, INVALID_INPUT, a bad cursor,
any domain error) is one INFO line without a traceback: it is not the operator's problem
and a traceback per bad request buries the ones that are. A database that cannot serve is
one WARNING line. Anything else is a bug: ERROR with the traceback; every line carries the
request id (the log handler's filter adds it; the message repeats it for plain-text logs).
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError

from billgate.db.availability import is_unavailable, summary
from billgate.errors import BillgateError, clip_echo
from billgate.ops.logging import request_id

log = logging.getLogger("billgate.graphql")


def is_client_error(error: GraphQLError) -> bool:
    """Whether the client caused ``error`` (parse and validation errors have no original)."""
    original: Any = error.original_error
    return original is None or isinstance(original, BillgateError | GraphQLError)


def log_error(error: GraphQLError) -> None:
    where = ".".join(map(str, error.path)) if error.path else None
    code = (error.extensions or {}).get("code") or getattr(error.original_error, "code", None)
    about = f" at {where}" if where else ""
    if is_client_error(error):
        log.info("GraphQL client error%s: %s%s", about, clip_echo(error.message),
                 f" ({code})" if code else "")
    elif is_unavailable(error.original_error):
        log.warning("GraphQL request failed%s: database unavailable: %s", about,
                    summary(error.original_error))  # type: ignore[arg-type]
    else:
        log.error("GraphQL unexpected error%s (request %s): %s", about, request_id.get(),
                  clip_echo(error.message), exc_info=error.original_error)
