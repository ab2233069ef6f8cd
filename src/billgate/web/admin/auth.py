"""Signing in and out of the console.

``GET /admin/sign-in`` shows a field **Secret key** and a button **Sign in**. A configured
secret key opens an 8-hour session (cookie ``bg_console``: HttpOnly, SameSite=Strict,
Secure when the public URL is https) and leads to the page asked for (``next``, a console
path) or ``/admin``. A wrong key shows the form again with 401; the 11th failure within a
minute from one address, and every attempt after it until the minute has passed, is 429.

The sign-in form has a CSRF token too, before there is a session: a random value in a
short-lived cookie of its own and in the form, which must agree (a cross-site form cannot
read the cookie, and SameSite=Strict keeps it from being sent).
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from billgate.billing import operator_actions
from billgate.web import csrf
from billgate.web.admin import templating
from billgate.web.admin.console import (
    KIND,
    PATH,
    SESSION_SECONDS,
    Console,
    Ctx,
    forbidden,
    headers,
    safe_next,
)
from billgate.web.sessions import CookieJar

PRE_COOKIE = "bg_console_signin"
WRONG_KEY = "That is not a secret key of this billgate. Check BILLGATE_SECRET_KEYS."
THROTTLED = "Too many failed sign-ins from your address. Wait a minute, then try again."


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _page(console: Console, *, next_path: str, status: int = 200, error: str | None = None,
          retry_after: float | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    html = templating.render("admin/sign_in.html", next_path=next_path, error=error,
                             csrf_token=token)
    response = HTMLResponse(html, status_code=status, headers=headers())
    if retry_after is not None:
        response.headers["Retry-After"] = str(int(retry_after + 0.999))
    jar = CookieJar(PRE_COOKIE, PATH, console.jar().secure)
    jar.store(response, token, max_age=3600)
    return response


async def show(console: Console, request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next", PATH))
    if console.session_of(request) is not None:
        return RedirectResponse(next_path, status_code=303)
    return _page(console, next_path=next_path)


async def sign_in(console: Console, request: Request) -> Response:
    form = await request.form()
    expected = request.cookies.get(PRE_COOKIE, "")
    given = form.get(csrf.FIELD)
    if not expected or not isinstance(given, str) or not hmac.compare_digest(
            given.encode(), expected.encode()):
        return forbidden()
    next_path = safe_next(str(form.get("next") or PATH))
    address = _client(request)
    wait = console.throttle.blocked(address)
    if wait is not None:
        return _page(console, next_path=next_path, status=429, error=THROTTLED, retry_after=wait)
    typed = form.get("secret_key")
    key = console.matching_key(typed.strip()) if isinstance(typed, str) and typed.strip() else None
    if key is None:
        console.throttle.failed(address)
        return _page(console, next_path=next_path, status=401, error=WRONG_KEY)
    fingerprint = operator_actions.key_fingerprint(key)
    session = console.keys().new_session(kind=KIND, subject=fingerprint, key=key,
                                         key_fingerprint=fingerprint, ttl_seconds=SESSION_SECONDS)
    runtime = console.get_runtime()
    await operator_actions.record(runtime.db, operator_actions.ActionRecord(
        key_fingerprint=fingerprint, action="signIn", target=None, outcome=operator_actions.OK,
        via=operator_actions.CONSOLE, at=runtime.clock.now(), detail=f"from {address}"))
    response = RedirectResponse(next_path, status_code=303)
    console.jar().store(response, console.keys().encode_session(session), max_age=SESSION_SECONDS)
    CookieJar(PRE_COOKIE, PATH, console.jar().secure).clear(response)
    return response


async def sign_out(ctx: Ctx) -> Response:
    await operator_actions.record(ctx.runtime.db, operator_actions.ActionRecord(
        key_fingerprint=ctx.key_fingerprint, action="signOut", target=None,
        outcome=operator_actions.OK, via=operator_actions.CONSOLE, at=ctx.runtime.clock.now()))
    response = RedirectResponse(f"{PATH}/sign-in", status_code=303)
    ctx.console.jar().clear(response)
    return response
