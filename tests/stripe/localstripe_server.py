"""Runs localstripe's aiohttp app on 127.0.0.1 only, with persistence off.

Its stock CLI listens on every interface and pickles its store to a fixed file after each
write; the tests start this launcher instead: ``python localstripe_server.py PORT``.
"""

from __future__ import annotations

import sys

from aiohttp import web
from localstripe import server
from localstripe.resources import store


def main() -> None:
    port = int(sys.argv[1])
    store.dump_to_disk = lambda: None  # type: ignore[method-assign]  # no pickle file
    web.run_app(server.app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
