"""GraphiQL at ``/graphql`` in a browser, served entirely by billgate.

Strawberry's page loads React and GraphiQL from a CDN and stays blank without internet.
Ours (``ide/graphiql.html``) loads the same libraries from ``/graphiql/``, packaged with
billgate at pinned versions with their licences (``ide/assets/``, refreshed from npm by
``scripts/refresh_browser_assets.py``). The page's Content-Security-Policy allows nothing
but this server, so a forgotten CDN reference would fail loudly rather than phone out.
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

HERE = Path(__file__).parent / "ide"
ASSETS = HERE / "assets"
PAGE = (HERE / "graphiql.html").read_text(encoding="utf-8")
# GraphiQL's editors set inline style attributes, hence 'unsafe-inline' for styles only.
POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
          "img-src 'self' data:; font-src 'self' data:; connect-src 'self' ws: wss:; "
          "base-uri 'none'; frame-ancestors 'none'; form-action 'none'")


def page(*, development_key: bool = False) -> HTMLResponse:
    """The page. ``development_key``: this server runs in test mode with the key it
    generated, so the editor says where that key was printed and where to paste it (the
    key itself is never put in the page)."""
    html = PAGE.replace('<div id="graphiql">',
                        f'<div id="graphiql" data-development-key="{str(development_key).lower()}">')
    return HTMLResponse(html, headers={"Content-Security-Policy": POLICY,
                                       "X-Frame-Options": "DENY",
                                       "Referrer-Policy": "no-referrer"})


def asset_routes() -> list[Mount]:
    """``/graphiql/<file>``: the packaged scripts and styles the page loads."""
    return [Mount("/graphiql", StaticFiles(directory=ASSETS), name="graphiql")]
