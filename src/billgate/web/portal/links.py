"""Portal links and portal sessions: who the portal is serving.

``createCustomerPortalUrl`` mints a link ``/portal/enter?token=...``: a token signed by this
installation (``web/sessions.SessionKeys``, derived from the secret keys, so every replica
reads it) naming one customer and the checked link back to the app, valid one hour (real
time, like every token). Opening it sets the portal session: a signed cookie ``bg_portal``
(HttpOnly, path ``/portal``, Secure on https) naming the same customer, with a CSRF token of
its own, valid one hour from then. Nothing is stored on the server.

An OPEN invoice's page and PDF link to ``/portal/pay/{invoice public id}``, which opens a
session of the same kind for the customer who owes it, limited to paying invoices and
updating the card (``PAY``): the invoice link is a bearer link that may be forwarded (to
an accounts team), so it must not also cancel or switch the customer's plans.

The cookie is ``SameSite=Lax``, not Strict like the console's: the portal is always entered
from the app, another site, and a Strict cookie set on that navigation is not sent on its
redirect to ``/portal``. Lax still keeps it off cross-site POSTs, and every POST must carry
the session's CSRF token besides (``web/csrf.py``).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from billgate.runtime import Runtime
from billgate.types import CustomerRef, CustomerType
from billgate.web.sessions import SessionKeys, TokenInvalid

LINK_SECONDS = 3600
SESSION_SECONDS = 3600
PATH = "/portal"
COOKIE = "bg_portal"
LINK_TYPE = "portal_link"
SESSION_TYPE = "portal"
# What a session may do: MANAGE (a link from ``createCustomerPortalUrl``: everything) or
# PAY (entered from an OPEN invoice's pay link: pay invoices and update the card only).
MANAGE, PAY = "manage", "pay"


@dataclass(frozen=True)
class PortalLink:
    url: str
    expires_at: float


@dataclass(frozen=True)
class PortalSession:
    customer: CustomerRef
    return_url: str
    csrf: str
    expires_at: float
    scope: str = MANAGE

    @property
    def manages(self) -> bool:
        return self.scope == MANAGE


def keys(runtime: Runtime) -> SessionKeys:
    return SessionKeys.from_secret_keys(tuple(runtime.secret_keys))


def mint(runtime: Runtime, customer: CustomerRef, return_url: str, *,
         ttl_seconds: int = LINK_SECONDS) -> PortalLink:
    """A link to the portal of ``customer`` (``return_url`` already checked)."""
    expires_at = int(time.time()) + ttl_seconds
    token = keys(runtime).sign({"typ": LINK_TYPE, "ctype": customer.type.value,
                                "cid": customer.customer_id, "ret": return_url,
                                "exp": expires_at, "jti": secrets.token_urlsafe(8)})
    query = urlencode({"token": token})
    return PortalLink(f"{runtime.settings.base_url}{PATH}/enter?{query}", expires_at)


def _customer(claims: dict[str, object]) -> CustomerRef:
    try:
        return CustomerRef(CustomerType(str(claims["ctype"])), str(claims["cid"]))
    except (KeyError, ValueError):
        raise TokenInvalid("names no customer") from None


def open_link(runtime: Runtime, token: str) -> PortalSession:
    """The session a valid link opens; ``TokenInvalid`` ("expired", or not ours)."""
    claims = keys(runtime).read(token, LINK_TYPE)
    return PortalSession(customer=_customer(claims), return_url=str(claims.get("ret") or ""),
                         csrf=secrets.token_urlsafe(24),
                         expires_at=time.time() + SESSION_SECONDS)


def open_for_invoice(customer: CustomerRef) -> PortalSession:
    """The session an OPEN invoice's pay link opens: the customer who owes it, PAY only
    (whoever holds an invoice link may pay it, not change the customer's plans), no link
    back (the invoice does not know the app)."""
    return PortalSession(customer=customer, return_url="", csrf=secrets.token_urlsafe(24),
                         expires_at=time.time() + SESSION_SECONDS, scope=PAY)


def _secure(runtime: Runtime) -> bool:
    return runtime.settings.base_url.lower().startswith("https://")


def store(runtime: Runtime, response: Response, session: PortalSession) -> None:
    value = keys(runtime).sign({"typ": SESSION_TYPE, "ctype": session.customer.type.value,
                                "cid": session.customer.customer_id, "ret": session.return_url,
                                "csrf": session.csrf, "exp": int(session.expires_at),
                                "scp": session.scope})
    response.set_cookie(COOKIE, value, max_age=SESSION_SECONDS, path=PATH,
                        secure=_secure(runtime), httponly=True, samesite="lax")


def session_of(runtime: Runtime, request: Request) -> PortalSession | None:
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    try:
        claims = keys(runtime).read(value, SESSION_TYPE)
        customer = _customer(claims)
    except TokenInvalid:
        return None
    csrf = claims.get("csrf")
    if not isinstance(csrf, str) or not csrf:
        return None
    scope = PAY if claims.get("scp") == PAY else MANAGE
    return PortalSession(customer=customer, return_url=str(claims.get("ret") or ""), csrf=csrf,
                         expires_at=float(claims["exp"]), scope=scope)
