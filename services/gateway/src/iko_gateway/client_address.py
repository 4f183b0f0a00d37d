"""Which address a request comes from, for limits that count per source address.

The socket peer is the client, unless the peer is a trusted proxy (``IKO_GATEWAY_TRUSTED_PROXIES``): then the
client is the right-most address in ``X-Forwarded-For`` that is not itself a trusted proxy. Right-most, because
every proxy appends the address it received the request from, so only the entries our own proxies added can be
believed; whatever the client sent sits to their left and is never reached. An untrusted peer's
``X-Forwarded-For`` is ignored altogether: anyone can send one.

When the header cannot be read up to an untrusted entry (a malformed entry on the way), the peer is used: the
chain is broken there, and nothing left of it can be believed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

# Limits count an IPv6 client per /64: that is what one host or site is usually handed, so counting single
# addresses would let it pick a fresh one for every attempt.
IPV6_LIMIT_PREFIX = 64


class TrustedProxies:
    def __init__(self, networks: Iterable[IPNetwork] = ()) -> None:
        self._networks = tuple(networks)

    def __contains__(self, address: IPAddress) -> bool:
        return any(address.version == network.version and address in network for network in self._networks)


def parse_address(text: str) -> IPAddress | None:
    """An address as proxies write it: ``1.2.3.4``, ``1.2.3.4:5678``, ``2001:db8::1``, ``[2001:db8::1]:443``."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: TrustedProxies) -> IPAddress | None:
    """The client's address: ``peer`` is the socket peer's host, ``forwarded_for`` every X-Forwarded-For header
    in order. None when the peer is unknown (a Unix socket)."""
    peer_address = parse_address(peer) if peer else None
    if peer_address is None or peer_address not in trusted:
        return peer_address
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            return peer_address
        if address not in trusted:
            return address
    # Every hop is one of our proxies: the request began inside them, at the left-most.
    return parse_address(hops[0]) if hops else peer_address


def limit_key(address: IPAddress) -> str:
    """The name a per-address limit counts under: the address, or for IPv6 its /64 network."""
    if isinstance(address, IPv6Address):
        return str(IPv6Network((address, IPV6_LIMIT_PREFIX), strict=False))
    return str(address)
