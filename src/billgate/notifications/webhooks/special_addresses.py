"""Which IP addresses are globally reachable: the IANA special-purpose address registries
(IPv4 and IPv6, rows as of 2025), written out as data.

Each row is (prefix, name, RFC, globally reachable): ``True``, ``False`` or ``None`` where
the registry says N/A (6to4, Teredo). The rule applied (``refusal``):

* The most specific row containing the address decides, as the registry's footnotes say
  (``192.0.0.0/24`` is not reachable "unless by virtue of a more specific reservation").
* ``False``: refused. ``None`` (N/A): refused unless the row embeds IPv4 addresses (6to4,
  Teredo) and each of them passes.
* Rows that embed an IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo) have it checked too,
  even when the row itself is reachable: ``64:ff9b::7f00:1`` is 127.0.0.1 behind NAT64.
* IPv4 multicast (224.0.0.0/4, the IPv4 multicast registry) is never a receiver.
* IPv6 outside ``2000::/3`` (the only range IANA allocates as global unicast) is refused
  unless a row above says otherwise: that covers IPv4-compatible ``::a.b.c.d``, site-local
  ``fec0::/10`` and multicast ``ff00::/8`` (none of which is a special-purpose row).

Python's ``ipaddress.is_global`` is not used: on 3.11 it calls 100.64.0.0/10 global and
knows nothing of the embedded forms.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Row:
    prefix: Network
    name: str
    rfc: str
    reachable: bool | None
    # The IPv4 addresses this form carries inside (the address actually reached).
    embedded: Callable[[ipaddress.IPv6Address], list[ipaddress.IPv4Address]] | None = None


def _rows(table: list[tuple[str, str, str, bool | None]]) -> list[Row]:
    return [Row(ipaddress.ip_network(prefix), name, rfc, reachable)
            for prefix, name, rfc, reachable in table]


# https://www.iana.org/assignments/iana-ipv4-special-registry
IPV4 = _rows([
    ("0.0.0.0/8", '"This network"', "RFC 791", False),
    ("0.0.0.0/32", '"This host on this network"', "RFC 1122", False),
    ("10.0.0.0/8", "Private-Use", "RFC 1918", False),
    ("100.64.0.0/10", "Shared Address Space (carrier-grade NAT)", "RFC 6598", False),
    ("127.0.0.0/8", "Loopback", "RFC 1122", False),
    ("169.254.0.0/16", "Link Local", "RFC 3927", False),
    ("172.16.0.0/12", "Private-Use", "RFC 1918", False),
    ("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890", False),
    ("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", False),
    ("192.0.0.8/32", "IPv4 dummy address", "RFC 7600", False),
    ("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", True),
    ("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", True),
    ("192.0.0.170/31", "NAT64/DNS64 Discovery", "RFC 7050", False),
    ("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", False),
    ("192.31.196.0/24", "AS112-v4", "RFC 7535", True),
    ("192.52.193.0/24", "AMT", "RFC 7450", True),
    ("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526", False),
    ("192.168.0.0/16", "Private-Use", "RFC 1918", False),
    ("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", True),
    ("198.18.0.0/15", "Benchmarking", "RFC 2544", False),
    ("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", False),
    ("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", False),
    ("224.0.0.0/4", "Multicast (IPv4 multicast address space registry)", "RFC 5771", False),
    ("240.0.0.0/4", "Reserved", "RFC 1112", False),
    ("255.255.255.255/32", "Limited Broadcast", "RFC 8190", False),
])


def _mapped(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]


def _sixtofour(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    return [ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)]


def _teredo(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    server, client = ip.teredo or (None, None)
    return [address for address in (server, client) if address is not None]


# https://www.iana.org/assignments/iana-ipv6-special-registry
_IPV6_TABLE: list[tuple[str, str, str, bool | None]] = [
    ("::1/128", "Loopback Address", "RFC 4291", False),
    ("::/128", "Unspecified Address", "RFC 4291", False),
    ("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", False),
    ("64:ff9b::/96", "IPv4-IPv6 Translation (NAT64)", "RFC 6052", True),
    ("64:ff9b:1::/48", "IPv4-IPv6 Translation (local-use NAT64)", "RFC 8215", False),
    ("100::/64", "Discard-Only Address Block", "RFC 6666", False),
    ("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", False),
    ("2001::/23", "IETF Protocol Assignments", "RFC 2928", False),
    ("2001::/32", "TEREDO", "RFC 4380", None),
    ("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", True),
    ("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", True),
    ("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", True),
    ("2001:2::/48", "Benchmarking", "RFC 5180", False),
    ("2001:3::/32", "AMT", "RFC 7450", True),
    ("2001:4:112::/48", "AS112-v6", "RFC 7535", True),
    ("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", False),
    ("2001:20::/28", "ORCHIDv2", "RFC 7343", True),
    ("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374", True),
    ("2001:db8::/32", "Documentation", "RFC 3849", False),
    ("2002::/16", "6to4", "RFC 3056", None),
    ("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", True),
    ("3fff::/20", "Documentation", "RFC 9637", False),
    ("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", False),
    ("fc00::/7", "Unique-Local", "RFC 4193", False),
    ("fe80::/10", "Link-Local Unicast", "RFC 4291", False),
]
_EMBEDDED = {"::ffff:0:0/96": _mapped, "64:ff9b::/96": _mapped, "2002::/16": _sixtofour,
             "2001::/32": _teredo}
IPV6 = [Row(row.prefix, row.name, row.rfc, row.reachable, _EMBEDDED.get(str(row.prefix)))
        for row in _rows(_IPV6_TABLE)]
GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")


def _row(ip: IPAddress) -> Row | None:
    """The most specific row containing ``ip``."""
    rows = IPV4 if isinstance(ip, ipaddress.IPv4Address) else IPV6
    matching = [row for row in rows if ip in row.prefix]
    return max(matching, key=lambda row: row.prefix.prefixlen) if matching else None


def refusal(address: str) -> str | None:
    """Why ``address`` (an IP literal, optionally with an IPv6 ``%zone``) is not globally
    reachable, or None when it is."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    row = _row(ip)
    if isinstance(ip, ipaddress.IPv6Address):
        if row is not None and row.embedded is not None:
            for inner in row.embedded(ip):
                why = refusal(str(inner))
                if why:
                    return f"{ip} ({row.name}, {row.rfc}) carries {inner}: {why}"
            if row.reachable is not False:
                return None
        if row is None and ip not in GLOBAL_UNICAST:
            return f"{ip} is outside 2000::/3, the global unicast IPv6 space"
    if row is None or row.reachable:
        return None
    return f"{ip} is in {row.prefix} ({row.name}, {row.rfc}), not globally reachable"
