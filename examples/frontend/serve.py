#!/usr/bin/env python3
"""Serve the example app, and play the part of your backend: ``GET /session`` answers with
billgate's GraphQL URL and a customer token for the signed-in user (here always
``demo-user``). The page asks again whenever its token expires.

    BILLGATE_CUSTOMER_TOKEN_SECRET=... python examples/frontend/serve.py [--port 3000]
        [--billgate http://127.0.0.1:8000] [--user demo-user] [--token-ttl 600]

Standard library only, so the token minting below is what any backend does: an HS256 JWT
with ``sub`` (the user), ``teams`` and ``exp``, signed with the shared secret.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import hmac
import json
import os
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).parent


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def customer_token(secret: str, user_id: str, *, teams: dict[str, str] | None = None,
                   ttl_seconds: int = 3600) -> str:
    now = int(time.time())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = _b64(json.dumps({"sub": user_id, "teams": teams or {}, "iat": now,
                              "exp": now + ttl_seconds}).encode())
    signature = hmac.new(secret.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{_b64(signature)}"


class Handler(SimpleHTTPRequestHandler):
    billgate_url = "http://127.0.0.1:8000"
    user_id = "demo-user"
    secret = ""
    token_ttl = 600

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.split("?")[0] != "/session":
            super().do_GET()
            return
        # A real backend checks its own sign-in first, then names that user.
        body = json.dumps({"billgateUrl": f"{self.billgate_url}/graphql", "userId": self.user_id,
                           "token": customer_token(self.secret, self.user_id,
                                                   ttl_seconds=self.token_ttl)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--billgate", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="demo-user")
    parser.add_argument("--token-ttl", type=int, default=600,
                        help="seconds each customer token lives (the page fetches a new one)")
    args = parser.parse_args()
    secret = os.environ.get("BILLGATE_CUSTOMER_TOKEN_SECRET",
                            "dev-only-customer-token-secret-change-me")  # `make run`'s default
    Handler.billgate_url, Handler.user_id, Handler.secret = args.billgate.rstrip("/"), args.user, secret
    Handler.token_ttl = args.token_ttl
    server = ThreadingHTTPServer((args.host, args.port),
                                 functools.partial(Handler, directory=str(HERE)))
    print(f"example app at http://{args.host}:{server.server_address[1]}/ (billgate: {args.billgate})",
          flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
