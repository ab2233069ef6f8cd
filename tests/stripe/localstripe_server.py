"""Runs localstripe's aiohttp app on 127.0.0.1 only, with persistence off.

Its stock CLI listens on every interface and pickles its store to a fixed file after each
write; the tests start this launcher instead: ``python localstripe_server.py PORT``.
"""

from __future__ import annotations

import sys

from aiohttp import web
from localstripe import server
from localstripe.resources import store

# TEST-ONLY ROUTE, not localstripe's: localstripe 1.15.10 has no ``GET /v1/account`` (the
# account of the secret key). It answers here with a fixed test account, in Stripe's shape,
# and counts its calls, so tests can check billgate reads it once and shows its id.
TEST_ACCOUNT_ID = "acct_localstripe_test"
account_reads = {"count": 0}


async def _account(request: web.Request) -> web.Response:
    account_reads["count"] += 1
    return web.json_response({"id": TEST_ACCOUNT_ID, "object": "account", "country": "US",
                              "charges_enabled": True, "reads": account_reads["count"]})


def main() -> None:
    port = int(sys.argv[1])
    store.dump_to_disk = lambda: None  # type: ignore[method-assign]  # no pickle file
    server.app.router.add_get("/v1/account", _account)
    web.run_app(server.app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
