"""Browser sessions of billgate's own pages: the operator console now, the customer portal
later. One piece for both: a session has a ``kind`` ("console", "portal") and a
``subject`` (the console: the secret key's fingerprint; the portal: one customer), an
expiry, and a CSRF token of its own.

A session lives in one signed cookie (HS256 JWT, PyJWT): nothing is stored on the server,
so every replica reads it and a page costs no database round trip. The signing keys are
derived from the secret keys (HMAC of each with a fixed label): every replica with the same
``BILLGATE_SECRET_KEYS`` agrees, restarts keep sessions, and a key removed from the list
ends every session signed in with it (a console session names its key's hash and is valid
only while that key is configured). Signing out removes the cookie from the browser; to
end every console session at once, rotate the secret key.

Scoped tokens (``bgs_...``) let a signed-in page open the GraphQL WebSocket without the
secret key ever reaching the page: a short-lived token that reads one customer and nothing
else (``graphql/auth.py`` turns it into a ``SCOPED`` principal; it can change nothing).

Flash messages ("Balance adjusted") survive the redirect after a POST in a short-lived
signed cookie of their own.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import Response

from billgate.types import CustomerRef, CustomerType

SESSION_LABEL = b"billgate session signing v1"
SCOPED_PREFIX = "bgs_"
FLASH_COOKIE = "bg_flash"
FLASH_SECONDS = 60


class TokenInvalid(Exception):
    """A session cookie or scoped token that is not ours, was altered or has expired."""


@dataclass(frozen=True)
class Session:
    kind: str
    subject: str
    csrf: str
    expires_at: float
    # The console: a hash of the secret key signed in with; valid while that key is.
    key_hash: str | None = None
    # The console: what the operator actions log shows of the key ("…abcd").
    key_fingerprint: str | None = None


@dataclass(frozen=True)
class ScopedToken:
    customer: CustomerRef
    expires_at: float


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class SessionKeys:
    """Signs with the first configured secret key's derived key, accepts any of them."""

    def __init__(self, signing_keys: Sequence[bytes]) -> None:
        self.signing_keys = tuple(signing_keys)

    @staticmethod
    @functools.lru_cache(maxsize=8)
    def from_secret_keys(secret_keys: tuple[str, ...]) -> SessionKeys:
        return SessionKeys([hmac.new(key.encode(), SESSION_LABEL, hashlib.sha256).digest()
                            for key in secret_keys])

    def sign(self, claims: dict[str, Any]) -> str:
        if not self.signing_keys:
            raise TokenInvalid("no secret key is configured to sign sessions with")
        return jwt.encode(claims, self.signing_keys[0], algorithm="HS256")

    def read(self, token: str, typ: str) -> dict[str, Any]:
        """The claims of a token of type ``typ`` signed by any of the keys, not expired."""
        for key in self.signing_keys:
            try:
                claims: dict[str, Any] = jwt.decode(token, key, algorithms=["HS256"],
                                                    options={"require": ["exp", "typ"]})
            except jwt.ExpiredSignatureError:
                raise TokenInvalid("expired") from None
            except jwt.InvalidTokenError:
                continue
            if claims.get("typ") != typ:
                raise TokenInvalid(f"not a {typ} token")
            return claims
        raise TokenInvalid("not signed by this installation")

    # Sessions ---------------------------------------------------------------------------

    def new_session(self, *, kind: str, subject: str, ttl_seconds: int,
                    key: str | None = None, key_fingerprint: str | None = None) -> Session:
        return Session(kind=kind, subject=subject, csrf=secrets.token_urlsafe(24),
                       expires_at=time.time() + ttl_seconds,
                       key_hash=key_hash(key) if key else None, key_fingerprint=key_fingerprint)

    def encode_session(self, session: Session) -> str:
        return self.sign({"typ": "session", "kind": session.kind, "sub": session.subject,
                          "csrf": session.csrf, "exp": int(session.expires_at),
                          "key": session.key_hash, "kfp": session.key_fingerprint})

    def decode_session(self, value: str, kind: str) -> Session:
        claims = self.read(value, "session")
        if claims.get("kind") != kind or not isinstance(claims.get("csrf"), str):
            raise TokenInvalid(f"not a {kind} session")
        return Session(kind=kind, subject=str(claims.get("sub")), csrf=claims["csrf"],
                       expires_at=float(claims["exp"]), key_hash=claims.get("key"),
                       key_fingerprint=claims.get("kfp"))

    # Scoped tokens ------------------------------------------------------------------------

    def scoped_token(self, customer: CustomerRef, *, ttl_seconds: int) -> ScopedToken:
        return ScopedToken(customer, time.time() + ttl_seconds)

    def encode_scoped(self, token: ScopedToken) -> str:
        return SCOPED_PREFIX + self.sign({"typ": "scoped", "ctype": token.customer.type.value,
                                          "cid": token.customer.customer_id,
                                          "exp": int(token.expires_at)})

    def read_scoped_token(self, value: str) -> ScopedToken:
        if not value.startswith(SCOPED_PREFIX):
            raise TokenInvalid("not a scoped token")
        claims = self.read(value[len(SCOPED_PREFIX):], "scoped")
        try:
            customer = CustomerRef(CustomerType(claims["ctype"]), str(claims["cid"]))
        except (KeyError, ValueError):
            raise TokenInvalid("names no customer") from None
        return ScopedToken(customer, float(claims["exp"]))


# Cookies --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CookieJar:
    """Where a kind of session keeps its cookie: name, path, and whether it is Secure
    (the public URL is https)."""

    name: str
    path: str
    secure: bool

    def read(self, request: Request) -> str | None:
        return request.cookies.get(self.name)

    def store(self, response: Response, value: str, *, max_age: int) -> None:
        response.set_cookie(self.name, value, max_age=max_age, path=self.path,
                            secure=self.secure, httponly=True, samesite="strict")

    def clear(self, response: Response) -> None:
        response.delete_cookie(self.name, path=self.path, secure=self.secure, httponly=True,
                               samesite="strict")


def set_flash(response: Response, keys: SessionKeys, jar: CookieJar, message: str,
              *, level: str = "ok") -> None:
    """A message for the page the browser is redirected to (shown once)."""
    flash = CookieJar(FLASH_COOKIE, jar.path, jar.secure)
    flash.store(response, keys.sign({"typ": "flash", "msg": message[:500], "lvl": level,
                                     "exp": int(time.time()) + FLASH_SECONDS}),
                max_age=FLASH_SECONDS)


def take_flash(request: Request, keys: SessionKeys) -> tuple[str, str] | None:
    """The flash message of this request, if any: ``(level, message)``. The caller clears
    the cookie (``clear_flash``) on the page that shows it."""
    value = request.cookies.get(FLASH_COOKIE)
    if not value:
        return None
    try:
        claims = keys.read(value, "flash")
    except TokenInvalid:
        return None
    return str(claims.get("lvl") or "ok"), str(claims.get("msg") or "")


def clear_flash(response: Response, jar: CookieJar) -> None:
    CookieJar(FLASH_COOKIE, jar.path, jar.secure).clear(response)
