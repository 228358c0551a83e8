"""The SSRF classifier (issue 13, finding 4): an address is public only when it is global unicast
after unwrapping every IPv4 embedding; everything else is refused. Table-driven over more than 40
address forms, plus properties (hypothesis) over every IPv4 address and its IPv6 embeddings."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from revops.lib.urls import UnsafeURL, check_outbound_url, is_public_address, unwrap_address

# (address, public?, what it is)
ADDRESSES = [
    # --- plain IPv4 -----------------------------------------------------------------------------
    ("8.8.8.8", True, "public IPv4"),
    ("1.1.1.1", True, "public IPv4"),
    ("93.184.216.34", True, "public IPv4"),
    ("0.0.0.0", False, "unspecified"),
    ("0.1.2.3", False, "this network 0/8"),
    ("10.0.0.1", False, "private 10/8"),
    ("172.16.5.4", False, "private 172.16/12"),
    ("192.168.1.1", False, "private 192.168/16"),
    ("127.0.0.1", False, "loopback"),
    ("127.255.255.254", False, "loopback /8"),
    ("169.254.169.254", False, "link-local (cloud metadata)"),
    ("100.64.0.1", False, "shared address space (CGNAT)"),
    ("192.0.0.9", False, "IETF protocol assignment (is_global says True)"),
    ("192.0.2.1", False, "documentation TEST-NET-1"),
    ("198.51.100.7", False, "documentation TEST-NET-2"),
    ("203.0.113.9", False, "documentation TEST-NET-3"),
    ("198.18.0.1", False, "benchmarking"),
    ("192.88.99.1", False, "6to4 relay anycast (deprecated)"),
    ("224.0.0.1", False, "multicast (is_global says True)"),
    ("239.255.255.250", False, "multicast SSDP"),
    ("240.0.0.1", False, "reserved"),
    ("255.255.255.255", False, "broadcast"),
    # --- plain IPv6 -----------------------------------------------------------------------------
    ("2606:4700:4700::1111", True, "public IPv6"),
    ("2001:4860:4860::8888", True, "public IPv6"),
    ("::", False, "unspecified"),
    ("::1", False, "loopback"),
    ("fe80::1", False, "link-local"),
    ("fc00::1", False, "unique local"),
    ("fd12:3456:789a::1", False, "unique local"),
    ("ff02::1", False, "multicast"),
    ("2001:db8::1", False, "documentation"),
    ("3fff::1", False, "documentation 3fff::/20 (RFC 9637)"),
    ("2001:2::1", False, "benchmarking 2001:2::/48"),
    ("2001:10::1", False, "ORCHID"),
    ("100::1", False, "discard-only 100::/64"),
    ("5f00::1", False, "SRv6 SIDs, outside 2000::/3"),
    ("4000::1", False, "outside 2000::/3 (unassigned)"),
    # --- IPv4-mapped ::ffff:a.b.c.d ---------------------------------------------------------------
    ("::ffff:127.0.0.1", False, "IPv4-mapped loopback"),
    ("::ffff:169.254.169.254", False, "IPv4-mapped metadata"),
    ("::ffff:10.1.2.3", False, "IPv4-mapped private"),
    ("::ffff:8.8.8.8", True, "IPv4-mapped public"),
    # --- IPv4-compatible ::a.b.c.d (the finding) --------------------------------------------------
    ("::127.0.0.1", False, "IPv4-compatible loopback"),
    ("::169.254.169.254", False, "IPv4-compatible metadata"),
    ("::10.0.0.1", False, "IPv4-compatible private"),
    ("::192.168.0.1", False, "IPv4-compatible private"),
    ("::100.64.0.1", False, "IPv4-compatible shared"),
    ("::8.8.8.8", True, "IPv4-compatible public"),
    # --- IPv4-translated ::ffff:0:a.b.c.d (the finding) -------------------------------------------
    ("::ffff:0:127.0.0.1", False, "IPv4-translated loopback"),
    ("::ffff:0:169.254.169.254", False, "IPv4-translated metadata"),
    ("::ffff:0:8.8.8.8", True, "IPv4-translated public"),
    # --- NAT64 ----------------------------------------------------------------------------------
    ("64:ff9b::127.0.0.1", False, "NAT64 well-known, loopback"),
    ("64:ff9b::a9fe:a9fe", False, "NAT64 well-known, metadata"),
    ("64:ff9b::8.8.8.8", True, "NAT64 well-known, public"),
    ("64:ff9b:1::a9fe:a9fe", False, "NAT64 local-use (the finding)"),
    ("64:ff9b:1::808:808", False, "NAT64 local-use is never public"),
    ("64:ff9b:1:ffff::1", False, "NAT64 local-use"),
    ("64:ff9b:2::1", False, "outside 2000::/3, not an embedding"),
    # --- 6to4 2002::/16 -----------------------------------------------------------------------------
    ("2002:7f00:1::", False, "6to4 of loopback"),
    ("2002:a9fe:a9fe::1", False, "6to4 of metadata"),
    ("2002:0a00:0001::1", False, "6to4 of private"),
    ("2002:808:808::1", True, "6to4 of public"),
    # --- Teredo 2001::/32 (server, client XOR ffffffff) ----------------------------------------------
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", True, "Teredo, public server, client 8.8.8.8"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", False, "Teredo, client 127.0.0.1"),
    ("2001:0:4136:e378:8000:63bf:5601:5601", False, "Teredo, client 169.254.169.254"),
    ("2001:0:0a00:0001:8000:63bf:f7f7:f7f7", False, "Teredo, private server"),
    ("2001::1", False, "Teredo, client 255.255.255.254"),
]


def test_the_table_is_big_enough() -> None:
    assert len(ADDRESSES) >= 40
    assert len({a for a, _, _ in ADDRESSES}) == len(ADDRESSES)


@pytest.mark.parametrize(("address", "public", "what"), ADDRESSES, ids=[a for a, _, _ in ADDRESSES])
def test_classification(address: str, public: bool, what: str) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public, what


@pytest.mark.parametrize(
    ("address", "target"),
    [
        ("::127.0.0.1", "127.0.0.1"),
        ("::169.254.169.254", "169.254.169.254"),
        ("::ffff:0:a9fe:a9fe", "169.254.169.254"),
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("64:ff9b::a00:1", "10.0.0.1"),
        ("2002:a00:1::", "10.0.0.1"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),
        ("::1", "::1"),  # loopback stays loopback (http to [::1] in development)
        ("::", "::"),
        ("64:ff9b:1::a9fe:a9fe", "64:ff9b:1::a9fe:a9fe"),  # local-use: refused as is
        ("2606:4700::1111", "2606:4700::1111"),
    ],
)
def test_unwrap_reaches_the_embedded_address(address: str, target: str) -> None:
    assert str(unwrap_address(ipaddress.ip_address(address))) == target


@pytest.mark.parametrize(
    "url",
    [
        "https://[::127.0.0.1]/cb",
        "https://[::169.254.169.254]/latest/meta-data",
        "https://[::ffff:0:a9fe:a9fe]/",
        "https://[::ffff:0:127.0.0.1]:8443/cb",
        "https://[64:ff9b:1::a9fe:a9fe]/",
        "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
        "https://[fd00::1]/",
        "https://224.0.0.1/",
    ],
)
def test_issue_urls_are_refused_at_delivery(url: str, settings) -> None:
    settings.ALLOW_HTTP_LOOPBACK_CALLBACKS = False
    with pytest.raises(UnsafeURL, match="non-public address"):
        check_outbound_url(url)


def test_public_literals_are_accepted_and_the_unwrapped_address_returned(settings) -> None:
    settings.ALLOW_HTTP_LOOPBACK_CALLBACKS = False
    assert check_outbound_url("https://[64:ff9b::808:808]/cb") == ["8.8.8.8"]
    assert check_outbound_url("https://[2606:4700:4700::1111]/cb") == ["2606:4700:4700::1111"]


def test_tenant_allowlist_still_admits_its_networks(settings) -> None:
    settings.ALLOW_HTTP_LOOPBACK_CALLBACKS = False
    nets = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("64:ff9b:1::/48")]
    assert check_outbound_url("https://[::10.1.2.3]/cb", allowlist=nets) == ["10.1.2.3"]
    assert check_outbound_url("https://[64:ff9b:1::1]/cb", allowlist=nets) == ["64:ff9b:1::1"]


def test_http_loopback_in_development_still_works(settings) -> None:
    settings.ALLOW_HTTP_LOOPBACK_CALLBACKS = True
    assert check_outbound_url("http://[::1]:8000/cb") == ["::1"]
    assert check_outbound_url("http://127.0.0.1:8000/cb") == ["127.0.0.1"]


# --- properties ---------------------------------------------------------------------------------

ipv4 = st.integers(min_value=0, max_value=2**32 - 1).map(ipaddress.IPv4Address)
ipv6 = st.integers(min_value=0, max_value=2**128 - 1).map(ipaddress.IPv6Address)


def _embeddings(v4: ipaddress.IPv4Address) -> list[ipaddress.IPv6Address]:
    n = int(v4)
    forms = [
        ipaddress.IPv6Address((0xFFFF << 32) | n),  # ::ffff:a.b.c.d
        ipaddress.IPv6Address((0xFFFF << 48) | n),  # ::ffff:0:a.b.c.d
        ipaddress.IPv6Address((0x0064FF9B << 96) | n),  # 64:ff9b::a.b.c.d
        ipaddress.IPv6Address((0x2002 << 112) | (n << 80)),  # 2002:aabb:ccdd::
    ]
    if n > 1:  # :: and ::1 are not IPv4-compatible addresses
        forms.append(ipaddress.IPv6Address(n))  # ::a.b.c.d
    return forms


@hsettings(max_examples=300, deadline=None)
@given(ipv4)
def test_every_embedding_is_classified_like_its_ipv4(v4: ipaddress.IPv4Address) -> None:
    expected = is_public_address(v4)
    for form in _embeddings(v4):
        assert unwrap_address(form) == v4, form
        assert is_public_address(form) is expected, form


@hsettings(max_examples=300, deadline=None)
@given(ipv4)
def test_public_ipv4_is_global_and_not_special(v4: ipaddress.IPv4Address) -> None:
    if is_public_address(v4):
        assert v4.is_global and not v4.is_multicast and not v4.is_private and not v4.is_reserved


@hsettings(max_examples=300, deadline=None)
@given(ipv6)
def test_public_ipv6_is_global_unicast_or_a_public_embedding(v6: ipaddress.IPv6Address) -> None:
    if not is_public_address(v6):
        return
    target = unwrap_address(v6)
    if target is v6 or isinstance(target, ipaddress.IPv6Address):
        assert ipaddress.ip_network("2000::/3").supernet_of(ipaddress.ip_network(f"{target}/128"))
        assert target.is_global and not target.is_private
    else:
        assert is_public_address(target)


@hsettings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**80 - 1))
def test_nat64_local_use_is_never_public(suffix: int) -> None:
    assert not is_public_address(ipaddress.IPv6Address((0x0064FF9B0001 << 80) | suffix))
