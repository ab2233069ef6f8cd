"""Who is calling, and what they may touch.

- ``Bearer <secret key>``: a server caller (the app's backend, internal tools): full access.
- ``Bearer <customer token>``: a client caller: an HS256 JWT signed with the shared
  customer-token secret, ``sub`` = user id, ``teams`` = {team id: "admin" | "member"},
  ``exp`` required. Clients see their own user and their teams only, never CUSTOM
  customers or server-only products, and cannot change balances or the catalog.
- No credentials: anonymous, allowed to read the public catalog (products, product lines
  and item definitions that are not server-only) and nothing else.

Shared by the edges that take these credentials: GraphQL (``graphql/view.py``) and the
REST endpoints (``rest/``), so a key or token means the same caller on both. The
who-may-do-what matrix is written out in ``graphql/README.md`` (REST: ``rest/__init__.py``).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import jwt

from billgate.billing.operator_actions import key_fingerprint
from billgate.errors import BillgateError, Forbidden
from billgate.text import bad_text
from billgate.types import MAX_CUSTOMER_ID_LENGTH, CustomerRef, CustomerType
from billgate.web.sessions import SCOPED_PREFIX, SessionKeys, TokenInvalid

TEAM_ROLES = {"admin", "member"}


class AuthError(BillgateError):
    code = "UNAUTHENTICATED"


class CallerKind(StrEnum):
    SERVER = "server"
    CLIENT = "client"
    # A short-lived token for one customer's live reads, minted for a signed-in console
    # page (``web/sessions.py``): never the secret key in a page.
    SCOPED = "scoped"
    ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Principal:
    kind: CallerKind
    user_id: str | None = None
    teams: Mapping[str, str] = field(default_factory=dict)
    # A customer token's ``exp`` (seconds since the epoch): a live connection ends then.
    expires_at: float | None = field(default=None, compare=False)
    # A server caller's key as the operator actions log names it ("…" + last 4 characters).
    key_fingerprint: str | None = field(default=None, compare=False)
    # A scoped token's customer (``web/sessions.py``): reads that customer only.
    scope: CustomerRef | None = None

    @property
    def identity(self) -> tuple[str, str | None, tuple[tuple[str, str], ...], str | None]:
        """Everything that decides what this caller may see, hashable: callers with the same
        identity may share results (graphql/shared_results.py)."""
        scope = f"{self.scope.type.value}:{self.scope.customer_id}" if self.scope else None
        return (self.kind.value, self.user_id, tuple(sorted(self.teams.items())), scope)

    @property
    def is_server(self) -> bool:
        return self.kind is CallerKind.SERVER

    @property
    def is_client(self) -> bool:
        return self.kind is CallerKind.CLIENT

    def can_read(self, customer: CustomerRef) -> bool:
        if self.is_server:
            return True
        if self.kind is CallerKind.SCOPED:
            return customer == self.scope
        if not self.is_client:
            return False
        if customer.type is CustomerType.USER:
            return customer.customer_id == self.user_id
        if customer.type is CustomerType.TEAM:
            return customer.customer_id in self.teams
        return False  # clients never read CUSTOM customers

    def can_manage(self, customer: CustomerRef) -> bool:
        """Buy, switch, cancel, manage billing: the user itself, or a team admin."""
        if self.is_server:
            return True
        if self.kind is CallerKind.SCOPED:
            return False
        if self.is_client and customer.type is CustomerType.TEAM:
            return self.teams.get(customer.customer_id) == "admin"
        return self.can_read(customer)

    def require_read(self, customer: CustomerRef) -> None:
        if not self.can_read(customer):
            raise Forbidden(f"not allowed to read customer {customer}", field=["customer"])

    def require_manage(self, customer: CustomerRef) -> None:
        if not self.can_manage(customer):
            raise Forbidden(f"not allowed to act for customer {customer}", field=["customer"])

    def require_server(self, what: str) -> None:
        if not self.is_server:
            raise Forbidden(f"{what} needs a secret key (server caller)")


SERVER = Principal(CallerKind.SERVER)
ANONYMOUS = Principal(CallerKind.ANONYMOUS)


_SERVERS: dict[str, Principal] = {}


def server_principal(key: str) -> Principal:
    """The server caller of one secret key (kept: one object per configured key)."""
    fingerprint = key_fingerprint(key)
    known = _SERVERS.get(fingerprint)
    if known is None:
        known = _SERVERS[fingerprint] = Principal(CallerKind.SERVER, key_fingerprint=fingerprint)
    return known


def authenticate(authorization: str | None, *, secret_keys: Iterable[str],
                 token_secret: str) -> Principal:
    """The caller named by an ``Authorization`` header value (or WebSocket init payload)."""
    if not authorization:
        return ANONYMOUS
    scheme, _, credential = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise AuthError("Authorization must be 'Bearer <secret key or customer token>'")
    credential = credential.strip()
    keys = tuple(secret_keys)
    for key in keys:
        if hmac.compare_digest(credential.encode(), key.encode()):
            return server_principal(key)
    if credential.startswith(SCOPED_PREFIX):
        return _scoped(credential, keys)
    if credential.count(".") != 2:
        raise AuthError("unknown secret key")
    return _client_from_token(credential, token_secret)


def _scoped(credential: str, keys: tuple[str, ...]) -> Principal:
    try:
        scoped = SessionKeys.from_secret_keys(keys).read_scoped_token(credential)
    except TokenInvalid as exc:
        raise AuthError(f"invalid scoped token: {exc}") from None
    return Principal(CallerKind.SCOPED, scope=scoped.customer, expires_at=scoped.expires_at)


def _client_from_token(token: str, secret: str) -> Principal:
    if not secret:
        raise AuthError("customer tokens are not enabled (BILLGATE_CUSTOMER_TOKEN_SECRET is unset)")
    try:
        # Expiry is checked against the real clock (PyJWT uses time.time), never the test clock.
        # ``iat`` is informational: PyJWT would refuse a token "issued in the future", i.e.
        # every token of an app backend whose clock runs a second ahead of ours.
        claims: dict[str, Any] = jwt.decode(token, secret, algorithms=["HS256"],
                                            options={"require": ["sub", "exp"],
                                                     "verify_iat": False})
    except jwt.ExpiredSignatureError:
        raise AuthError("customer token has expired") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid customer token: {exc}") from None
    teams = claims.get("teams") or {}
    if not _customer_id(claims["sub"]) or not isinstance(teams, dict) or not all(
        _customer_id(k) and v in TEAM_ROLES for k, v in teams.items()
    ):
        raise AuthError(
            "invalid customer token: sub must be a customer id (1-"
            f"{MAX_CUSTOMER_ID_LENGTH} characters of valid Unicode, no NUL), "
            "teams {id: admin|member}"
        )
    return Principal(CallerKind.CLIENT, user_id=claims["sub"], teams=dict(teams),
                     expires_at=float(claims["exp"]))


def _customer_id(value: Any) -> bool:
    """A user or team id a customer can have (what ``customers.validate_ref`` accepts): no
    NUL and no lone surrogate either (PostgreSQL cannot store them, and SQLite must not
    create a customer that PostgreSQL could not hold)."""
    return (isinstance(value, str) and bool(value.strip()) and len(value) <= MAX_CUSTOMER_ID_LENGTH
            and bad_text(value) is None)


def mint_customer_token(secret: str, user_id: str, *, teams: Mapping[str, str] | None = None,
                        ttl_seconds: int = 3600, now: float | None = None) -> str:
    """Sign a customer token the way an app's backend would (used by ``billgate token``)."""
    import time

    issued = int(now if now is not None else time.time())
    payload = {"sub": user_id, "teams": dict(teams or {}), "iat": issued, "exp": issued + ttl_seconds}
    return jwt.encode(payload, secret, algorithm="HS256")
