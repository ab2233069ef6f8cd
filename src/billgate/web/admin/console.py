"""The console's request handling: who is signed in, what a page may show, what a POST
must carry, and how pages are rendered.

- A page (``Console.page``) needs a console session; without a valid one the browser goes
  to ``/admin/sign-in?next=<the page>`` and, once signed in, back to the page.
- An action (``Console.action``) is a POST: a stale session goes to sign-in (and back to
  the action's page), a missing or wrong CSRF token is 403 and nothing is read further.
- Every page is rendered from a template with the console's strict CSP: its one inline
  stylesheet by hash, scripts only from this server (the vendored live-balance module),
  nothing inline, forms only to this server.

Requests with an ``Authorization`` header are treated like any other browser request: a
secret key or a customer token in a header never opens the console; only a session does.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from billgate.runtime import Runtime
from billgate.web import csrf, pages
from billgate.web.admin import templating
from billgate.web.sessions import (
    CookieJar,
    Session,
    SessionKeys,
    TokenInvalid,
    clear_flash,
    key_hash,
    set_flash,
    take_flash,
)
from billgate.web.throttle import FailureThrottle

KIND = "console"
COOKIE = "bg_console"
PATH = "/admin"
SESSION_SECONDS = 8 * 3600
SCRIPT_SRC = "'self'"

Handler = Callable[["Ctx"], Awaitable[Response]]
ActionHandler = Callable[["Ctx", FormData], Awaitable[Response]]


@dataclass
class Ctx:
    """One signed-in request: what every console handler is given."""

    request: Request
    runtime: Runtime
    session: Session
    console: Console
    flash: tuple[str, str] | None = None

    @property
    def key_fingerprint(self) -> str:
        return self.session.key_fingerprint or "…"

    def render(self, template: str, *, status: int = 200, **context: Any) -> Response:
        return self.console.render(self, template, status=status, **context)

    def redirect(self, path: str, *, flash: str | None = None, level: str = "ok") -> Response:
        response = RedirectResponse(path, status_code=303)
        if flash:
            set_flash(response, self.console.keys(), self.console.jar(), flash, level=level)
        return response


class Console:
    def __init__(self, get_runtime: Callable[[], Runtime]) -> None:
        self.get_runtime = get_runtime
        self.throttle = FailureThrottle(limit=10, window=60.0)

    # Sessions --------------------------------------------------------------------------

    def keys(self) -> SessionKeys:
        return SessionKeys.from_secret_keys(tuple(self.get_runtime().secret_keys))

    def jar(self) -> CookieJar:
        secure = self.get_runtime().settings.base_url.lower().startswith("https://")
        return CookieJar(COOKIE, PATH, secure)

    def matching_key(self, typed: str) -> str | None:
        """The configured secret key ``typed`` is, compared in constant time."""
        found = None
        for key in self.get_runtime().secret_keys:
            if hmac.compare_digest(typed.encode(), key.encode()):
                found = key
        return found

    def session_of(self, request: Request) -> Session | None:
        """The request's console session, if its cookie is valid and its key still configured."""
        value = self.jar().read(request)
        if not value:
            return None
        try:
            session = self.keys().decode_session(value, KIND)
        except TokenInvalid:
            return None
        configured = {key_hash(k) for k in self.get_runtime().secret_keys}
        return session if session.key_hash in configured else None

    # Handlers --------------------------------------------------------------------------

    def page(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session = self.session_of(request)
            if session is None:
                return to_sign_in(request.url.path, request.url.query)
            return await handler(Ctx(request, self.get_runtime(), session, self,
                                     flash=take_flash(request, self.keys())))
        return endpoint

    def action(self, handler: ActionHandler, *,
               back: Callable[[FormData], str] | None = None) -> Callable[[Request], Awaitable[Response]]:
        """A POST. ``back(form)``: the page a stale session returns to after signing in
        (default: the page the form came from, as its ``back`` field says, or /admin)."""
        async def endpoint(request: Request) -> Response:
            form = await request.form()
            session = self.session_of(request)
            if session is None:
                page = back(form) if back else safe_next(str(form.get("back") or ""))
                return to_sign_in(page, "")
            if not csrf.valid(form, session.csrf):
                return forbidden()
            return await handler(Ctx(request, self.get_runtime(), session, self), form)
        return endpoint

    # Rendering -------------------------------------------------------------------------

    def render(self, ctx: Ctx, template: str, *, status: int = 200, **context: Any) -> Response:
        test_mode = context.pop("test_mode", None)
        html = templating.render(template, csrf_token=ctx.session.csrf, flash=ctx.flash,
                                 key_fingerprint=ctx.key_fingerprint, test_mode=test_mode,
                                 path=ctx.request.url.path, **context)
        response = HTMLResponse(html, status_code=status, headers=headers())
        if ctx.flash is not None:
            clear_flash(response, self.jar())
        return response


def headers() -> dict[str, str]:
    return pages.security_headers(style=templating.STYLE, script_src=SCRIPT_SRC)


def to_sign_in(path: str, query: str) -> Response:
    """To the sign-in page, and back to ``path`` afterwards."""
    target = path + (f"?{query}" if query else "")
    if target in ("", PATH, PATH + "/"):
        return RedirectResponse(f"{PATH}/sign-in", status_code=303)
    return RedirectResponse(f"{PATH}/sign-in?{urlencode({'next': target})}", status_code=303)


def safe_next(value: str) -> str:
    """Only a path of the console itself: never another site (``//evil``, ``https:``)."""
    if value.startswith(PATH) and not value.startswith("//") and "\\" not in value \
            and all(ord(c) > 31 for c in value):
        return value
    return PATH



def forbidden() -> Response:
    html = templating.render("admin/forbidden.html", csrf_token="", flash=None,
                             key_fingerprint="", test_mode=None, path="")
    return HTMLResponse(html, status_code=403, headers=headers())


def customer_path(type_: str, customer_id: str) -> str:
    return f"{PATH}/customers/{type_}/{quote(customer_id, safe='')}"
