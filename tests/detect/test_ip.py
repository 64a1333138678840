"""IP address detector: positives and near misses.

Test vectors: the documentation ranges of RFC 5737 (192.0.2.0/24,
198.51.100.0/24, 203.0.113.0/24) and RFC 3849 (2001:db8::/32), link-local
fe80::/10 with zone ids as RFC 4007 and RFC 6874 write them. Near misses are
version strings from user agents and OS builds, times and MAC addresses.
"""

from __future__ import annotations

import pytest

from redline.detect import IpAddressDetector

from ._util import found, scanned, wide

POSITIVES = [
    ("198.51.100.23", "198.51.100.23"),
    ("X-Forwarded-For: 203.0.113.77", "203.0.113.77"),
    ("ip=192.0.2.44&x=1", "192.0.2.44"),
    ("ip%3D192.0.2.44", "192.0.2.44"),
    ("http://192.0.2.1:8080/health", "192.0.2.1"),
    ("client 10.0.3.4.", "10.0.3.4"),
    ("8.8.8.8", "8.8.8.8"),
    ("2001:db8::1", "2001:db8::1"),
    (
        "2001:0db8:0000:0000:0000:ff00:0042:8329",
        "2001:0db8:0000:0000:0000:ff00:0042:8329",
    ),
    ("[2001:db8::1]:443", "2001:db8::1"),
    ("http://[2001:db8:85a3::8a2e:370:7334]:8080/", "2001:db8:85a3::8a2e:370:7334"),
    ("fe80::1%eth0", "fe80::1%eth0"),
    ("http://[fe80::1%25en0]/", "fe80::1%25en0"),
    ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
    ("from 2001:db8::7:", "2001:db8::7"),
    (wide("203.0.113.77"), wide("203.0.113.77")),
]

NEAR_MISSES = [
    "10.0.19045.1",  # Windows build
    "1.2.83.0.1",  # a quad inside a longer dotted run
    "v1.2.3.4",
    "Chrome/120.0.0.0 Safari/537.36",
    "version 2.0.10",
    "256.1.1.1",
    "01.2.3.4",  # leading zeros are not accepted by ipaddress
    "127.0.0.1",  # loopback identifies nobody
    "0.0.0.0",
    "::1",
    "12:00:00",
    "2024-06-10T12:00:00.000Z",
    "Wed Jun 12 20:17:00 UTC 2024",
    "00:1a:2b:3c:4d:5e",  # a MAC address
    "Foo::Bar",
    "dead::beef",
    "0",  # Mixpanel's "$ip": "0" instruction (BH-20)
]


@pytest.mark.parametrize(("text", "address"), POSITIVES)
def test_ip_address_is_found(text: str, address: str) -> None:
    assert found(IpAddressDetector(), text) == [address]


@pytest.mark.parametrize(("text", "address"), POSITIVES)
def test_ip_address_is_found_through_the_scanner(text: str, address: str) -> None:
    assert scanned(IpAddressDetector(), text) == [address]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_version_or_time_is_not_an_ip_address(text: str) -> None:
    assert found(IpAddressDetector(), text) == []


def test_every_address_in_a_forwarding_chain_is_found() -> None:
    text = "203.0.113.77, 10.0.3.4, 2001:db8::2"
    assert found(IpAddressDetector(), text) == [
        "203.0.113.77",
        "10.0.3.4",
        "2001:db8::2",
    ]


def test_percent_escape_after_an_address_is_not_a_zone() -> None:
    # only link-local and multicast addresses carry zone ids
    assert found(IpAddressDetector(), "2001:db8::1%2Fpath") == ["2001:db8::1"]


def test_global_address_scores_higher_than_a_private_one() -> None:
    public, private = IpAddressDetector().find("8.8.8.8 10.0.0.1")
    assert public.score > private.score
    assert private.reason == "ipv4, not global"
