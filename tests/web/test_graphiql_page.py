"""The GraphiQL page and its packaged assets, through the ASGI app: nothing refers to a
CDN, every script and stylesheet the page loads is served by billgate, and the packaged
files are the pinned npm releases (``scripts/refresh_browser_assets.py --check``)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


async def test_the_page_loads_only_packaged_assets(api) -> None:  # noqa: ANN001
    client = api.client
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "unpkg.com" not in page.text and "https://" not in page.text
    assets = re.findall(r'(?:src|href)="(graphiql/[^"]+)"', page.text)
    assert len(assets) == 6
    for asset in assets:
        response = await client.get(f"/{asset}")
        assert response.status_code == 200, asset
        assert response.headers["content-type"].startswith(("text/javascript", "application/javascript",
                                                             "text/css")), asset


async def test_licences_ship_beside_the_assets(api) -> None:  # noqa: ANN001
    for name in ("graphiql", "react", "react-dom"):
        response = await api.client.get(f"/graphiql/LICENSE.{name}")
        assert response.status_code == 200 and "MIT License" in response.text


def test_packaged_files_are_the_pinned_releases() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "refresh_browser_assets.py"),
                             "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
