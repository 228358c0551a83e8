"""Outbound URL safety (SSRF guard, DESIGN.md §5): https only, except http to loopback when the
``ALLOW_HTTP_LOOPBACK_CALLBACKS`` setting allows it (development and tests); the host must not
resolve to a private, loopback, link-local or reserved address unless it is that allowed loopback."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class UnsafeURL(ValueError):
    """The URL may not be called from our servers; the message says why."""


def _is_loopback_name(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_outbound_url(url: str, *, resolve: bool = True) -> None:
    """Raise UnsafeURL unless ``url`` is safe to call now. With ``resolve`` the host's addresses
    are checked (at delivery time, not only at registration, against DNS rebinding)."""
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
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise UnsafeURL(f"the host {parts.hostname!r} does not resolve") from exc
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if allow_loopback and addr.is_loopback:
            continue
        if parts.scheme == "http":
            raise UnsafeURL("plain http is allowed only to loopback addresses")
        if addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_reserved or addr.is_multicast or addr.is_unspecified:
            raise UnsafeURL(f"the host {parts.hostname!r} resolves to a non-public address")
