"""Outbound URL safety (SSRF guard, DESIGN.md §5): https only, except http to loopback when the
``ALLOW_HTTP_LOOPBACK_CALLBACKS`` setting allows it (development and tests); the host must not
resolve to a private, loopback, link-local or reserved address unless it is that allowed loopback."""

from __future__ import annotations

import ipaddress
import socket
from typing import Sequence
from urllib.parse import urlsplit

from django.conf import settings


class UnsafeURL(ValueError):
    """The URL may not be called from our servers; the message says why."""


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def unwrap_address(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped ``::ffff:a.b.c.d``, NAT64
    ``64:ff9b::a.b.c.d``, 6to4 ``2002:AABB:CCDD::``), else the address itself, so checks apply
    to where traffic really goes."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        if addr in _NAT64:
            return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        if addr.sixtofour is not None:
            return addr.sixtofour
    return addr


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
    registration, against DNS rebinding): each must be public (``is_global`` after unwrapping
    IPv4-mapped, NAT64 and 6to4 forms) or inside one of the tenant's ``allowlist`` networks
    (``ipaddress`` networks); callers should connect to a returned address. Without
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
        addr = unwrap_address(ipaddress.ip_address(info[4][0].split("%", 1)[0]))
        if parts.scheme == "http" and not addr.is_loopback:
            raise UnsafeURL("plain http is allowed only to loopback addresses")
        # private, loopback, link-local, shared (100.64/10), reserved... unless allowlisted
        if parts.scheme == "https" and not addr.is_global and not any(addr in net for net in allowlist):
            raise UnsafeURL(f"the host {parts.hostname!r} resolves to a non-public address ({addr})")
        addresses.append(str(addr))
    if not addresses:
        raise UnsafeURL(f"the host {parts.hostname!r} does not resolve")
    return addresses
