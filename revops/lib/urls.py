"""Outbound URL safety (SSRF guard, DESIGN.md §5): https only, except http to loopback when the
``ALLOW_HTTP_LOOPBACK_CALLBACKS`` setting allows it (development and tests); every address the
host resolves to must be public unless it is that allowed loopback or inside a tenant allowlist.

"Public" is an allow list, not a deny list (issue 13, finding 4): an address is public only when,
after unwrapping every IPv4 embedding an IPv6 address can carry, it is global unicast. Anything
this module does not clearly recognise as global unicast is refused.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Sequence
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURL(ValueError):
    """The URL may not be called from our servers; the message says why."""


def _nets(*cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# IPv6 prefixes that carry an IPv4 address (the address traffic really goes to).
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d (RFC 4291 2.5.5.1), minus :: and ::1
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT ::ffff:0:a.b.c.d (RFC 2765)
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052
_NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: local networks only, never public
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")

#: IPv4 networks refused although Python's ``is_global`` may call them global (it varies by
#: Python version): IETF protocol assignments, the deprecated 6to4 relay anycast, multicast,
#: and everything ``is_private`` / ``is_reserved`` already covers, spelled out for older Pythons.
_NON_PUBLIC_V4 = _nets(
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
)
#: IPv6 networks inside 2000::/3 that are not ordinary global unicast: IETF protocol assignments
#: (2001::/23, Teredo is unwrapped before this check), documentation (2001:db8::/32, 3fff::/20),
#: 6to4 (2002::/16, unwrapped before this check).
_NON_PUBLIC_V6 = _nets("2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20")


def unwrap_address(addr: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address stands for, else the address itself.

    Unwraps IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d`` (except ``::`` and
    ``::1``), IPv4-translated ``::ffff:0:a.b.c.d``, NAT64 ``64:ff9b::a.b.c.d``, 6to4
    ``2002:AABB:CCDD::`` and Teredo ``2001:0::/32`` (the client address, where traffic goes), so
    checks apply to where traffic really goes. NAT64 local-use ``64:ff9b:1::/48`` is left as is
    (its embedding is operator-defined; :func:`is_public_address` refuses it outright).
    """
    if not isinstance(addr, ipaddress.IPv6Address):
        return addr
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    low32 = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    if addr in _IPV4_COMPATIBLE and int(addr) > 1:
        return low32
    if addr in _IPV4_TRANSLATED or addr in _NAT64_WELL_KNOWN:
        return low32
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]
    return addr


def is_public_address(addr: IPAddress) -> bool:
    """True only for a global unicast address, judged after :func:`unwrap_address`.

    IPv4: ``is_global`` and outside every network of :data:`_NON_PUBLIC_V4` (private, loopback,
    link-local, shared 100.64/10, documentation, benchmarking, protocol assignments, multicast,
    reserved, broadcast). IPv6: inside 2000::/3, ``is_global`` and outside
    :data:`_NON_PUBLIC_V6`; a Teredo address also needs its server address to be public; NAT64
    local-use 64:ff9b:1::/48 is never public. Anything else (unspecified, loopback, ULA,
    link-local, multicast, the rest of ::/8 and of 64:ff9b::/16...) is not public.
    """
    if isinstance(addr, ipaddress.IPv6Address):
        if addr in _NAT64_LOCAL_USE:
            return False
        if addr.teredo is not None and not is_public_address(addr.teredo[0]):
            return False
    target = unwrap_address(addr)
    if isinstance(target, ipaddress.IPv4Address):
        return target.is_global and not any(target in net for net in _NON_PUBLIC_V4)
    return (
        target in _GLOBAL_UNICAST_V6
        and target.is_global
        and not target.is_multicast
        and not any(target in net for net in _NON_PUBLIC_V6)
    )


def _is_loopback_name(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_outbound_url(url: str, *, resolve: bool = True, allowlist: Sequence = ()) -> list[str]:
    """Raise UnsafeURL unless ``url`` is safe to call now; return the addresses it resolves to.

    With ``resolve`` every address of the host is checked (at delivery time, not only at
    registration, against DNS rebinding): each must be public (:func:`is_public_address`) or,
    as given or unwrapped, inside one of the tenant's ``allowlist`` networks (``ipaddress``
    networks); callers should connect to a returned address (unwrapped, as a string). Without
    ``resolve`` only the URL's form is checked and ``[]`` is returned.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeURL("the URL must be an absolute https:// URL")
    if parts.username or parts.password:
        raise UnsafeURL("credentials in URLs are not allowed")
    allow_loopback = parts.scheme == "http" and settings.ALLOW_HTTP_LOOPBACK_CALLBACKS
    if parts.scheme == "http" and not allow_loopback:
        raise UnsafeURL("plain http is not allowed; use https")
    if allow_loopback and not _is_loopback_name(parts.hostname):
        raise UnsafeURL("plain http is allowed only to loopback addresses")
    if not resolve:
        return []
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeURL("the URL has an invalid port") from exc
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeURL(f"the host {parts.hostname!r} does not resolve") from exc
    addresses: list[str] = []
    for info in infos:
        raw = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        addr = unwrap_address(raw)
        if parts.scheme == "http" and not addr.is_loopback:
            raise UnsafeURL("plain http is allowed only to loopback addresses")
        if (
            parts.scheme == "https"
            and not is_public_address(raw)
            and not any(addr in net or raw in net for net in allowlist)
        ):
            raise UnsafeURL(f"the host {parts.hostname!r} resolves to a non-public address ({addr})")
        addresses.append(str(addr))
    if not addresses:
        raise UnsafeURL(f"the host {parts.hostname!r} does not resolve")
    return addresses
