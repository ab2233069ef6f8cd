"""Which checkout return URLs are allowed (``BILLGATE_ALLOWED_RETURN_URLS``).

An entry with a scheme (``https://app.example.com/billing``) is a prefix that must end on a
boundary, so ``https://app.example.com`` does not allow ``https://app.example.com.evil.io``.
An entry without a scheme (``app.example.com``) allows that host over https or http.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from billgate.billing.errors import ReturnUrlNotAllowed


def is_allowed(url: str, allowed: Iterable[str]) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    for entry in allowed:
        if "://" not in entry:
            if parts.hostname == entry.lower():
                return True
            continue
        if url == entry or (url.startswith(entry) and (
            entry.endswith("/") or url[len(entry)] in "/?#"
        )):
            return True
    return False


def check(url: str, allowed: Iterable[str], *, field: str = "returnUrl") -> str:
    """``url`` when allowed; ``RETURN_URL_NOT_ALLOWED`` on ``field`` otherwise (the same
    rule serves the checkout's ``cancelUrl``)."""
    if len(url) > 2000 or not is_allowed(url, allowed):
        raise ReturnUrlNotAllowed(
            f"{field} {url[:200]!r} is not allowed; add its prefix to BILLGATE_ALLOWED_RETURN_URLS",
            field=[field],
        )
    return url
