"""The client's address: from the connection, or from a header set by a
trusted load balancer."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientAddress:
    def __init__(self, header: str | None, trusted: Sequence[str]) -> None:
        self._header = header.lower() if header else None
        self._trusted: tuple[Network, ...] = tuple(
            ipaddress.ip_network(net, strict=False) for net in trusted
        )

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self._trusted)

    def resolve(self, peer: str | None, headers: Mapping[str, str]) -> str | None:
        """Walk the forwarding chain from the right, skipping trusted
        proxies; the first address not trusted is the client."""
        if peer is None or self._header is None or not self._is_trusted(peer):
            return peer
        value = headers.get(self._header)
        if not value:
            return peer
        hops = [hop.strip() for hop in value.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                return hop if _valid(hop) else peer
        return hops[0] if hops and _valid(hops[0]) else peer


def _valid(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True
