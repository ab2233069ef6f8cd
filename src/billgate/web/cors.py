"""CORS for ``/graphql``: pages on the origins of ``BILLGATE_ALLOWED_ORIGINS`` may call it.

Allowed origins go through Starlette's ``CORSMiddleware`` (preflight answered, the
``Authorization`` and ``Content-Type`` headers allowed, no credentials: billgate callers
authenticate with a bearer token, never a cookie). Any other cross-origin request is
refused with 403 and a message that names the setting to change, and the server log says
the same once per origin, so a developer whose page is refused learns why from either side.

Same-origin requests (GraphiQL served by billgate) and requests without ``Origin``
(servers, curl) are not CORS and pass untouched.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse, Response
from strawberry.http.websocket_origin import is_same_origin

from billgate.web.origins import OriginPolicy, refusal

log = logging.getLogger("billgate.cors")
PATH = "/graphql"
ALLOWED_HEADERS = ["Authorization", "Content-Type"]
_LOGGED_LIMIT = 1000  # refused origins remembered for logging once each


class GraphQLCors:
    def __init__(self, app: Any, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy
        # The origin was checked against the policy before this runs, so the middleware
        # may echo any origin; it adds ``Vary: Origin`` and answers preflights.
        self.cors = CORSMiddleware(app, allow_origin_regex=r".*", allow_methods=["GET", "POST"],
                                   allow_headers=ALLOWED_HEADERS, allow_credentials=False,
                                   max_age=600)
        self._logged: set[str] = set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin-1")
        if not origin or _same_origin(headers, origin):
            await self.app(scope, receive, send)
        elif self.policy.allows(origin):
            await self.cors(scope, receive, send)
        else:
            await self._refuse(origin, scope, receive, send)

    async def _refuse(self, origin: str, scope: Any, receive: Any, send: Any) -> None:
        message = refusal(origin)
        if origin not in self._logged and len(self._logged) < _LOGGED_LIMIT:
            self._logged.add(origin)
            log.warning("refused a cross-origin request: %s", message)
        response: Response
        if scope["method"] == "OPTIONS":
            response = PlainTextResponse(message, status_code=403)
        else:
            body = {"errors": [{"message": message, "extensions": {"code": "FORBIDDEN"}}]}
            response = Response(orjson.dumps(body), status_code=403, media_type="application/json")
        await response(scope, receive, send)


def _same_origin(headers: dict[bytes, bytes], origin: str) -> bool:
    if headers.get(b"sec-fetch-site") == b"same-origin":
        return True
    host = headers.get(b"host")
    return is_same_origin(origin, host.decode("latin-1") if host else None)
