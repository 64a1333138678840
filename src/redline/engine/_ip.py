"""Coarsening IP addresses: keep a network prefix, so vendors can still
place a visitor in a region but not identify a household."""

from __future__ import annotations

import ipaddress
from functools import lru_cache


# the same few client addresses come with every event of a request, and
# parsing with ipaddress costs microseconds
@lru_cache(maxsize=8192)
def truncate(value: str, ipv4_prefix: int, ipv6_prefix: int) -> str | None:
    """The network address of ``value`` at the given prefix, or None when
    ``value`` is not an IP address. IPv4-mapped IPv6 addresses are treated
    as IPv4."""
    text = value.strip()
    if "%" in text:  # a zone id says nothing a vendor needs
        text = text.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address):
        return str(
            ipaddress.IPv4Network((address, ipv4_prefix), strict=False).network_address
        )
    return str(
        ipaddress.IPv6Network((address, ipv6_prefix), strict=False).network_address
    )
