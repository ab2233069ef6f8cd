"""CSRF protection of billgate's own pages (console, portal): every state-changing request
carries the session's CSRF token in the form field ``csrf_token``. One without it, or with
another, is refused with 403 before anything reads the rest of the form or changes a thing.

The token is per session (``web/sessions.Session.csrf``), compared in constant time; the
session cookie is also ``SameSite=Strict``, so a cross-site form is refused twice over.
"""

from __future__ import annotations

import hmac

from starlette.datastructures import FormData

FIELD = "csrf_token"


def valid(form: FormData, expected: str) -> bool:
    given = form.get(FIELD)
    return isinstance(given, str) and bool(expected) and hmac.compare_digest(
        given.encode(), expected.encode())
