"""Text a database can store: PostgreSQL text holds no NUL character, and a lone UTF-16
surrogate (``"\\ud800"``) is not Unicode that any database or answer can encode. One rule,
used at every edge that takes text from outside (GraphQL variables and literals, cursors,
customer tokens) and by ``billing/customers.validate_ref``."""

from __future__ import annotations

import re

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


def bad_text(value: str) -> str | None:
    """What is wrong with ``value`` as stored text, or None."""
    match = _BAD_TEXT.search(value)
    if match is None:
        return None
    return "a NUL character" if match.group() == "\x00" else "a lone surrogate (invalid Unicode)"
