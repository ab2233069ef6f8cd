"""Which links back to the app billgate accepts (``BILLGATE_ALLOWED_RETURN_URLS``): a
checkout's ``returnUrl`` and ``cancelUrl``, and every link to the app a page will render.

A URL is read as browsers read it (the WHATWG URL standard, through ``ada-url``, the parser
Node.js uses), so what is checked is where a browser would go. Anything a browser would
quietly rewrite is refused as ambiguous rather than guessed at: tabs and newlines (browsers
drop them), backslashes (browsers read ``\\`` as ``/`` in http URLs: the issue's
``http://evil.com\\@localhost/x`` goes to evil.com), spaces and control characters, user
info (``user@``), and a host not written as browsers show it (percent-encoded, Unicode,
``0x7f.1``). An accepted URL is kept and rendered in its serialised form.

Allowed-list entries, exactly:

* ``https://app.example.com``: that scheme and host, the scheme's default port only, any
  path. ``https://app.example.com:8443`` names port 8443; ``http://localhost:*`` any port.
* ``https://app.example.com/billing``: as above, and the path must be ``/billing`` or go
  on below it at a ``/`` (``/billing/done``, not ``/billing-old``); ``/billing/`` is the
  same with the boundary written. Query and fragment are free.
* ``localhost`` (no scheme, as ``make run`` sets it): http or https, any port, any path on
  that host; ``localhost:3000`` pins the port.

Hosts are compared exactly (no subdomain wildcards); IPv6 literals are written in brackets.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ada_url import URL

from billgate.errors import ReturnUrlNotAllowed

MAX_LENGTH = 2000
ANY_PORT = -1
DEFAULT_PORT = {"http": 80, "https": 443}
# Characters a browser drops or rewrites before reading a URL, and spaces.
_AMBIGUOUS = re.compile(r"[\x00-\x20\x7f\\]")


class EntryError(ValueError):
    """An allowed-list entry billgate cannot read; the message says how to write it."""


@dataclass(frozen=True)
class Entry:
    schemes: frozenset[str]
    host: str
    port: int | None  # None: the scheme's default port; ANY_PORT: any
    path: str  # "" or a prefix ending on a "/" boundary

    def allows(self, scheme: str, host: str, port: int | None, path: str) -> bool:
        if scheme not in self.schemes or host != self.host:
            return False
        if self.port != ANY_PORT and port != self.port:
            return False
        prefix = self.path.rstrip("/")
        return not prefix or path == prefix or path.startswith(prefix + "/")


@functools.lru_cache(maxsize=256)
def parse_entry(text: str) -> Entry:
    """One ``BILLGATE_ALLOWED_RETURN_URLS`` entry (see the module for the forms)."""
    raw = text.strip()
    bare = "://" not in raw
    written = f"http://{raw}" if bare else raw
    any_port = re.search(r"^[a-z]+://[^/?#]*:\*(?=$|/)", written, re.IGNORECASE) is not None
    if any_port:
        written = written.replace(":*", "", 1)
    try:
        url = _read(written)
    except ValueError as exc:
        raise EntryError(f"{text!r}: {exc}; write https://host, https://host/path, "
                         "http://localhost:* or a bare host such as localhost") from None
    if url.search or url.hash:
        raise EntryError(f"{text!r}: an entry has no query or fragment")
    if bare and url.pathname != "/":
        raise EntryError(f"{text!r}: an entry without a scheme is a host; "
                         "write https://host/path for a path")
    port = ANY_PORT if any_port or (bare and not url.port) else _port(url)
    return Entry(schemes=frozenset({"http", "https"}) if bare else frozenset({_scheme(url)}),
                 host=url.hostname, port=port,
                 path="" if url.pathname == "/" else url.pathname)


def _read(text: str) -> URL:
    """``text`` parsed as a browser would, refusing whatever a browser would rewrite."""
    if len(text) > MAX_LENGTH:
        raise ValueError(f"longer than {MAX_LENGTH} characters")
    bad = _AMBIGUOUS.search(text)
    if bad:
        raise ValueError(f"it holds {_named(bad.group())}, which browsers read differently")
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in DEFAULT_PORT:
        raise ValueError("it must start with http:// or https://")
    try:
        url = URL(text)
    except ValueError:
        raise ValueError("it is not a URL") from None
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority or url.username or url.password:
        raise ValueError("it carries user info (user@host), which can hide the real host")
    written = authority.lower()
    shown = url.host.lower()
    default = f"{url.hostname}:{DEFAULT_PORT[_scheme(url)]}"
    if written not in (shown, default):
        raise ValueError(f"its host is not written as browsers show it ({url.host})")
    return url


def _named(char: str) -> str:
    names = {"\\": "a backslash", "\t": "a tab", "\n": "a newline", "\r": "a carriage return",
             " ": "a space"}
    return names.get(char, f"the control character {char!r}")


def _scheme(url: URL) -> str:
    return url.protocol.rstrip(":")


def _port(url: URL) -> int | None:
    return int(url.port) if url.port else None


def is_allowed(url: str, allowed: Iterable[str]) -> bool:
    try:
        return _allowed(url, allowed) is not None
    except (ValueError, ReturnUrlNotAllowed):
        return False


def _allowed(url: str, allowed: Iterable[str]) -> str | None:
    read = _read(url)
    scheme, port = _scheme(read), _port(read)
    for text in allowed:
        if parse_entry(text).allows(scheme, read.hostname, port, read.pathname):
            return read.href
    return None


def check(url: str, allowed: Iterable[str], *, field: str = "returnUrl") -> str:
    """``url`` as browsers will read it (its serialised form) when it is allowed;
    ``RETURN_URL_NOT_ALLOWED`` on ``field`` otherwise, saying why. The one rule for every
    link back to the app: ``returnUrl``, ``cancelUrl``, and any future one."""
    try:
        href = _allowed(url, allowed)
    except ValueError as exc:
        raise ReturnUrlNotAllowed(f"{field} {url[:200]!r} is refused: {exc}",
                                  field=[field]) from None
    if href is None:
        raise ReturnUrlNotAllowed(
            f"{field} {url[:200]!r} is not allowed; add its scheme and host (and port, or :*) "
            "to BILLGATE_ALLOWED_RETURN_URLS", field=[field])
    return href


def link(url: str | None, allowed: Iterable[str]) -> str | None:
    """``url`` for a page to render or redirect to, when it is still allowed; None for a
    link stored before this rule (or before the list changed) that is not."""
    if url is None:
        return None
    try:
        return _allowed(url, allowed)
    except ValueError:
        return None
