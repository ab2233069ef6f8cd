"""Which browser origins may call ``/graphql`` from another origin (``BILLGATE_ALLOWED_ORIGINS``).

One list serves both doors a page can knock on: CORS for HTTP (``web/cors.py``) and the
``Origin`` check of the WebSocket handshake (``graphql/view.py``), so an origin allowed for
queries is allowed for live updates too, and no other.

Entries are origins as browsers send them (``https://app.example.com``,
``http://localhost:3000``), ``*`` for any origin, or an origin whose port is ``*``
(``http://localhost:*``: any port on that host, what a development server needs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

SETTING = "BILLGATE_ALLOWED_ORIGINS"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST = re.compile(r"[a-z0-9.\-]+|\[[0-9a-f:.]+\]")


def normalize(origin: str) -> str | None:
    """``origin`` as a browser sends it (lowercase, no default port), or None when it is
    not an origin (``null``, a URL with a path, garbage)."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username \
            or parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if not _HOST.fullmatch(host):
        return None
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


@dataclass(frozen=True)
class OriginPolicy:
    """A parsed ``BILLGATE_ALLOWED_ORIGINS``: exact origins, hosts on any port, or any."""

    exact: frozenset[str] = frozenset()
    any_port: frozenset[str] = frozenset()  # "scheme://host" allowed with any port
    any_origin: bool = False

    @classmethod
    def parse(cls, entries: Iterable[str]) -> OriginPolicy:
        """Raises ``ValueError`` naming the setting for an entry that is not an origin, so a
        typo fails at start-up rather than refusing every browser in silence."""
        exact: set[str] = set()
        any_port: set[str] = set()
        any_origin = False
        for entry in entries:
            if entry == "*":
                any_origin = True
            elif entry.endswith(":*") and (base := normalize(entry[:-2])) is not None \
                    and not _has_port(base):
                any_port.add(base)
            elif (origin := normalize(entry)) is not None:
                exact.add(origin)
            else:
                raise ValueError(f"{SETTING}: {entry!r} is not an origin; expected '*', "
                                 "'https://app.example.com' or 'http://localhost:*' (no path)")
        return cls(frozenset(exact), frozenset(any_port), any_origin)

    @property
    def empty(self) -> bool:
        return not (self.exact or self.any_port or self.any_origin)

    def allows(self, origin: str) -> bool:
        if self.any_origin:
            return True
        normalized = normalize(origin)
        if normalized is None:
            return False
        if normalized in self.exact:
            return True
        without_port = normalized.rsplit(":", 1)[0] if _has_port(normalized) else normalized
        return without_port in self.any_port


def _has_port(origin: str) -> bool:
    return not origin.endswith("]") and origin.count(":") > 1


def refusal(origin: str) -> str:
    """What a refused page (and the server log) is told: the setting to change."""
    return (f"origin {origin!r} may not call billgate from a browser; add it to {SETTING} "
            "(comma-separated, e.g. https://app.example.com or http://localhost:*)")
