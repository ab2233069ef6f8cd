"""The GraphQL edge's callers: the verification lives in ``billgate/auth.py``, shared with
the REST edge (``rest/``); these names stay importable from here."""

from billgate.auth import (
    ANONYMOUS,
    SERVER,
    TEAM_ROLES,
    AuthError,
    CallerKind,
    Principal,
    authenticate,
    mint_customer_token,
)

__all__ = ["ANONYMOUS", "SERVER", "TEAM_ROLES", "AuthError", "CallerKind", "Principal",
           "authenticate", "mint_customer_token"]
