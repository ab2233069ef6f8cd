"""Customer tokens, minted by your backend for its signed-in users (HS256 with the secret
billgate checks them with, BILLGATE_CUSTOMER_TOKEN_SECRET)."""

from __future__ import annotations

import time
from collections.abc import Mapping

import jwt

TEAM_ROLES = ("admin", "member")


def mint_customer_token(
    secret: str,
    customer_type: str,
    customer_id: str,
    *,
    ttl_seconds: int = 3600,
    teams: Mapping[str, str] | None = None,
) -> str:
    """A customer token for user ``customer_id``: ``sub`` the user, ``teams`` ``{"team-id":
    "admin" | "member"}`` (members read the team; admins may also buy and manage its
    billing), ``exp`` ``ttl_seconds`` from now. A token always names a user, so
    ``customer_type`` must be ``"USER"``; give team access with ``teams``."""
    if not secret:
        raise ValueError("secret (BILLGATE_CUSTOMER_TOKEN_SECRET) must not be empty")
    if customer_type != "USER":
        raise ValueError(
            f"a customer token names a user (customer_type 'USER'), got {customer_type!r}; "
            "give team access with teams={'team-id': 'admin' | 'member'}"
        )
    if not customer_id:
        raise ValueError("customer_id must not be empty")
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds < 1:
        raise ValueError(f"ttl_seconds must be a whole number >= 1, got {ttl_seconds!r}")
    roles = dict(teams or {})
    for team, role in roles.items():
        if role not in TEAM_ROLES:
            raise ValueError(f"team {team!r}: the role must be 'admin' or 'member', got {role!r}")
    now = int(time.time())
    claims = {"sub": customer_id, "teams": roles, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm="HS256")
