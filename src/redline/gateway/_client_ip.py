"""The client's address: from the connection, or from a header set by a
trusted load balancer."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class ClientAddress:
    def __init__(self, header: str | None, trusted: Sequence[str]) -> None:
        self._header = header.lower() if header else None
        self._trusted: tuple[Network, ...] = tuple(
            ipaddress.ip_network(net, strict=False) for net in trusted
        )

    def _is_trusted(self, address: str) -> bool:
        ip = _parse(address)
        if ip is None:
            return False
        return any(ip in net for net in self._trusted)

    def resolve(self, peer: str | None, headers: Mapping[str, str]) -> str | None:
        """Walk the forwarding chain from the right, skipping trusted
        proxies; the first address not trusted is the client."""
        if peer is None or self._header is None or not self._is_trusted(peer):
            return peer
        value = _joined(headers, self._header)
        if not value:
            return peer
        hops = [hop.strip() for hop in value.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                return hop if _parse(hop) is not None else peer
        return hops[0] if hops and _parse(hops[0]) is not None else peer


def _joined(headers: Mapping[str, str], name: str) -> str:
    # A header sent on several lines is one comma-separated list (RFC 9110
    # section 5.3). Reading only the first line would let a client put its
    # own line before the one the proxy appends, and be believed.
    getlist = getattr(headers, "getlist", None)
    if getlist is not None:
        return ",".join(getlist(name))
    return headers.get(name) or ""


def _parse(address: str) -> Address | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    # behind a dual-stack socket an IPv4 peer shows as ::ffff:a.b.c.d; the
    # trusted networks are usually written as IPv4
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip
