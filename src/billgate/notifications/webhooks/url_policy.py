"""Which endpoint URLs billgate may call (server-side request forgery guard).

An endpoint URL is https, or http to a host the operator listed in
``BILLGATE_WEBHOOK_HTTP_HOSTS``. Every address its host resolves to must be globally
reachable per the IANA special-purpose registries (``special_addresses.py``: private,
loopback, link-local, carrier-grade NAT, benchmarking, reserved, and the IPv6 forms that
carry such an IPv4 address inside, 6to4, Teredo, NAT64, IPv4-mapped), so an attacker with
a secret key cannot reach the metadata service or the database through us, unless
``BILLGATE_WEBHOOK_ALLOW_PRIVATE=true``. Checked when an endpoint is created or changed
and again before every attempt, since DNS answers change; the attempt then connects to the
address that was checked (``pinned``), never to a second lookup's answer.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from billgate.errors import InvalidInput
from billgate.notifications.webhooks.special_addresses import refusal
from billgate.settings import Settings

MAX_URL = 2000


@dataclass(frozen=True)
class UrlPolicy:
    http_hosts: frozenset[str] = frozenset()
    allow_private: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlPolicy:
        """Which URLs this process may call (``BILLGATE_WEBHOOK_*``)."""
        return cls(http_hosts=frozenset(settings.webhook_http_hosts),
                   allow_private=settings.webhook_allow_private)


class UrlRefused(InvalidInput):
    """The URL breaks the policy; the message says which rule."""


def check_shape(url: str, policy: UrlPolicy) -> tuple[str, int]:
    """Scheme, host and credentials of ``url``; ``(host, port)`` when allowed."""
    if len(url) > MAX_URL:
        raise UrlRefused(f"url is longer than {MAX_URL} characters", field=["url"])
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not host:
        raise UrlRefused("url must be absolute (https://host/path)", field=["url"])
    if parts.username or parts.password:
        raise UrlRefused("url must not carry credentials", field=["url"])
    if scheme == "http" and host not in policy.http_hosts:
        raise UrlRefused(f"url must be https (http only to hosts in BILLGATE_WEBHOOK_HTTP_HOSTS; "
                         f"{host} is not)", field=["url"])
    if scheme not in ("http", "https"):
        raise UrlRefused("url must be https", field=["url"])
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise UrlRefused("url has an invalid port", field=["url"]) from None
    return host, port


async def resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True)
class Target:
    """What to connect to. ``url`` names a checked IP address when the lookup was pinned
    (then ``headers`` carry the original Host and ``extensions`` the TLS server name, so the
    certificate is still checked against the real host name): connecting to what we
    checked, rather than resolving again, closes the DNS-rebinding gap between the check
    and the request."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


def pinned(url: str, address: str) -> Target:
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    original = parts.netloc.rpartition("@")[2]
    return Target(urlunsplit(parts._replace(netloc=netloc)), headers={"host": original},
                  extensions={"sni_hostname": parts.hostname or ""})


async def check_url(url: str, policy: UrlPolicy) -> Target:
    """Raise ``UrlRefused`` unless ``url`` may be called now (shape, then DNS); else where
    to connect (pinned to a checked address unless private addresses are allowed)."""
    host, port = check_shape(url, policy)
    if policy.allow_private:
        return Target(url)
    try:
        addresses = await resolve(host, port)
    except OSError as exc:
        raise UrlRefused(f"url host {host} does not resolve: {exc}", field=["url"]) from None
    if not addresses:
        raise UrlRefused(f"url host {host} resolves to no address", field=["url"])
    refused = [why for why in map(refusal, addresses) if why]
    if refused:
        raise UrlRefused(f"url host {host} resolves to an address that is not globally "
                         f"reachable: {'; '.join(refused[:3])}; set "
                         "BILLGATE_WEBHOOK_ALLOW_PRIVATE=true to allow private addresses",
                         field=["url"])
    if host == addresses[0].lower() or host.strip("[]") == addresses[0]:
        return Target(url)  # an IP literal: nothing to pin
    return pinned(url, addresses[0])
