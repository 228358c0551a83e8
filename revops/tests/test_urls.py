import ipaddress

import pytest

from revops.lib.urls import UnsafeURL, check_outbound_url, unwrap_address


@pytest.mark.parametrize(
    "addr, expected",
    [("::ffff:127.0.0.1", "127.0.0.1"), ("64:ff9b::7f00:1", "127.0.0.1"), ("2002:7f00:1::", "127.0.0.1"), ("2606:4700::1111", "2606:4700::1111")],
)
def test_unwrap_address(addr, expected):
    assert str(unwrap_address(ipaddress.ip_address(addr))) == expected


@pytest.mark.parametrize("url", ["https://100.64.0.1/x", "https://10.0.0.1/", "https://169.254.169.254/latest", "https://[::1]/", "https://[64:ff9b::7f00:1]/"])
def test_non_public_addresses_are_refused(url, settings):
    settings.ALLOW_HTTP_LOOPBACK_CALLBACKS = False
    with pytest.raises(UnsafeURL):
        check_outbound_url(url)


@pytest.mark.parametrize("url", ["ftp://example.com/", "https://user:pw@example.com/", "https://example.com:99999/"])
def test_malformed_urls_are_refused(url, settings):
    with pytest.raises(UnsafeURL):
        check_outbound_url(url)
