#!/usr/bin/env python3
"""Refresh the JavaScript billgate ships for browsers, from the npm registry.

* GraphiQL (``/graphql`` in a browser) and React, served by billgate itself from
  ``src/billgate/graphql/ide/assets/`` so the page loads with no request leaving the server.
  GraphiQL's bundle includes the ``graphql-ws`` client it subscribes with.
* The ``graphql-ws`` client (ES modules, no build step) of the operator console's live
  balances, served by billgate from ``src/billgate/web/admin/static/vendor/graphql-ws/``.

(``examples/frontend/vendor/`` holds @billgate/client's browser bundle, built from
``clients/typescript`` with its locked graphql-ws: ``make generate-clients`` refreshes it.)

Versions are pinned below: change a pin, run ``python scripts/refresh_browser_assets.py``,
check GraphiQL in a browser (and ``pytest tests/web/test_graphiql_offline.py``), commit the
files and ``assets.json`` (versions, tarball integrity and SHA-256 of each file). Needs
``npm`` (it downloads and checks each tarball against the registry's integrity) and network.
``--check`` verifies the committed files against ``assets.json`` without any network.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IDE_ASSETS = ROOT / "src" / "billgate" / "graphql" / "ide" / "assets"
CONSOLE_VENDOR = ROOT / "src" / "billgate" / "web" / "admin" / "static" / "vendor" / "graphql-ws"

# package -> (version, {file in the package: file written}, destination folder)
PINS: dict[str, tuple[str, dict[str, str], Path]] = {
    "react": ("18.3.1", {"umd/react.production.min.js": "react.production.min.js",
                         "LICENSE": "LICENSE.react"}, IDE_ASSETS),
    "react-dom": ("18.3.1", {"umd/react-dom.production.min.js": "react-dom.production.min.js",
                             "LICENSE": "LICENSE.react-dom"}, IDE_ASSETS),
    "graphiql": ("3.8.3", {"graphiql.min.js": "graphiql.min.js",
                           "graphiql.min.css": "graphiql.min.css",
                           "LICENSE": "LICENSE.graphiql"}, IDE_ASSETS),
    # ``dist/client.js`` imports one shared chunk whose hashed name changes between
    # releases: it is found from the import line (see ``_with_chunks``).
    "graphql-ws": ("6.0.6", {"dist/client.js": "client.js", "LICENSE.md": "LICENSE.md"},
                   CONSOLE_VENDOR),
}


def _pack(name: str, version: str, folder: Path) -> tuple[Path, dict[str, str]]:
    """``npm pack`` the exact version (npm checks the tarball's integrity)."""
    out = subprocess.run(["npm", "pack", f"{name}@{version}", "--json", "--pack-destination",
                          str(folder)], check=True, capture_output=True, text=True).stdout
    info = json.loads(out)[0]
    return folder / info["filename"], {"version": info["version"], "integrity": info["integrity"]}


def _with_chunks(files: dict[str, str], tar: tarfile.TarFile) -> dict[str, str]:
    """Add the relative modules an ES module imports (``./common-XXXX.js``), one level."""
    found = dict(files)
    for source in files:
        if not source.endswith(".js"):
            continue
        text = _read(tar, source).decode()
        for line in text.splitlines():
            if line.startswith(("import ", "export ")) and " from './" in line:
                chunk = line.split(" from './", 1)[1].split("'", 1)[0]
                found[str(Path(source).parent / chunk)] = chunk
    return found


def _read(tar: tarfile.TarFile, path: str) -> bytes:
    member = tar.extractfile(f"package/{path}")
    if member is None:
        raise SystemExit(f"{path} is missing from the package")
    return member.read()


def refresh() -> None:
    manifests: dict[Path, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (version, files, dest) in PINS.items():
            tarball, info = _pack(name, version, Path(tmp))
            dest.mkdir(parents=True, exist_ok=True)
            for stale in dest.glob("common-*.js"):  # an old hashed chunk
                stale.unlink()
            written = {}
            with tarfile.open(tarball) as tar:
                for source, target in _with_chunks(files, tar).items():
                    data = _read(tar, source)
                    (dest / target).write_bytes(data)
                    written[target] = hashlib.sha256(data).hexdigest()
            manifests.setdefault(dest, {})[name] = {**info, "files": written}
            print(f"{name}@{version} -> {dest.relative_to(ROOT)}: {', '.join(written)}")
    for dest, manifest in manifests.items():
        (dest / "assets.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def check() -> int:
    bad = 0
    for dest in {pin[2] for pin in PINS.values()}:
        manifest = json.loads((dest / "assets.json").read_text())
        for name, entry in manifest.items():
            for target, digest in entry["files"].items():
                path = dest / target
                if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                    print(f"{path.relative_to(ROOT)} differs from {name}@{entry['version']}")
                    bad += 1
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify files, no network")
    if parser.parse_args().check:
        return check()
    refresh()
    return 0


if __name__ == "__main__":
    sys.exit(main())
